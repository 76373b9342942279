/**
 * What `explain` reports, as `--json` prints it (docs/explain-json.md): the
 * candidates, the replay windows and the hypotheses in hex strings and
 * WinDbg-style text, made from the analysis's own values.
 *
 * @example
 * ```ts
 * windowReport(dump, 'w0', candidate, window, code).start; // '0x80a5d8e6'
 * ```
 */
import { pointerSize, spRegister } from '../../emu/registers.ts';
import type { Dump } from '../dumps/model.ts';
import { exactSymbol } from '../dumps/exact-symbol.ts';
import { formatAddress, hex } from '../format.ts';
import { compareBits, type BitComparison } from './bits.ts';
import type { Candidate } from './candidates.ts';
import { describeEnd, type Check } from './checks.ts';
import type { CodeReader, Instruction } from './code.ts';
import { replayedCodeOrigin, type CodeOrigin } from './code-origin.ts';
import type { FaultSite } from './fault-site.ts';
import type { Family, Hypothesis } from './hypothesis.ts';
import type { Verdict } from './verdict.ts';
import { UNWOUND, type Window } from './window.ts';
import { COPIED } from './window-recovery.ts';

export interface CandidateReport {
  kind: string;
  instruction: { address: string; text: string; symbol: string };
  slot?: string;
  returnAddress?: string;
  returnSymbol?: string;
  expected?: string;
  expectedSymbol?: string;
  pointer?: { address: string; symbol?: string; value: string };
  unknownReason?: string;
  observed: string;
  comparison?: Omit<BitComparison, 'xor'> & { xor: string };
  evidence: string[];
}

export interface WindowReport {
  id: string;
  candidate: string;
  start: string;
  startSymbol: string;
  anchor: string;
  instructions: string[];
  stackPointer: string;
  startReason: string;
  steppedOver: string[];
  /** Registers unknown at the start (the window overwrites them, or the context does not hold them). */
  unknown: string[];
  /** Registers whose start value came back from the slot the window saved them to. */
  recovered: Array<{ register: string; slot: string; value: string; from?: string }>;
  /** How the code as written ends in this window. */
  end: string;
  notes: string[];
  /** Where the code the window replays came from: the dump's bytes, or module files (with their build ids). */
  code: CodeOrigin;
}

export type HypothesisReport = Omit<Hypothesis, 'injection'>;

export interface ExplainReport {
  schema: 'faultline/explain/2';
  dump: { path: string; format: string; arch: string };
  fault?: {
    summary: string;
    kind: string;
    pc: string;
    symbol: string;
    reportedPc?: string;
    accessAddress?: string;
    access?: string;
    instruction?: string;
    predecessor?: string;
    reachableByFallThrough?: boolean;
  };
  candidates: CandidateReport[];
  windows: WindowReport[];
  /** The window of the verdict's hypothesis. */
  window?: WindowReport;
  /** The best hypotheses, by score (all that explain, then the best few that do not). */
  hypotheses: HypothesisReport[];
  /** With `faultline check`: the stated hypotheses, each with its checks. */
  stated?: HypothesisReport[];
  /** Hypotheses tried, in all and per fault model. */
  searched: number;
  tried: Partial<Record<Family, number>>;
  verdict: Verdict;
  /** The checks of the verdict's hypothesis. */
  checks: Check[];
  unchecked: string[];
  timings: { totalMs: number; searchMs: number };
}

export function insnText(dump: Dump, insn: Instruction): string {
  return `${formatAddress(dump.arch, insn.address)} ${Buffer.from(insn.bytes).toString('hex')} ${insn.text}`;
}

export function candidateReport(dump: Dump, c: Candidate, site: FaultSite): CandidateReport {
  const comparison = c.expected !== undefined ? compareBits(c.expected, site.pc, pointerSize(dump.arch) * 8) : undefined;
  return {
    kind: c.kind,
    instruction: { address: hex(c.instruction.address), text: c.instruction.text, symbol: dump.symbols.format(c.instruction.address) },
    slot: c.slot === undefined ? undefined : hex(c.slot),
    returnAddress: c.returnAddress === undefined ? undefined : hex(c.returnAddress),
    returnSymbol: c.returnAddress === undefined ? undefined : dump.symbols.format(c.returnAddress),
    expected: c.expected === undefined ? undefined : hex(c.expected),
    expectedSymbol: c.expected === undefined ? undefined : exactSymbol(dump.symbols, c.expected),
    pointer: c.pointer ? { address: hex(c.pointer.address), symbol: dump.symbols.lookup(c.pointer.address) ? dump.symbols.format(c.pointer.address) : undefined, value: hex(c.pointer.value) } : undefined,
    unknownReason: c.unknownReason,
    observed: hex(site.pc),
    comparison: comparison && c.kind !== 'fault' ? { ...comparison, xor: hex(comparison.xor) } : undefined,
    evidence: c.evidence,
  };
}

/** How a recovered register's source reads in the report: its slot, or how else it came back. */
function recoveredSlot(slot: bigint): string {
  if (slot === UNWOUND) return 'unwind';
  if (slot === COPIED) return 'copied';
  return slot < 0n ? 'stepped' : hex(slot);
}

export function windowReport(dump: Dump, id: string, c: Candidate, w: Window, code: CodeReader): WindowReport {
  const f = (v: bigint) => formatAddress(dump.arch, v);
  return {
    id,
    candidate: c.kind,
    start: hex(w.start),
    startSymbol: dump.symbols.format(w.start),
    anchor: insnText(dump, w.anchor.instruction),
    instructions: w.instructions.map((i) => insnText(dump, i)),
    stackPointer: hex(w.replay.registers[spRegister(dump.arch)]!),
    startReason: w.startReason,
    steppedOver: w.stepOvers.map((s) => hex(s.address)),
    unknown: [...(w.replay.unknown ?? [])].sort(),
    recovered: w.recovered.map((r) => ({ register: r.register, slot: recoveredSlot(r.slot), value: hex(r.value), ...(r.from ? { from: r.from } : {}) })),
    end: describeEnd(w.faithful.outcome.result, f) + (w.faithful.outcome.resultKnown ? '' : ' (in one run; the runs disagree)'),
    notes: w.notes,
    // The listing's instructions and every instruction the faithful run executed.
    code: replayedCodeOrigin(dump, [...w.instructions, ...w.faithful.path.map((address) => ({ address, size: code.decodeAt(address)?.size ?? 1 }))]),
  };
}

export function strip(h: Hypothesis): HypothesisReport {
  const { injection: _injection, ...rest } = h;
  return rest;
}
