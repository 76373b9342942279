/**
 * Compares a replay's outcome with what the dump recorded: the trap itself,
 * each register of the fault context, and each memory slot the replay
 * wrote. A value the dump does not hold, and a replayed value that depends
 * on one (the replay lanes disagree on it), is *unknown*: never a match,
 * never a mismatch. A register the window never wrote ends as it started,
 * so its match is *carried*: it says only that the window left it alone,
 * and is not counted as evidence.
 *
 * @example
 * ```ts
 * const checks = compareOutcome(dump, site, outcome, context);
 * checks.filter((c) => c.status === 'mismatch');
 * ```
 */
import { pcRegister, pointerSize, registerMask, spRegister, type Arch, type RegisterName, type RegisterValues } from '../../emu/registers.ts';
import type { RunResult } from '../../emu/run-result.ts';
import type { Dump } from '../dumps/model.ts';
import { formatAddress, formatValue } from '../format.ts';
import type { FaultSite } from './fault-site.ts';
import type { ReplayOutcome } from './replay.ts';

export type CheckStatus = 'match' | 'mismatch' | 'unknown';

export interface Check {
  /** What is compared: `trap`, `eax`, `efl`, `[f78aecac]`. */
  what: string;
  /** What the dump recorded (hex), absent when it does not hold the value. */
  expected?: string;
  /** What the replay produced (hex), absent when it depends on what the dump lacks. */
  actual?: string;
  status: CheckStatus;
  /** `computed` when the replay produced the value; `carried` when it is the start value, unchanged. */
  basis: 'computed' | 'carried';
  /** Why a check is unknown. */
  note?: string;
  /** A trap that matched on an address the dump records (the fault address), not only on where it happened. */
  exact?: boolean;
  /** A trap every run came to, on an address it computed from values the dump does not hold: not how it faulted. */
  reached?: boolean;
}

export interface CheckSummary {
  match: number;
  mismatch: number;
  unknown: number;
  /** Matches of values the replay computed (the evidence that counts). */
  computedMatch: number;
}

export function summarize(checks: Check[]): CheckSummary {
  const summary = { match: 0, mismatch: 0, unknown: 0, computedMatch: 0 };
  for (const c of checks) {
    summary[c.status]++;
    if (c.status === 'match' && c.basis === 'computed') summary.computedMatch++;
  }
  return summary;
}

/** What the checks need to know about the window beyond the outcome. */
export interface CheckContext {
  /** Registers the window writes: their matches are computed evidence. */
  written: ReadonlySet<RegisterName>;
  /** Start values: a final value equal to it, of a register the window does not write, is carried. */
  initial: RegisterValues;
  /** Register values the user stated for stepped-over calls: not evidence when they reach the end unchanged. */
  stated: RegisterValues;
  /** Whether the window's start can be reached at all (see arrival.ts); a mismatch here sinks every hypothesis of the window. */
  arrival?: Check;
  /** Recorded values a start register was read back from (window-recovery.ts `recoverByCopy`): not evidence when they reach the end unchanged. */
  copied?: RegisterValues;
  /** Whether the instruction at a pc is a real one the emulator cannot run (an AVX-512 string function): a replay stopped there says nothing. */
  unemulated?: (pc: bigint) => boolean;
}

/**
 * The flag bits compared: x86 CF PF ZF SF TF IF DF OF; AArch64 N Z C V. AF is
 * left out: most instructions that set flags leave it undefined (`and`,
 * `test`, shifts, multiplies), and real CPUs and Unicorn disagree there.
 */
const X86_FLAGS_MASK = 0xfc5n;
const NZCV_MASK = 0xf000_0000n;
const NOT_COMPARED = new Set<string>(['cs', 'ss', 'ds', 'es', 'fs', 'gs', 'fs_base', 'gs_base', 'tpidr_el0']);

/** The bits of a register that are compared: flags less the ones CPUs and Unicorn leave differently. */
export function comparedMask(arch: Arch, name: RegisterName): bigint {
  return name === 'efl' ? X86_FLAGS_MASK : name === 'nzcv' ? NZCV_MASK : registerMask(arch);
}

/** True when `address` is not canonical on x86-64 (bits 63..47 not all equal). */
export function nonCanonical(arch: Arch, address: bigint): boolean {
  if (arch !== 'x64') return false;
  const top = address >> 47n;
  return top !== 0n && top !== 0x1ffffn;
}

/**
 * A #GP from a non-canonical address leaves no address: Windows records
 * ffffffffffffffff, Linux si_addr 0 with si_code SI_KERNEL. Unicorn faults
 * at the address itself.
 */
export function nonCanonicalAsRecorded(arch: Arch, recorded: bigint, replayed: bigint): boolean {
  return (recorded === 0xffff_ffff_ffff_ffffn || recorded === 0n) && nonCanonical(arch, replayed);
}

function accessName(access: 'read' | 'write' | 'fetch'): 'read' | 'write' | 'execute' {
  return access === 'fetch' ? 'execute' : access;
}

export function describeEnd(r: RunResult, f: (v: bigint) => string): string {
  switch (r.kind) {
    case 'trapped': return `${r.name} at ${f(r.pc)}`;
    case 'fault': {
      if (r.reason === 'non-canonical') return `general protection at ${f(r.pc)}: ${accessName(r.access)} of the non-canonical ${f(r.address)}`;
      return `${accessName(r.access)} of ${f(r.address)} (${r.reason === 'not-in-dump' ? 'not in the dump' : r.reason})`;
    }
    case 'reached': return `stopped at ${f(r.pc)}`;
    case 'budget': return `ran out of its ${r.budget} budget at ${f(r.pc)}`;
    case 'error': return `emulation error at ${f(r.pc)}`;
  }
}

/** Did the replay stop the way the dump says the machine did? */
export function trapCheck(dump: Dump, site: FaultSite, outcome: ReplayOutcome): Check {
  const arch = dump.arch;
  const f = (v: bigint) => formatAddress(arch, v);
  const r = outcome.result;
  const expectedPc = site.reportedPc ?? site.pc;
  const actual = describeEnd(r, f);
  const base = { what: 'trap', basis: 'computed' as const };
  if (!outcome.resultKnown) {
    // Every run comes to the faulting instruction and faults there, on an address computed from values the dump
    // does not hold at the start: the dump's registers at the fault say which. The code as written gets there.
    const there = site.kind === 'access-violation' && site.access !== 'execute' && outcome.runs.length > 1
      && outcome.runs.every((run) => run.result.kind === 'fault' && run.result.pc === site.pc && run.result.access !== 'fetch');
    if (there) {
      return { ...base, expected: describeSite(site, f), actual: `an access at ${f(site.pc)} in every run`, status: 'match', reached: true, note: 'every run faults at the faulting instruction; its address depends on values the dump holds only at the fault' };
    }
    return { ...base, expected: describeSite(site, f), status: 'unknown', note: 'how the replay ends depends on values the dump does not hold' };
  }
  if (r.kind === 'error') return { ...base, expected: describeSite(site, f), actual, status: 'unknown', note: 'the emulator failed' };
  switch (site.kind) {
    case 'breakpoint': {
      const isBreak = r.kind === 'trapped' && (r.name === 'int 3' || r.name === 'brk');
      // Linux reports the pc after an x86 int 3, Windows the int 3 itself; Unicorn the one after.
      const at = r.pc === expectedPc || r.pc === site.pc || r.pc === site.pc + 1n;
      return { ...base, expected: `breakpoint at ${f(expectedPc)}`, actual, status: isBreak && at ? 'match' : unknownOr(r, site) };
    }
    case 'access-violation': {
      const address = site.accessAddress ?? site.pc;
      // A read-modify-write (add [eax],ebx) faults on its read in the emulator; the CPU reports the write.
      const sameAccess = (a: 'read' | 'write' | 'execute') => site.access === undefined || a === site.access || (a !== 'execute' && site.access !== 'execute');
      // A #GP names no address, but only a non-canonical one raises it: any other unmapped address is a page fault.
      const faulted = r.kind === 'fault' && (site.generalProtection
        ? r.pc === site.pc && nonCanonical(arch, r.address)
        : r.address === address || (site.accessAddress !== undefined && nonCanonicalAsRecorded(arch, site.accessAddress, r.address)) || (site.accessAddress === undefined && r.pc === site.pc)) && sameAccess(accessName(r.access));
      const exact = faulted && !site.generalProtection && site.accessAddress !== undefined && r.kind === 'fault' && r.address === site.accessAddress;
      // A general protection fault (a far jump to a bad selector, a privileged instruction) is an access violation
      // with no address to the program.
      const protection = r.kind === 'trapped' && r.vector === 13 && r.pc === site.pc && (site.generalProtection || site.accessAddress === undefined);
      // AArch64 raises a PC alignment fault (SIGBUS) at a pc that is not a multiple of 4; Unicorn 2.0.1 traps there
      // as on an undefined instruction.
      const misaligned = arch === 'arm64' && (site.pc & 3n) !== 0n && r.kind === 'trapped' && r.pc === site.pc;
      return { ...base, expected: describeSite(site, f), actual, status: faulted || protection || misaligned ? 'match' : unknownOr(r, site), ...(exact ? { exact } : {}) };
    }
    default: {
      const match = (r.kind === 'trapped' && (r.pc === expectedPc || r.pc === site.pc)) || (r.kind === 'fault' && r.pc === site.pc);
      return { ...base, expected: describeSite(site, f), actual, status: match ? 'match' : unknownOr(r, site) };
    }
  }
}

/** A replay that stopped on memory the dump lacks, short of the fault, tells nothing; any other end is a mismatch. */
function unknownOr(r: RunResult, site: FaultSite): CheckStatus {
  if (r.kind === 'fault' && r.reason === 'not-in-dump' && r.address !== (site.accessAddress ?? site.pc)) return 'unknown';
  return 'mismatch';
}

export function describeSite(site: FaultSite, f: (v: bigint) => string): string {
  if (site.kind === 'access-violation') return `${site.access ?? 'access'} of ${f(site.accessAddress ?? site.pc)} at ${f(site.pc)}`;
  if (site.kind === 'breakpoint') return `breakpoint at ${f(site.reportedPc ?? site.pc)}`;
  return `${site.kind} at ${f(site.pc)}`;
}

/**
 * The pc as the platform reports it where the replay stopped. An x86 `int 3`
 * stops Unicorn after it; Windows reports the `int 3` itself (the site's pc
 * is then the reported one), Linux the byte after.
 */
function reportedPcOf(arch: Arch, site: FaultSite, outcome: ReplayOutcome): bigint | undefined {
  const r = outcome.result;
  const pc = outcome.final[pcRegister(arch)];
  if (site.kind !== 'breakpoint' || site.reportedPc !== site.pc || r.kind !== 'trapped' || r.name !== 'int 3') return pc;
  return r.pc > site.pc && r.pc <= site.pc + 2n ? site.pc : pc;
}

/**
 * Why a register's final value is no evidence, when it is a value the window
 * was given rather than computed: stated with --step-over, or the recorded
 * value a start register was read back from.
 */
function givenValue(context: CheckContext, name: RegisterName, actual: bigint): string | undefined {
  if (context.stated[name] !== undefined && context.stated[name] === actual) return 'the value stated with --step-over';
  if (context.copied?.[name] !== undefined && context.copied[name] === actual) return 'a start value was read back from it';
  return undefined;
}

/** Each register of the fault context against the replay's final registers. */
export function registerChecks(dump: Dump, site: FaultSite, outcome: ReplayOutcome, context: CheckContext): Check[] {
  const arch = dump.arch;
  const recorded = site.context?.registers ?? {};
  const notHeld = new Set(site.context?.unknown ?? []);
  const checks: Check[] = [];
  for (const [name, value] of Object.entries(recorded) as Array<[RegisterName, bigint | undefined]>) {
    if (value === undefined || NOT_COMPARED.has(name)) continue;
    const actualRaw = name === pcRegister(arch) ? reportedPcOf(arch, site, outcome) : outcome.final[name];
    if (actualRaw === undefined) continue;
    // Flags the run's last instructions left undefined (imul's ZF) may be anything on the CPU.
    const mask = comparedMask(arch, name) & ~(name === 'efl' ? outcome.undefinedFlags ?? 0n : 0n);
    const known = outcome.knownRegisters.has(name);
    const computed = context.written.has(name) || name === pcRegister(arch) || (context.initial[name] !== undefined && ((context.initial[name]! ^ actualRaw) & mask) !== 0n);
    const basis = computed ? 'computed' : 'carried';
    if (notHeld.has(name)) {
      checks.push({ what: name, actual: known ? formatValue(arch, actualRaw) : undefined, status: 'unknown', basis, note: `the ${site.context?.kind ?? 'context'} does not hold ${name}` });
      continue;
    }
    if (!known) {
      checks.push({ what: name, expected: formatValue(arch, value), status: 'unknown', basis, note: 'the replayed value depends on what the dump does not hold' });
      continue;
    }
    const given = givenValue(context, name, actualRaw);
    if (given) {
      checks.push({ what: name, expected: formatValue(arch, value), actual: formatValue(arch, actualRaw), status: 'unknown', basis: 'carried', note: given });
      continue;
    }
    checks.push({
      what: name, expected: formatValue(arch, value), actual: formatValue(arch, actualRaw),
      status: (value & mask) === (actualRaw & mask) ? 'match' : 'mismatch', basis,
    });
  }
  return checks;
}

/** Each pointer-sized slot the replay wrote, against the dump's bytes there. */
export function memoryChecks(dump: Dump, outcome: ReplayOutcome): Check[] {
  const arch = dump.arch;
  const size = pointerSize(arch);
  const slots = new Set<bigint>();
  for (const address of outcome.written.keys()) slots.add(address - (address % BigInt(size)));
  const checks: Check[] = [];
  for (const slot of [...slots].sort((a, b) => (a < b ? -1 : 1))) {
    let actual = 0n;
    let known = true;
    const recorded = dump.memory.read(slot, size);
    for (let i = size - 1; i >= 0; i--) {
      const at = slot + BigInt(i);
      const written = outcome.written.get(at);
      if (written !== undefined && !outcome.knownWritten.has(at)) known = false;
      const byte = written ?? recorded?.[i];
      if (byte === undefined) known = false;
      actual = (actual << 8n) | BigInt(byte ?? 0);
    }
    const what = `[${formatAddress(arch, slot)}]`;
    if (!recorded || !known) {
      checks.push({ what, actual: known ? formatValue(arch, actual) : undefined, status: 'unknown', basis: 'computed', note: recorded ? 'the replayed value depends on what the dump does not hold' : 'the dump does not hold this slot' });
      continue;
    }
    let expected = 0n;
    for (let i = size - 1; i >= 0; i--) expected = (expected << 8n) | BigInt(recorded[i]!);
    checks.push({ what, expected: formatValue(arch, expected), actual: formatValue(arch, actual), status: expected === actual ? 'match' : 'mismatch', basis: 'computed' });
  }
  return checks;
}

/**
 * True when some known, computed register certainly mismatches: the cheap
 * test a search runs first, before building any check (most flips fail here).
 */
export function registersMismatch(dump: Dump, site: FaultSite, outcome: ReplayOutcome, context: CheckContext): boolean {
  const notHeld = new Set(site.context?.unknown ?? []);
  if (context.arrival?.status === 'mismatch') return true;
  for (const name in site.context?.registers ?? {}) {
    const register = name as RegisterName;
    const value = site.context!.registers[register];
    const actual = outcome.final[register];
    if (value === undefined || actual === undefined || NOT_COMPARED.has(register) || notHeld.has(register)) continue;
    if (!outcome.knownRegisters.has(register)) continue;
    if (givenValue(context, register, actual)) continue;
    const m = comparedMask(dump.arch, register);
    if ((value & m) !== (actual & m)) return true;
  }
  return false;
}

/**
 * All checks of one outcome: the trap first, then registers, then memory.
 *
 * A replay that stopped on code or data the dump lacks, short of the fault,
 * did not reach the recorded state: its values are unknown. Unless they
 * already equal the recorded state in every value the window computed: then
 * the code it went to would have had to reach the fault without changing
 * anything, and the CPU more likely went elsewhere (a mismatch).
 */
export function compareOutcome(dump: Dump, site: FaultSite, outcome: ReplayOutcome, context: CheckContext): Check[] {
  const trap = trapCheck(dump, site, outcome);
  let registers = registerChecks(dump, site, outcome, context);
  let memory = memoryChecks(dump, outcome);
  const r = outcome.result;
  // Out of budget, or stopped at an instruction the emulator lacks, while still inside the frames the dump shows
  // live: it may yet reach the fault. Once it has returned out of them (sp above the recorded sp), the code as
  // written went on past where the machine was.
  const unemulated = r.kind === 'trapped' && r.name === 'invalid instruction' && r.pc !== site.pc && context.unemulated?.(r.pc) === true;
  if (r.kind === 'budget' || unemulated) {
    const sp = spRegister(dump.arch);
    const recordedSp = site.context?.registers[sp];
    const finalSp = outcome.knownRegisters.has(sp) ? outcome.final[sp] : undefined;
    const pastIt = outcome.passedFault || (recordedSp !== undefined && finalSp !== undefined && finalSp > recordedSp + BigInt(pointerSize(dump.arch)));
    if (!pastIt) {
      const why = unemulated ? 'the replay stopped at an instruction the emulator cannot run, before the fault' : 'the replay ran out of its budget before reaching the fault';
      const short = (c: Check): Check => (c.status === 'unknown' ? c : { ...c, status: 'unknown', note: why });
      return [short(trap), ...(context.arrival ? [context.arrival] : []), ...registers.map(short), ...memory.map(short)];
    }
  }
  if (trap.status === 'unknown' && outcome.resultKnown && r.kind === 'fault' && r.reason === 'not-in-dump' && !outcome.passedFault) {
    const pc = pcRegister(dump.arch);
    const sp = registers.find((c) => c.what === spRegister(dump.arch));
    // The stack as the transfer left it: the code it went to never ran (a function saves, calls, returns).
    const stateAsLeft = sp?.status === 'match' && memory.every((c) => c.status !== 'mismatch') && memory.some((c) => c.status === 'match');
    const stopped = (c: Check): Check => (c.status === 'unknown' ? c : { ...c, status: 'unknown', note: 'the replay stopped before the fault, where the dump lacks memory' });
    if (stateAsLeft && r.access === 'fetch') {
      registers = registers.map((c) => (c.what === pc ? stopped(c) : c));
      return [{ ...trap, status: 'mismatch', note: `the replay went to ${formatAddress(dump.arch, r.address)}, whose code the dump lacks, yet the dump shows the machine exactly as that transfer left it, at another address` }, ...(context.arrival ? [context.arrival] : []), ...registers, ...memory];
    }
    registers = registers.map(stopped);
    memory = memory.map(stopped);
  }
  return [trap, ...(context.arrival ? [context.arrival] : []), ...registers, ...memory];
}
