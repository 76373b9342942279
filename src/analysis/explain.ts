/**
 * `faultline explain`: from a dump to a verdict. Finds the fault, whether it
 * could be reached by falling through, the transfers that could have led
 * there and where each should have gone; replays the window before the
 * transfer faithfully and under each fault model; and says which class of
 * cause the evidence supports, with every check behind it.
 *
 * @example
 * ```ts
 * const report = await explain(dump);
 * report.verdict; // { class: 'cpu-fault', location: 'branch-target', bit: 2, expected: '0x8082e3e4', observed: '0x8082e3e0', … }
 * ```
 */
import { pointerSize } from '../../emu/registers.ts';
import type { Dump } from '../dumps/model.ts';
import { createDisassembler } from '../disasm/disassembler.ts';
import { formatAddress, hex } from '../format.ts';
import { compareBits, type BitComparison } from './bits.ts';
import { CodeReader, type Instruction } from './code.ts';
import type { CheckContext } from './checks.ts';
import { findFaultSite, type FaultSite } from './fault-site.ts';
import { endsFallThrough } from './instruction-kind.ts';
import { carriedRegisters, evaluate, searchSingleBitFlips, type Hypothesis } from './hypotheses.ts';
import { Replayer } from './replay.ts';
import { findTransfers, type Transfer } from './transfers.ts';
import { chooseWindow, type StepOverSpec } from './window.ts';
import { decideVerdict, outcomeKey, type Verdict } from './verdict.ts';
import { pointerEvidence, type PointerEvidence } from './pointer-evidence.ts';
import { explainDataFault, explainInstructionTrap, replayFaultingInstruction } from './data-fault.ts';
import { exactSymbol } from '../dumps/exact-symbol.ts';
import { statedHypothesis, type HypothesisSpec } from './hypothesis-spec.ts';

export interface ExplainOptions {
  stepOvers?: StepOverSpec[];
  /** Longest window replayed (instructions). */
  windowInstructions?: number;
  /** Search every single-bit flip of registers and loaded values (default true). */
  exhaustive?: boolean;
  /** Wall-time budget of that search (default 60 000 ms): what it did not reach is listed as unchecked. */
  searchBudgetMs?: number;
  /**
   * Test only these stated hypotheses (`faultline check`): no automatic
   * target flip and no exhaustive search.
   */
  hypotheses?: HypothesisSpec[];
}

export interface TransferReport {
  call: { address: string; text: string; symbol: string };
  /** The stack slot of the return address, or `lr` for AArch64's link register. */
  slot: string;
  returnAddress: string;
  returnSymbol: string;
  expected?: string;
  expectedSymbol?: string;
  pointer?: { address: string; symbol?: string; value: string };
  unknownReason?: string;
  observed: string;
  comparison?: Omit<BitComparison, 'xor'> & { xor: string };
}

export interface ExplainReport {
  schema: 'faultline/explain/1';
  dump: { path: string; format: string; arch: string };
  fault?: {
    summary: string;
    kind: string;
    pc: string;
    symbol: string;
    reportedPc?: string;
    instruction?: string;
    predecessor?: string;
    reachableByFallThrough?: boolean;
  };
  transfers: TransferReport[];
  window?: {
    start: string;
    startSymbol: string;
    transfer: string;
    instructions: string[];
    stackPointer: string;
    startReason: string;
    steppedOver: string[];
    notes: string[];
  };
  pointer?: PointerEvidence;
  hypotheses: Array<Omit<Hypothesis, 'injection'>>;
  /** With `faultline check`: the stated hypotheses, each with its checks. */
  stated?: Array<Omit<Hypothesis, 'injection'>>;
  searched: number;
  verdict: Verdict;
  checks: Hypothesis['checks'];
  unchecked: string[];
  timings: { totalMs: number; searchMs: number };
}

function insnText(dump: Dump, insn: Instruction): string {
  return `${formatAddress(dump.arch, insn.address)} ${Buffer.from(insn.bytes).toString('hex')} ${insn.text}`;
}

/** Explains the fault in `dump`. */
export async function explain(dump: Dump, options: ExplainOptions = {}): Promise<ExplainReport> {
  const started = performance.now();
  const f = (v: bigint) => formatAddress(dump.arch, v);
  const sym = (v: bigint) => dump.symbols.format(v);
  const disassembler = await createDisassembler(dump.arch);
  const code = new CodeReader(dump, disassembler);
  const unchecked: string[] = [];
  const report: ExplainReport = {
    schema: 'faultline/explain/1',
    dump: { path: dump.path, format: dump.format, arch: dump.arch },
    transfers: [],
    hypotheses: [],
    searched: 0,
    verdict: { class: 'inconclusive', confidence: 0, confidenceLabel: 'none', summary: 'no fault found in the dump', reasons: [] },
    checks: [],
    unchecked,
    timings: { totalMs: 0, searchMs: 0 },
  };
  let site = findFaultSite(dump);
  if (!site) {
    report.verdict.reasons.push('the dump records neither a fault nor a register context');
    return finish(report, started);
  }

  // 1. The fault, and whether falling through could reach it.
  const faulting = code.decodeAt(site.pc);
  const predecessor = code.endingAt(site.pc);
  report.fault = {
    summary: site.summary,
    kind: site.kind,
    pc: hex(site.pc),
    symbol: sym(site.pc),
    reportedPc: site.reportedPc === undefined ? undefined : hex(site.reportedPc),
    instruction: faulting ? insnText(dump, faulting) : undefined,
    predecessor: predecessor ? insnText(dump, predecessor) : undefined,
    reachableByFallThrough: predecessor ? !endsFallThrough(predecessor.kind) : undefined,
  };
  if (!faulting) unchecked.push(`the instruction at ${f(site.pc)}: its bytes are not in the dump`);

  // A dump that does not record the fault address (no NT_SIGINFO): the faulting instruction's replay says it.
  if (site.kind === 'access-violation' && site.accessAddress === undefined && faulting && faulting.kind === 'other' && site.context) {
    const r = replayFaultingInstruction(dump, site).result;
    if (r.kind === 'fault' && r.access !== 'fetch') {
      site = { ...site, accessAddress: r.address, access: r.access };
      unchecked.push(`the fault address: the dump does not record it; replaying ${faulting.text} gives ${f(r.address)}`);
    }
  }

  // A divide error, an invalid or privileged instruction: the instruction itself, from the recorded state.
  if ((site.kind === 'divide-error' || site.kind === 'illegal-instruction' || site.kind === 'privileged-instruction') && faulting && site.context) {
    const result = explainInstructionTrap(dump, site, faulting);
    report.hypotheses = [result.faithful];
    report.checks = result.faithful.checks;
    report.verdict = result.verdict;
    return finish(report, started);
  }

  // A load or store that faulted (not a jump into bad memory): the instruction itself is the story.
  const dataAccess = site.kind === 'access-violation' && site.accessAddress !== undefined && site.access !== 'execute' && site.accessAddress !== site.pc;
  if (dataAccess && faulting && site.context) {
    const data = explainDataFault(dump, site, faulting);
    report.hypotheses = [data.faithful];
    report.checks = data.faithful.checks;
    report.verdict = data.verdict;
    return finish(report, started);
  }

  // 2–3. Transfers that could have led there, expected vs observed.
  const transfers = findTransfers(dump, code, site);
  report.transfers = transfers.map((t) => transferReport(dump, t, site));
  const transfer = transfers.find((t) => t.expected !== undefined) ?? transfers[0];
  report.pointer = transfer ? pointerEvidence(dump, code, transfer, site) : undefined;
  if (!transfer) {
    unchecked.push(`no return address near ${site.context ? 'sp' : 'the fault'} is preceded by a call`);
    report.verdict = decideVerdict({ dump, site, transfer: undefined, faithful: undefined, explaining: [], pointer: undefined });
    return finish(report, started);
  }

  // 4. The window before the transfer.
  const windowMax = options.windowInstructions ?? 100;
  const window = chooseWindow(dump, code, transfer, site, { stepOvers: options.stepOvers ?? [], maxInstructions: windowMax });
  if (!window) {
    unchecked.push(`no replay window reaches the call at ${f(transfer.call.address)}`);
    report.verdict = decideVerdict({ dump, site, transfer, faithful: undefined, explaining: [], pointer: report.pointer });
    return finish(report, started);
  }
  // The run ends at the trap a few instructions after the transfer; past that only wrong paths run on.
  const replayer = new Replayer(dump, { start: window.start, registers: window.registers, maxInstructions: window.instructions.length * 2 + 32, stepOvers: window.stepOvers });
  try {
    const traced = replayer.runTraced();
    report.window = {
      start: hex(window.start),
      startSymbol: sym(window.start),
      transfer: insnText(dump, transfer.call),
      instructions: window.instructions.map((i) => insnText(dump, i)),
      stackPointer: hex(window.registers[dump.arch === 'x86' ? 'esp' : dump.arch === 'x64' ? 'rsp' : 'sp']!),
      startReason: window.startReason,
      steppedOver: window.stepOvers.map((s) => hex(s.address)),
      notes: window.notes,
    };
    const context: CheckContext = {
      carried: carriedRegisters(replayer, traced.outcome),
      stated: Object.assign({}, ...window.stepOvers.map((s) => s.registers)),
    };
    const hypotheses: Hypothesis[] = [];
    const faithful = evaluate(replayer, site, context, { id: 'no-fault', class: 'no-fault', location: 'none', description: 'the CPU executed the window as written' });
    hypotheses.push(faithful);
    // 5. Fault models.
    const observed = site.pc;
    const comparison = transfer.expected !== undefined ? compareBits(transfer.expected, observed, pointerSize(dump.arch) * 8) : undefined;
    if (comparison?.relation === 'one-bit') {
      hypotheses.push(evaluate(replayer, site, context, {
        id: `bitflip:target@${transfer.call.address.toString(16)}:${comparison.bit}`,
        class: 'cpu-fault',
        location: 'branch-target',
        description: `bit ${comparison.bit} of the call target flipped (${f(transfer.expected!)} → ${f(observed)})`,
        injection: { kind: 'target-bit', at: transfer.call.address, bit: comparison.bit! },
        bit: comparison.bit,
      }));
    }
    const searchStarted = performance.now();
    if (options.hypotheses) {
      hypotheses.length = 1;
      for (const spec of options.hypotheses) {
        const stated = statedHypothesis(dump, spec, traced);
        if (typeof stated === 'string') unchecked.push(stated);
        else hypotheses.push(evaluate(replayer, site, context, stated));
      }
      report.stated = hypotheses.slice(1).map(({ injection: _i, ...rest }) => rest);
    }
    let explaining = hypotheses.filter((h) => h.explains && h.class !== 'no-fault');
    if (options.exhaustive !== false && !options.hypotheses) {
      const transferIndex = traced.path.indexOf(transfer.call.address);
      const instructions = transferIndex >= 0 ? transferIndex + 1 : traced.path.length;
      const reads = traced.reads.filter((r) => r.index >= 0 && r.index < instructions);
      const search = searchSingleBitFlips(replayer, site, context, instructions, reads, options.searchBudgetMs);
      report.searched = search.tried;
      if (!search.complete) unchecked.push(`the single-bit search stopped at its time budget after ${search.tried} of ${search.total} faults (raise --search-seconds or shorten --window)`);
      // A flip that leaves the same state as no fault at all is masked: the dump cannot see it.
      const faithfulKey = outcomeKey(faithful);
      explaining = [...explaining, ...search.explaining.filter((h) => outcomeKey(h) !== faithfulKey)];
    }
    report.timings.searchMs = Math.round(performance.now() - searchStarted);
    report.verdict = decideVerdict({ dump, site, transfer, faithful, explaining, pointer: report.pointer });
    const chosen = [faithful, ...explaining].find((h) => h.id === report.verdict.hypothesis) ?? faithful;
    report.checks = chosen.checks;
    const shown = [faithful, ...explaining.slice(0, 20)];
    report.hypotheses = shown.map(({ injection: _i, ...rest }) => rest);
    for (const c of chosen.checks) if (c.status === 'unknown') unchecked.push(`${c.what}: the dump does not hold it`);
  } finally {
    replayer.dispose();
  }
  return finish(report, started);
}

function finish(report: ExplainReport, started: number): ExplainReport {
  report.timings.totalMs = Math.round(performance.now() - started);
  return report;
}

function transferReport(dump: Dump, t: Transfer, site: FaultSite): TransferReport {
  const comparison = t.expected !== undefined ? compareBits(t.expected, site.pc, pointerSize(dump.arch) * 8) : undefined;
  return {
    call: { address: hex(t.call.address), text: t.call.text, symbol: dump.symbols.format(t.call.address) },
    slot: t.slot === undefined ? 'lr' : hex(t.slot),
    returnAddress: hex(t.returnAddress),
    returnSymbol: dump.symbols.format(t.returnAddress),
    expected: t.expected === undefined ? undefined : hex(t.expected),
    expectedSymbol: t.expected === undefined ? undefined : exactSymbol(dump.symbols, t.expected),
    pointer: t.pointer ? { address: hex(t.pointer.address), symbol: dump.symbols.lookup(t.pointer.address) ? dump.symbols.format(t.pointer.address) : undefined, value: hex(t.pointer.value) } : undefined,
    unknownReason: t.unknownReason,
    observed: hex(site.pc),
    comparison: comparison ? { ...comparison, xor: hex(comparison.xor) } : undefined,
  };
}
