/**
 * Compares a replay's outcome with what the dump recorded: the trap itself,
 * each register of the fault context, the flags, and each memory slot the
 * replay wrote. A value the dump does not hold is *unknown*, never a
 * mismatch. A register whose start value passes through the window
 * unchanged is marked *carried*: its match says only that the window left
 * it alone, and it is not counted as evidence.
 *
 * @example
 * ```ts
 * const checks = compareOutcome(dump, site, outcome, { carried, stated: {} });
 * checks.filter((c) => c.status === 'mismatch');
 * ```
 */
import { pcRegister, pointerSize, registerMask, type RegisterName, type RegisterValues } from '../../emu/registers.ts';
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
  /** What the replay produced (hex). */
  actual?: string;
  status: CheckStatus;
  /** `computed` when the replay produced the value; `carried` when it is the start value, unchanged. */
  basis: 'computed' | 'carried';
  /** Why a check is unknown when the dump does hold the value. */
  note?: string;
}

/** The flag bits compared: CF PF AF ZF SF TF IF DF OF (not RF, VM, AC, ID or reserved bits). */
const X86_FLAGS_MASK = 0xfd5n;
const SELECTORS = new Set(['cs', 'ss', 'ds', 'es', 'fs', 'gs', 'fs_base', 'gs_base']);

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

/** Did the replay stop the way the dump says the machine did? */
export function trapCheck(dump: Dump, site: FaultSite, outcome: ReplayOutcome): Check {
  const arch = dump.arch;
  const f = (v: bigint) => formatAddress(arch, v);
  const r = outcome.result;
  const expectedPc = site.reportedPc ?? site.pc;
  let actual: string;
  let status: CheckStatus;
  if (site.kind === 'breakpoint') {
    const isBreak = r.kind === 'trapped' && (r.name === 'int 3' || r.name === 'brk');
    actual = r.kind === 'trapped' ? `${r.name} at ${f(r.pc)}` : describeEnd(r, f);
    status = isBreak && r.pc === expectedPc ? 'match' : 'mismatch';
    return { what: 'trap', expected: `breakpoint at ${f(expectedPc)}`, actual, status, basis: 'computed' };
  }
  if (site.kind === 'access-violation') {
    const address = site.accessAddress ?? site.pc;
    actual = describeEnd(r, f);
    // A read-modify-write (add [eax],ebx) faults on its read in the emulator; the CPU reports the write.
    const sameAccess = (a: 'read' | 'write' | 'execute') => site.access === undefined || a === site.access || (a !== 'execute' && site.access !== 'execute');
    const faulted = r.kind === 'fault' && (r.address === address || nonCanonicalAsRecorded(arch, address, r.address)) && sameAccess(accessName(r.access));
    status = faulted ? 'match' : 'mismatch';
    return { what: 'trap', expected: `${site.access ?? 'access'} of ${f(address)} at ${f(site.pc)}`, actual, status, basis: 'computed' };
  }
  actual = describeEnd(r, f);
  status = r.kind === 'trapped' && r.pc === expectedPc ? 'match' : r.kind === 'fault' && r.pc === site.pc ? 'match' : 'mismatch';
  return { what: 'trap', expected: `${site.kind} at ${f(site.pc)}`, actual, status, basis: 'computed' };
}

/**
 * Windows records a #GP from a non-canonical x64 address as an access to
 * ffffffffffffffff (the CPU reports no address); Unicorn faults at the
 * address itself.
 */
export function nonCanonicalAsRecorded(arch: Dump['arch'], recorded: bigint, replayed: bigint): boolean {
  if (arch !== 'x64' || recorded !== 0xffff_ffff_ffff_ffffn) return false;
  const top = replayed >> 47n;
  return top !== 0n && top !== 0x1ffffn;
}

function accessName(access: 'read' | 'write' | 'fetch'): 'read' | 'write' | 'execute' {
  return access === 'fetch' ? 'execute' : access;
}

function describeEnd(r: ReplayOutcome['result'], f: (v: bigint) => string): string {
  switch (r.kind) {
    case 'trapped': return `${r.name} at ${f(r.pc)}`;
    case 'fault': return `${accessName(r.access)} of ${f(r.address)} (${r.reason === 'not-in-dump' ? 'not in the dump' : r.reason})`;
    case 'reached': return `stopped at ${f(r.pc)}`;
    case 'budget': return `ran out of ${r.budget} budget at ${f(r.pc)}`;
    case 'error': return `emulation error at ${f(r.pc)}`;
  }
}

/** What the checks need to know about the window beyond the outcome. */
export interface CheckContext {
  /** Registers whose start value passes through the window unchanged. */
  carried: ReadonlySet<RegisterName>;
  /** Register values the user stated for stepped-over calls: not evidence when they reach the end unchanged. */
  stated: RegisterValues;
}

/** Each register of the fault context against the replay's final registers. */
export function registerChecks(dump: Dump, site: FaultSite, outcome: ReplayOutcome, context: CheckContext): Check[] {
  const arch = dump.arch;
  const recorded = site.context?.registers ?? {};
  const checks: Check[] = [];
  for (const [name, value] of Object.entries(recorded) as Array<[RegisterName, bigint | undefined]>) {
    if (value === undefined || SELECTORS.has(name)) continue;
    const actualRaw = outcome.final[name];
    if (actualRaw === undefined) continue;
    const mask = name === 'efl' ? X86_FLAGS_MASK : registerMask(arch);
    if (context.stated[name] !== undefined && context.stated[name] === actualRaw) {
      checks.push({ what: name, expected: formatValue(arch, value), actual: formatValue(arch, actualRaw), status: 'unknown', basis: 'carried', note: 'the value stated with --step-over' });
      continue;
    }
    checks.push({
      what: name,
      expected: formatValue(arch, value),
      actual: formatValue(arch, actualRaw),
      status: (value & mask) === (actualRaw & mask) ? 'match' : 'mismatch',
      basis: context.carried.has(name) && name !== pcRegister(arch) ? 'carried' : 'computed',
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
      const byte = outcome.written.get(at) ?? recorded?.[i];
      if (byte === undefined) known = false;
      actual = (actual << 8n) | BigInt(byte ?? 0);
    }
    const what = `[${formatAddress(arch, slot)}]`;
    if (!recorded) {
      checks.push({ what, actual: known ? formatValue(arch, actual) : undefined, status: 'unknown', basis: 'computed' });
      continue;
    }
    let expected = 0n;
    for (let i = size - 1; i >= 0; i--) expected = (expected << 8n) | BigInt(recorded[i]!);
    checks.push({ what, expected: formatValue(arch, expected), actual: formatValue(arch, actual), status: expected === actual ? 'match' : 'mismatch', basis: 'computed' });
  }
  return checks;
}

/**
 * True when some recorded register certainly mismatches: the cheap test the
 * exhaustive search runs first, before building any check (most flips fail
 * here).
 */
export function registersMismatch(dump: Dump, site: FaultSite, outcome: ReplayOutcome, context: CheckContext): boolean {
  const mask = registerMask(dump.arch);
  for (const name in site.context?.registers ?? {}) {
    const register = name as RegisterName;
    const value = site.context!.registers[register];
    const actual = outcome.final[register];
    if (value === undefined || actual === undefined || SELECTORS.has(register)) continue;
    if (context.stated[register] !== undefined && context.stated[register] === actual) continue;
    const m = register === 'efl' ? X86_FLAGS_MASK : mask;
    if ((value & m) !== (actual & m)) return true;
  }
  return false;
}

/** All checks of one outcome: the trap first, then registers, then memory. */
export function compareOutcome(dump: Dump, site: FaultSite, outcome: ReplayOutcome, context: CheckContext): Check[] {
  return [trapCheck(dump, site, outcome), ...registerChecks(dump, site, outcome, context), ...memoryChecks(dump, outcome)];
}
