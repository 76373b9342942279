/**
 * x86-64 faults a transfer to a non-canonical address on the transfer
 * itself (#GP: nothing pushed, popped or jumped), where Unicorn jumps and
 * then fails to fetch there. A lane (replay-lane.ts) keeps, on x86-64, the
 * registers at its latest arrival at the window's faulting instruction and
 * every write in order; from them this gives the run's outcome as the CPU
 * leaves it.
 *
 * @example
 * ```ts
 * const gp = transferFault(ended, { emu, arch: 'x64', fault, at, writes, names });
 * gp?.result; // { kind: 'fault', reason: 'non-canonical', pc: fault, … }
 * ```
 */
import type { Emulator } from '../../emu/emulator.ts';
import { pcRegister, spRegister, type Arch, type RegisterName, type RegisterValues } from '../../emu/registers.ts';
import type { RunResult } from '../../emu/run-result.ts';
import { nonCanonical } from './checks.ts';

/** One write of a run, as the write hook reported it. */
export interface LoggedWrite {
  address: bigint;
  size: number;
  value: bigint;
}

/** The registers at the latest arrival at the faulting instruction, and how many writes the run had made by then. */
export interface FaultArrival {
  registers: RegisterValues;
  writes: number;
}

/**
 * The outcome of a run that ended fetching at a non-canonical address, when
 * its last instruction was the window's faulting one (every register but the
 * pc and sp as it left them, nothing written but a call's return address):
 * the state before that instruction, with a #GP there. Undefined otherwise.
 */
export function transferFault(
  result: RunResult,
  run: { emu: Emulator; arch: Arch; fault: bigint; at: FaultArrival; writes: readonly LoggedWrite[]; names: RegisterName[] },
): { result: RunResult; final: RegisterValues; written: Map<bigint, number> } | undefined {
  const { emu, arch, fault, at, names } = run;
  if (result.kind !== 'fault' || result.access !== 'fetch' || !nonCanonical(arch, result.address)) return undefined;
  const now = emu.readRegisters(names);
  const sp = spRegister(arch);
  const pc = pcRegister(arch);
  for (const name of names) {
    if (name === sp || name === pc) continue;
    // RF and other system bits of rflags differ between a hook and the run's end; the arithmetic flags do not.
    const differ = name === 'efl' ? ((now[name] ?? 0n) ^ (at.registers[name] ?? 0n)) & 0xfd5n : now[name] !== at.registers[name];
    if (differ) return undefined;
  }
  const later = run.writes.slice(at.writes);
  const spBefore = at.registers[sp];
  if (spBefore === undefined || later.length > 1 || (later.length === 1 && (later[0]!.size !== 8 || later[0]!.address !== spBefore - 8n))) return undefined;
  const written = new Map<bigint, number>();
  for (const w of run.writes.slice(0, at.writes)) {
    for (let i = 0; i < w.size; i++) written.set(w.address + BigInt(i), Number((w.value >> BigInt(8 * i)) & 0xffn));
  }
  const message = `transfer to the non-canonical address 0x${result.address.toString(16)}: general protection`;
  return { result: { kind: 'fault', address: result.address, access: 'fetch', size: 0, pc: fault, reason: 'non-canonical', message }, final: { ...at.registers }, written };
}
