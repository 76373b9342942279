/**
 * The trace in Tenet's text format (gaasedelen/tenet, tracers/README.md),
 * for loading into the Tenet trace explorer. Each line is one step:
 * comma-separated `REG=0x…` deltas, the program counter last among the
 * registers, then `mr=ADDR:HEX` / `mw=ADDR:HEX` with the bytes in memory
 * order. As Tenet's own tracers do, line k carries the state *before*
 * instruction k: the registers changed and the memory touched by
 * instruction k-1, and pc = instruction k. The first line holds every
 * register of the start state.
 *
 * Registers are Tenet's, in the order of its arch definitions
 * (trace/arch/x86.py, amd64.py): x86 EAX EBX ECX EDX EBP ESP ESI EDI EIP;
 * x64 RAX RBX RCX RDX RBP RSP RSI RDI R8–R15 RIP. Tenet defines no arm64
 * arch; faultline writes X0–X30, SP, PC (33 registers, one over Tenet's
 * limit of 32, so a Tenet arm64 definition would have to drop one). Flags
 * and segment registers are not written: Tenet rejects names it does not know.
 *
 * @example
 * ```ts
 * writeFileSync('trace.tenet.log', [...tenetLines(trace)].join('\n') + '\n');
 * ```
 */
import type { Arch } from '../../emu/registers.ts';
import { eventsOf, instructionsOf, type TraceContents } from '../instructions.ts';
import type { MemoryAccess, TraceEvent, TraceInstruction } from '../model.ts';

/** Tenet's general registers for `arch`, in its order, without the program counter. */
export function tenetRegisters(arch: Arch): readonly string[] {
  switch (arch) {
    case 'x86': return ['EAX', 'EBX', 'ECX', 'EDX', 'EBP', 'ESP', 'ESI', 'EDI'];
    case 'x64': return ['RAX', 'RBX', 'RCX', 'RDX', 'RBP', 'RSP', 'RSI', 'RDI', 'R8', 'R9', 'R10', 'R11', 'R12', 'R13', 'R14', 'R15'];
    case 'arm64': return [...Array.from({ length: 31 }, (_, i) => `X${i}`), 'SP'];
  }
}

/** Tenet's name for the program counter of `arch`. */
export function tenetPc(arch: Arch): string {
  return arch === 'x86' ? 'EIP' : arch === 'x64' ? 'RIP' : 'PC';
}

function hexValue(value: bigint): string {
  return `0x${value.toString(16)}`;
}

/** The bytes of an access in memory order (little-endian value), as many as the value holds. */
function memoryHex(access: MemoryAccess): string {
  const n = Math.min(access.size, 8);
  let out = '';
  for (let i = 0; i < n; i++) out += Number((access.value >> BigInt(8 * i)) & 0xffn).toString(16).padStart(2, '0');
  return out;
}

function memoryEntries(insn: TraceInstruction): string[] {
  return insn.memory.map((m) => `${m.kind === 'write' ? 'mw' : 'mr'}=${hexValue(m.address)}:${memoryHex(m)}`);
}

/** `NAME=0x…` for the Tenet registers among `values`, in Tenet's order. */
function registerEntries(order: readonly string[], values: ReadonlyMap<string, bigint>): string[] {
  const out: string[] = [];
  for (const name of order) {
    const value = values.get(name.toLowerCase());
    if (value !== undefined) out.push(`${name}=${hexValue(value)}`);
  }
  return out;
}

function changedOf(insn: TraceInstruction): Map<string, bigint> {
  return new Map(insn.changed.map(([name, value]) => [name as string, value]));
}

/** The pc after the last instruction: where a `stop` event says the run stopped, else the next address. */
function pcAfter(last: TraceInstruction, events: readonly TraceEvent[]): bigint {
  const stop = [...events].reverse().find((e) => e.kind === 'stop' && e.index >= last.index);
  return stop && stop.kind === 'stop' ? stop.pc : last.pc + BigInt(last.size);
}

/** The lines of the Tenet export, without line ends. */
export function* tenetLines(trace: TraceContents): Generator<string> {
  const { arch, startRegisters } = trace.header;
  const start = new Map(Object.entries(startRegisters).map(([name, value]) => [name, value as bigint]));
  yield* tenetLinesOf(arch, start, instructionsOf(trace.header, trace.batches, trace.events, trace.range), (last) => pcAfter(last, eventsOf(trace)));
}

/**
 * The Tenet lines of any run of instructions: `start` holds the registers
 * before the first (lower-case names), `endPc` says where the last one left
 * the pc. For traces that do not come from a trace file (explain's replay).
 */
export function* tenetLinesOf(arch: Arch, start: ReadonlyMap<string, bigint>, instructions: Iterable<TraceInstruction>, endPc: (last: TraceInstruction) => bigint): Generator<string> {
  const order = tenetRegisters(arch);
  const pc = tenetPc(arch);
  let previous: TraceInstruction | undefined;
  for (const insn of instructions) {
    const registers = previous ? registerEntries(order, changedOf(previous)) : registerEntries(order, start);
    const memory = previous ? memoryEntries(previous) : [];
    yield [...registers, `${pc}=${hexValue(insn.pc)}`, ...memory].join(',');
    previous = insn;
  }
  if (!previous) return;
  // The last instruction's effects need a line of their own, and Tenet needs a pc on every line.
  const registers = registerEntries(order, changedOf(previous));
  const memory = memoryEntries(previous);
  if (registers.length || memory.length) {
    yield [...registers, `${pc}=${hexValue(endPc(previous))}`, ...memory].join(',');
  }
}
