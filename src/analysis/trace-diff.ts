/**
 * The first divergence between two traces of the same run (a CPU recording
 * and an emulator's replay, two emulators, two versions of one): their
 * instructions are walked side by side, each trace's registers rebuilt from
 * its start and its changes, and after every instruction the registers
 * either trace changed are compared, as are the memory accesses when both
 * traces have them. Only registers both traces know are compared; flags an
 * instruction leaves architecturally undefined are ignored until an
 * instruction sets them again (and taken from A, so one undefined flag is
 * not reported later).
 *
 * Aligned by index (instruction i of A against instruction i of B), or by pc:
 * the trace that starts later is met where the other first reaches its start
 * pc, and the registers there are compared first.
 *
 * @example
 * ```ts
 * const result = diffTraces(openAnyTrace('cpu.fltrace'), openAnyTrace('unicorn.fltrace'), { align: 'index', context: 5, decode });
 * if (result.divergence) console.log(result.divergence.indexA, result.divergence.registers);
 * ```
 */
import type { Arch } from '../../emu/registers.ts';
import type { MemoryAccess, TraceInstruction } from '../../traces/model.ts';
import { PC_NAMES, type AnyTrace } from '../../traces/import/open.ts';
import { definedFlags, undefinedFlags } from './undefined-flags.ts';
import { InputError } from '../errors.ts';

export type DiffAlign = 'index' | 'pc';

const SELECTORS = new Set(['cs', 'ss', 'ds', 'es', 'fs', 'gs']);

export interface DiffOptions {
  align: DiffAlign;
  /** Instructions before the divergence to keep (A's). */
  context: number;
  /** The mnemonic of an instruction (WinDbg's), for the undefined-flags table; undefined when it does not decode. */
  mnemonic?: (bytes: Uint8Array, address: bigint) => string | undefined;
}

export interface RegisterDifference {
  name: string;
  a: bigint;
  b: bigint;
}

export interface Divergence {
  /**
   * `start`: the registers before the first compared instruction differ;
   * `pc`: the traces went to different instructions (the one before sent them apart);
   * `register`: an instruction left different register values; `memory`: it accessed memory differently.
   */
  kind: 'start' | 'pc' | 'register' | 'memory';
  /** Position in each trace (0-based instruction index) of the instruction at fault, or of the first compared one for `start`. */
  indexA: number;
  indexB: number;
  /** A's instruction there (absent for `start` when A has none). */
  instruction?: TraceInstruction;
  pcB?: bigint;
  registers: RegisterDifference[];
  memory?: { a: MemoryAccess[]; b: MemoryAccess[] };
  /** A's instructions before it, oldest first. */
  before: TraceInstruction[];
}

export interface DiffResult {
  arch: Arch;
  /** Instructions compared (pairs). */
  compared: number;
  /** Where the comparison began in each trace (non-zero only with `align: 'pc'`). */
  offsetA: number;
  offsetB: number;
  /** Instructions left in each trace after the last compared pair (one trace ended first). */
  remainingA: number;
  remainingB: number;
  /** Instructions after which the traces' flags differed only in flags left architecturally undefined. */
  ignoredFlags: number;
  /** Registers compared (known to both traces). */
  commonRegisters: string[];
  divergence?: Divergence;
}

function count(iterator: Iterator<TraceInstruction>): number {
  let n = 0;
  while (!iterator.next().done) n++;
  return n;
}

class Ring {
  private readonly items: TraceInstruction[] = [];
  constructor(private readonly size: number) {}
  push(insn: TraceInstruction): void {
    if (this.size === 0) return;
    if (this.items.length === this.size) this.items.shift();
    this.items.push(insn);
  }
  list(): TraceInstruction[] {
    return [...this.items];
  }
}

/** The registers `insn` changed, then those the kernel set after it without an instruction (entering a signal handler). */
function changesOf(insn: TraceInstruction): Array<[string, bigint]> {
  const out: Array<[string, bigint]> = [...insn.changed];
  for (const event of insn.events) if (event.kind === 'signal' && event.registers) out.push(...event.registers);
  return out;
}

function apply(state: Map<string, bigint>, insn: TraceInstruction, pcName: string): void {
  for (const [name, value] of changesOf(insn)) state.set(name, value);
  state.set(pcName, insn.pc);
}

function sameMemory(a: readonly MemoryAccess[], b: readonly MemoryAccess[]): boolean {
  return a.length === b.length && a.every((m, i) => {
    const o = b[i]!;
    const bits = BigInt(Math.min(m.size, 8) * 8);
    const mask = (1n << bits) - 1n;
    return m.kind === o.kind && m.address === o.address && m.size === o.size && (m.value & mask) === (o.value & mask);
  });
}

/** Compares two traces; see the module comment. */
export function diffTraces(a: AnyTrace, b: AnyTrace, options: DiffOptions): DiffResult {
  if (a.arch !== b.arch) throw new InputError(`${a.path} is ${a.arch} and ${b.path} is ${b.arch}: they cannot be traces of one run`);
  const arch = a.arch;
  const pcName = PC_NAMES[arch];
  const stateA = new Map(a.start);
  const stateB = new Map(b.start);
  const ring = new Ring(options.context);
  let itA = a.instructions()[Symbol.iterator]();
  let itB = b.instructions()[Symbol.iterator]();
  let nextA = itA.next();
  let nextB = itB.next();
  let offsetA = 0;
  let offsetB = 0;

  if (options.align === 'pc' && !nextA.done && !nextB.done && nextA.value.pc !== nextB.value.pc) {
    // The trace that starts later is met where the other first reaches its first pc.
    const target = nextB.value.pc;
    while (!nextA.done && nextA.value.pc !== target) {
      apply(stateA, nextA.value, pcName);
      ring.push(nextA.value);
      nextA = itA.next();
      offsetA++;
    }
    if (nextA.done) {
      stateA.clear();
      for (const [k, v] of a.start) stateA.set(k, v);
      itA = a.instructions()[Symbol.iterator]();
      nextA = itA.next();
      offsetA = 0;
      const targetA = nextA.value!.pc;
      while (!nextB.done && nextB.value.pc !== targetA) {
        apply(stateB, nextB.value, pcName);
        nextB = itB.next();
        offsetB++;
      }
      if (nextB.done) throw new InputError(`${a.path} and ${b.path} share no starting pc: neither reaches the other's first instruction`);
    }
  }

  const known = (name: string) => stateA.has(name) && stateB.has(name);
  const commonRegisters = new Set<string>([...stateA.keys()].filter((name) => stateB.has(name) && name !== pcName));
  let compared = 0;
  let looseFlags = 0n;
  let ignoredFlags = 0;
  // Segment selectors are left out at the start: an emulator started from a dump does not load them (src/analysis/machine.ts).
  const startDifferences = [...commonRegisters].filter((name) => !SELECTORS.has(name) && stateA.get(name) !== stateB.get(name)).map((name) => ({ name, a: stateA.get(name)!, b: stateB.get(name)! }));
  const result = (divergence?: Divergence): DiffResult => ({
    arch, compared, offsetA, offsetB, ignoredFlags,
    remainingA: divergence ? 0 : (nextA.done ? 0 : 1 + count(itA)),
    remainingB: divergence ? 0 : (nextB.done ? 0 : 1 + count(itB)),
    commonRegisters: [...commonRegisters].sort(), ...(divergence ? { divergence } : {}),
  });
  if (startDifferences.length) {
    return result({ kind: 'start', indexA: offsetA, indexB: offsetB, ...(nextA.done ? {} : { instruction: nextA.value }), registers: startDifferences, before: ring.list() });
  }

  while (!nextA.done && !nextB.done) {
    const insnA = nextA.value;
    const insnB = nextB.value;
    const indexA = offsetA + compared;
    const indexB = offsetB + compared;
    if (insnA.pc !== insnB.pc) {
      return result({ kind: 'pc', indexA, indexB, instruction: insnA, pcB: insnB.pc, registers: [], before: ring.list() });
    }
    apply(stateA, insnA, pcName);
    apply(stateB, insnB, pcName);
    const names = new Set<string>();
    for (const [name] of changesOf(insnA)) names.add(name);
    for (const [name] of changesOf(insnB)) names.add(name);
    names.delete(pcName);
    const bytes = insnA.bytes ?? insnB.bytes;
    const mnemonic = bytes && options.mnemonic ? options.mnemonic(bytes, insnA.pc) : undefined;
    // Flags this instruction leaves undefined, and those earlier ones left undefined that nothing has set since.
    const undefinedBits = (mnemonic ? undefinedFlags(arch, mnemonic) : 0n) | looseFlags;
    looseFlags = mnemonic ? (looseFlags & ~definedFlags(arch, mnemonic)) | undefinedFlags(arch, mnemonic) : looseFlags;
    const differences: RegisterDifference[] = [];
    for (const name of names) {
      if (!known(name)) continue;
      commonRegisters.add(name);
      const va = stateA.get(name)!;
      let vb = stateB.get(name)!;
      if (name === 'efl' && undefinedBits) {
        const masked = (vb & ~undefinedBits) | (va & undefinedBits);
        if (masked !== vb && masked === va) ignoredFlags++;
        vb = masked;
        stateB.set(name, vb);
      }
      if (va !== vb) differences.push({ name, a: va, b: vb });
    }
    if (differences.length) return result({ kind: 'register', indexA, indexB, instruction: insnA, registers: differences, before: ring.list() });
    if (insnA.memory.length && insnB.memory.length && !sameMemory(insnA.memory, insnB.memory)) {
      return result({ kind: 'memory', indexA, indexB, instruction: insnA, registers: [], memory: { a: insnA.memory, b: insnB.memory }, before: ring.list() });
    }
    ring.push(insnA);
    compared++;
    nextA = itA.next();
    nextB = itB.next();
  }
  return result();
}
