/**
 * Where and how the machine trapped, from the dump's fault record and the
 * fault's register context: the address of the faulting instruction, the
 * pc as the CPU reported it, and the kind of trap.
 *
 * Windows bugchecks that carry an exception (0x1E, 0x7E, 0x8E and their
 * 0x1000_0000 twins) give the exception code and address in their
 * arguments; 0x0A, 0x50 and 0xD1 give the referenced address and the
 * instruction address. Linux signals give si_addr.
 *
 * @example
 * ```ts
 * const site = findFaultSite(dump); // { kind: 'breakpoint', pc: 0x8082e3e0n, reportedPc: 0x8082e3e1n, … }
 * ```
 */
import { pcRegister } from '../../emu/registers.ts';
import type { Dump, RegisterContext } from '../dumps/model.ts';
import { isMapped, regionOf } from '../dumps/address-map.ts';

export type TrapKind = 'breakpoint' | 'access-violation' | 'illegal-instruction' | 'divide-error' | 'privileged-instruction' | 'abort' | 'other';

export interface FaultSite {
  kind: TrapKind;
  /** The faulting instruction's address (for `int 3`, the `int 3` itself). */
  pc: bigint;
  /** The pc the CPU reported in the context (after `int 3` on x86). */
  reportedPc?: bigint;
  exceptionCode?: bigint;
  /** For access violations: the address accessed and how. */
  accessAddress?: bigint;
  access?: 'read' | 'write' | 'execute';
  /**
   * x86 #GP (Linux: SIGSEGV with si_code SI_KERNEL, address 0): on x86-64 a non-canonical address, which the CPU
   * does not report; on either, a privileged instruction (hlt, in, out) in user code.
   */
  generalProtection?: boolean;
  /** The register context of the fault (trap frame, exception context, thread). */
  context?: RegisterContext;
  threadId?: number;
  /** One line, e.g. "bugcheck 8E: breakpoint (80000003) at 8082e3e0". */
  summary: string;
}

const EXCEPTION_KINDS: Record<string, TrapKind> = {
  '80000003': 'breakpoint',
  'c0000005': 'access-violation',
  'c000001d': 'illegal-instruction',
  'c0000094': 'divide-error',
  'c0000096': 'privileged-instruction',
  // __fastfail (int 29h): abort(), a failed check; the code Windows reports for it.
  'c0000409': 'abort',
};

const SIGNAL_KINDS: Record<number, TrapKind> = { 4: 'illegal-instruction', 5: 'breakpoint', 6: 'abort', 7: 'access-violation', 8: 'divide-error', 11: 'access-violation' };
/** si_code of a signal the kernel sent itself: on x86-64 a #GP carries it, with si_addr 0. */
const SI_KERNEL = 0x80;

const EXCEPTION_BUGCHECKS = new Set([0x1en, 0x7en, 0x8en, 0x1000007en, 0x1000008en]);
const IRQL_BUGCHECKS = new Set([0x0an, 0xd1n]); // args: address, irql, r/w, instruction address
const PAGE_FAULT_BUGCHECKS = new Set([0x50n]); // args: address, r/w, instruction address

function exceptionKind(code: bigint): TrapKind {
  return EXCEPTION_KINDS[(code & 0xffff_ffffn).toString(16)] ?? 'other';
}

/** The first context of the faulting thread (or of the first thread with one). */
function faultContext(dump: Dump, threadId?: number): { context?: RegisterContext; threadId?: number } {
  const thread = (threadId !== undefined ? dump.threads.find((t) => t.id === threadId) : undefined)
    ?? dump.threads.find((t) => t.contexts.length > 0);
  return { context: thread?.contexts[0], threadId: thread?.id };
}

/**
 * An access violation whose pc was not mapped, or not executable, when the
 * dump was taken is a fetch fault at the pc, whether or not the dump
 * records the address (QEMU's cores record none).
 */
function withFetchFault(dump: Dump, site: FaultSite): FaultSite {
  if (site.kind !== 'access-violation' || site.access !== undefined && site.access !== 'execute') return site;
  if (site.accessAddress !== undefined && site.accessAddress !== site.pc) return site;
  const region = regionOf(dump, site.pc);
  const fetchFault = region ? !region.execute : isMapped(dump, site.pc) === false;
  if (!fetchFault) return site;
  if (site.accessAddress === undefined) site.summary += `: ${site.pc.toString(16)} was not ${region ? 'executable' : 'mapped'}`;
  return { ...site, access: 'execute', accessAddress: site.pc };
}

/**
 * An access violation's two parameters (0 read, 1 write, 8 execute; the
 * address). Windows reports a #GP, which names no address (an x86-64
 * non-canonical address, a far transfer to a selector the CPU refused), as a
 * read of all ones: ffffffffffffffff, ffffffff on x86.
 */
function withAccess(dump: Dump, site: FaultSite, rw: bigint, address: bigint): void {
  if ((dump.arch === 'x64' && address === 0xffff_ffff_ffff_ffffn) || (dump.arch === 'x86' && rw === 0n && address === 0xffff_ffffn)) {
    site.generalProtection = true;
    site.summary += dump.arch === 'x64' ? ' (general protection: a non-canonical address)' : ' (general protection)';
    return;
  }
  site.access = rw === 0n ? 'read' : rw === 8n ? 'execute' : 'write';
  site.accessAddress = address;
  site.summary += `: ${site.access} of ${address.toString(16)}`;
}

/** The fault site of `dump`, or undefined when the dump records no fault and no context. */
export function findFaultSite(dump: Dump): FaultSite | undefined {
  const fault = dump.fault;
  const pcName = pcRegister(dump.arch);
  const hex = (v: bigint) => v.toString(16);
  if (fault?.kind === 'bugcheck') {
    const { context, threadId } = faultContext(dump);
    const reportedPc = context?.registers[pcName];
    const args = fault.parameters;
    const code = `bugcheck ${hex(fault.code).toUpperCase()}`;
    if (EXCEPTION_BUGCHECKS.has(fault.code) && args.length >= 2) {
      const kind = exceptionKind(args[0]!);
      const site: FaultSite = { kind, pc: args[1]!, reportedPc, exceptionCode: args[0]!, context, threadId, summary: `${code}: ${kind} (${hex(args[0]!)}) at ${hex(args[1]!)}` };
      // KMODE_EXCEPTION_NOT_HANDLED (only 1E: 7E and 8E pass record and frame pointers) carries the exception's parameters.
      if (kind === 'access-violation' && (fault.code & 0xffffn) === 0x1en && args.length >= 4) withAccess(dump, site, args[2]!, args[3]!);
      return withFetchFault(dump, site);
    }
    if (IRQL_BUGCHECKS.has(fault.code) && args.length >= 4) {
      const access = args[2]! & 1n ? 'write' : 'read';
      return { kind: 'access-violation', pc: args[3]!, reportedPc, accessAddress: args[0]!, access, context, threadId, summary: `${code}: ${access} of ${hex(args[0]!)} at ${hex(args[3]!)}` };
    }
    if (PAGE_FAULT_BUGCHECKS.has(fault.code) && args.length >= 3) {
      const access = args[1]! & 1n ? 'write' : 'read';
      return { kind: 'access-violation', pc: args[2]!, reportedPc, accessAddress: args[0]!, access, context, threadId, summary: `${code}: ${access} of ${hex(args[0]!)} at ${hex(args[2]!)}` };
    }
    if (reportedPc === undefined) return undefined;
    return { kind: 'other', pc: reportedPc, reportedPc, context, threadId, summary: `${code} at ${hex(reportedPc)}` };
  }
  if (fault?.kind === 'exception') {
    const { context, threadId } = faultContext(dump, fault.threadId);
    const kind = exceptionKind(fault.code);
    const site: FaultSite = { kind, pc: fault.address, reportedPc: context?.registers[pcName], exceptionCode: fault.code, context, threadId, summary: `exception ${hex(fault.code)} (${kind}) at ${hex(fault.address)}` };
    if (kind === 'access-violation' && fault.parameters.length >= 2) withAccess(dump, site, fault.parameters[0]!, fault.parameters[1]!);
    return withFetchFault(dump, site);
  }
  const { context, threadId } = faultContext(dump, fault?.kind === 'signal' ? fault.threadId : undefined);
  const reportedPc = context?.registers[pcName];
  if (reportedPc === undefined) return undefined;
  if (fault?.kind === 'signal') {
    const kind = SIGNAL_KINDS[fault.signal] ?? 'other';
    const trap = kind === 'breakpoint' && dump.arch !== 'arm64' ? x86TrapSite(dump, reportedPc) : { pc: reportedPc, note: '' };
    const pc = trap.pc;
    const site: FaultSite = { kind, pc, reportedPc, context, threadId, summary: `signal ${fault.signal} (${kind}) at ${hex(pc)}${trap.note}` };
    if (kind === 'access-violation' && dump.arch !== 'arm64' && fault.code === SI_KERNEL && (fault.address ?? 0n) === 0n) {
      site.generalProtection = true;
      site.summary += dump.arch === 'x64' ? ' (general protection: a non-canonical address)' : ' (general protection)';
    } else if (fault.address !== undefined && kind === 'access-violation') {
      // si_addr does not say how: at the pc it is a fetch only where the pc's page cannot be executed (withFetchFault),
      // not an instruction that stored to its own address.
      site.accessAddress = fault.address;
      site.summary += `, fault address ${hex(fault.address)}`;
    }
    return withFetchFault(dump, site);
  }
  return { kind: 'other', pc: reportedPc, reportedPc, context, threadId, summary: `stopped at ${hex(reportedPc)}` };
}

/**
 * Where an x86 SIGTRAP happened. An `int 3` (`cc`, or `cd 03`) traps with the
 * pc after it, so the trapping instruction is the one ending at the pc. A
 * debugger's breakpoint is not: gdb puts its `int 3` back to the original
 * byte and rewinds the pc to the breakpoint, and a single step or hardware
 * breakpoint stops before the next instruction; then no `int 3` ends at the
 * pc and the pc itself is the site (a core written at a gdb breakpoint).
 * When the bytes before the pc are not in the dump, an `int 3` is assumed.
 */
function x86TrapSite(dump: Dump, reportedPc: bigint): { pc: bigint; note: string } {
  const before = dump.memory.read(reportedPc - 2n, 2);
  if (!before) return { pc: reportedPc - 1n, note: '' };
  if (before[1] === 0xcc) return { pc: reportedPc - 1n, note: '' };
  if (before[0] === 0xcd && before[1] === 0x03) return { pc: reportedPc - 2n, note: '' };
  return { pc: reportedPc, note: ' (no int 3 ends at the pc: a debugger\'s breakpoint or single step stopped before this instruction)' };
}

/** The pc and code selector of an x86 fault taken at user level (the selector's low bits 3), or undefined. */
export function userLevelAt(dump: Dump, site: FaultSite): { pc: bigint; codeSelector: bigint } | undefined {
  if (dump.arch === 'arm64') return undefined;
  const cs = site.context?.registers.cs;
  if (cs === undefined || site.context?.unknown?.includes('cs') || (cs & 3n) !== 3n) return undefined;
  return { pc: site.pc, codeSelector: cs & 0xffffn };
}
