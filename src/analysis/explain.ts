/**
 * `faultline explain`: from a dump to a verdict, as one pipeline:
 *
 * ```
 * fault site → candidates → windows → hypotheses (replayed) → checks → scores → verdict
 * ```
 *
 * The fault site says where and how the machine trapped; candidates are
 * every way control could have got there (the faulting instruction itself,
 * return addresses on the stack, the link register, indirect jumps); each
 * anchors a replay window whose start state is what the dump says; in each
 * window every fault model is replayed and checked against the dump
 * (unknown values stay unknown); every hypothesis gets a score (prior,
 * checks, evidence, multiplicity) and the verdict is the best one if its
 * lead over other classes is clear.
 *
 * @example
 * ```ts
 * const report = await explain(dump);
 * report.verdict; // { class: 'cpu-fault', location: 'branch-target', bit: 2, expected: '0x8082e3e4', observed: '0x8082e3e0', … }
 * ```
 */
import { pointerSize, registerMask, spRegister } from '../../emu/registers.ts';
import type { Dump } from '../dumps/model.ts';
import { createDisassembler } from '../disasm/disassembler.ts';
import { createEffects } from '../disasm/effects.ts';
import { formatAddress, hex } from '../format.ts';
import { asWrittenHypotheses, siteHypothesis } from './as-written.ts';
import { chooseCandidates, findCandidates, staleOperands, type Candidate } from './candidates.ts';
import { compareOutcome, summarize, type Check, type CheckContext } from './checks.ts';
import { CodeReader } from './code.ts';
import { judge, searchWindow, type SearchContext } from './families.ts';
import { findFaultSite, type FaultSite } from './fault-site.ts';
import type { Family, Hypothesis } from './hypothesis.ts';
import { statedInjection, type HypothesisSpec, type StatedShape } from './hypothesis-spec.ts';
import { endsFallThrough } from './instruction-kind.ts';
import { candidateReport, insnText, strip, windowReport, type ExplainReport, type HypothesisReport } from './explain-report.ts';
import { addCheck, coveringChecks, faultingAccessReplays, landingCheck, replayedContradiction } from './account-checks.ts';
import { scoreHypothesis } from './score.ts';
import { decideVerdict } from './verdict.ts';
import { buildWindow, type StepOverSpec, type Window } from './window.ts';
import { codeByteHypotheses } from './code-bytes.ts';
import type { ReplayOutcome } from './replay.ts';
import { moduleFiles } from '../dumps/module-files.ts';
import { arrivalCheck } from './arrival.ts';
import { entryCheck, entryStackCheck, stackPointerLive } from './entry-check.ts';
import { frameAt, frameCheck } from './frame-check.ts';
import { StackWalker } from '../unwind/walk.ts';

export type { CandidateReport, ExplainReport, HypothesisReport, WindowReport } from './explain-report.ts';

export interface ExplainOptions {
  stepOvers?: StepOverSpec[];
  /** Longest run of instructions a window reaches back (default 100). */
  windowInstructions?: number;
  /** Search the fault models (default true); false tests only the code as written. */
  exhaustive?: boolean;
  /** Wall-time budget of the search (default 10 000 ms): what it did not reach is listed as unchecked. */
  searchBudgetMs?: number;
  /**
   * Fault replays the search may run (default: no limit but time). A search bounded by replays
   * rather than time gives the same verdict on a busy machine as on an idle one.
   */
  searchReplays?: number;
  /** Test only these stated hypotheses (`faultline check`). */
  hypotheses?: HypothesisSpec[];
  /** Module files to compare the dump's code with (code corruption); the ELF core's own are used too. */
  binaries?: string[];
}

/** Accounts per window that reproduce the trap but mismatch, replayed again with the memory they read before writing it unknown. */
const REFINEMENTS = 24;

/** Explains the fault in `dump`. */
export async function explain(dump: Dump, options: ExplainOptions = {}): Promise<ExplainReport> {
  const started = performance.now();
  const f = (v: bigint) => formatAddress(dump.arch, v);
  const unchecked: string[] = [];
  const report: ExplainReport = {
    schema: 'faultline/explain/2',
    dump: { path: dump.path, format: dump.format, arch: dump.arch },
    candidates: [],
    windows: [],
    hypotheses: [],
    searched: 0,
    tried: {},
    verdict: { class: 'inconclusive', confidence: 0, confidenceLabel: 'none', summary: 'no fault found in the dump', reasons: [] },
    checks: [],
    unchecked,
    timings: { totalMs: 0, searchMs: 0 },
  };
  const site = findFaultSite(dump);
  if (!site) {
    report.verdict.reasons.push('the dump records neither a fault nor a register context');
    return finish(report, started);
  }
  const disassembler = await createDisassembler(dump.arch);
  const effects = await createEffects(dump.arch);
  const files = moduleFiles(dump, options.binaries ?? []);
  const windows: Window[] = [];
  try {
    const code = new CodeReader(dump, disassembler);
    const faulting = code.decodeAt(site.pc);
    const predecessor = code.endingAt(site.pc);
    report.fault = {
      summary: site.summary,
      kind: site.kind,
      pc: hex(site.pc),
      symbol: dump.symbols.format(site.pc),
      reportedPc: site.reportedPc === undefined ? undefined : hex(site.reportedPc),
      accessAddress: site.accessAddress === undefined ? undefined : hex(site.accessAddress),
      access: site.access,
      instruction: faulting ? insnText(dump, faulting) : undefined,
      predecessor: predecessor ? insnText(dump, predecessor) : undefined,
      reachableByFallThrough: predecessor ? !endsFallThrough(predecessor.kind) : undefined,
    };
    // A fetch fault came by a transfer: a `ret` took the pc from the slot just below sp, which a dump of the stack
    // from sp up (a WinDbg transcript's `dps`) does not hold.
    const faultSp = site.context?.registers[spRegister(dump.arch)];
    if (site.access === 'execute' && dump.arch !== 'arm64' && faultSp !== undefined) {
      const size = pointerSize(dump.arch);
      const below = (faultSp - BigInt(size)) & registerMask(dump.arch);
      if (!dump.memory.read(below, size)) unchecked.push(`the stack slot just below sp, [${f(below)}]: a ret that took ${f(site.pc)} would have read it there`);
    }
    if (!faulting) unchecked.push(`the instruction at ${f(site.pc)}: its bytes are not in the dump`);
    if (site.kind === 'access-violation' && site.accessAddress === undefined && !site.generalProtection) unchecked.push('the fault address: the dump does not record it');
    if (site.context?.unknown?.length) unchecked.push(`${site.context.unknown.join(', ')}: the ${site.context.kind} does not hold them`);

    // A fetch fault never ran the instruction at the pc: the CPU refused to fetch it.
    const walker = StackWalker.using(dump, disassembler);
    const candidates = findCandidates(dump, code, site, walker).filter((c) => !(c.kind === 'fault' && site.access === 'execute'));
    report.candidates = candidates.map((c) => candidateReport(dump, c, site));
    const frame = frameCheck(dump, walker, site, candidates);
    const width = pointerSize(dump.arch) * 8;
    const chosen = chooseCandidates(site, candidates, width);
    const deadline = started + (options.searchBudgetMs ?? 10_000);
    let replaysLeft = options.searchReplays ?? Infinity;
    const searchStarted = performance.now();
    const hypotheses: Hypothesis[] = [];
    const contexts: SearchContext[] = [];
    // A fault window whose code as written ends in a way the dump cannot settle (its start needs values the dump
    // lacks) is followed by the faulting instruction alone, from the recorded registers.
    // So is one whose code as written reaches the faulting instruction in another state than the dump's (a loop's
    // later pass): that instruction alone then says whether its own fault (its address one bit off, a corrupt byte
    // of it) explains what the code before it cannot.
    // A window's search, with what it spent taken from what is left.
    const search = (ctx: SearchContext, share: number) => {
      const found = searchWindow(ctx);
      if (Number.isFinite(replaysLeft)) replaysLeft -= Math.floor(replaysLeft / share) - ctx.budget.replays;
      hypotheses.push(...found.hypotheses);
      for (const [family, n] of Object.entries(found.tried) as Array<[Family, number]>) report.tried[family] = (report.tried[family] ?? 0) + n;
      for (const family of found.incomplete) unchecked.push(`the ${family} search in window ${ctx.windowId} stopped at the time budget (raise --search-seconds)`);
    };
    // Windows that ran a code byte one bit from the module file's, whose byte does not fault as recorded.
    const asFileChecks: Array<{ window: string; check: Check }> = [];
    const queue: Array<{ candidate: Candidate; alone: boolean; only?: boolean }> = chosen.map((candidate) => ({ candidate, alone: false }));
    for (let n = 0; n < queue.length; n++) {
      const { candidate, alone, only } = queue[n]!;
      const anchor = { instruction: candidate.instruction, sp: candidate.sp, kind: candidate.kind === 'fault' ? 'fault' as const : 'transfer' as const, epilogue: candidate.popped };
      const built = buildWindow(dump, code, effects, site, anchor, {
        maxInstructions: alone ? 1 : options.windowInstructions ?? 100, extra: 64, stepOvers: options.stepOvers ?? [], unwind: walker,
        stale: candidate.staleOperands ? staleOperands(dump, effects, candidate.instruction) : undefined,
      });
      if ('failed' in built) {
        unchecked.push(`the ${candidate.kind} at ${f(candidate.instruction.address)}: ${built.failed}`);
        continue;
      }
      windows.push(built);
      const id = `w${n}`;
      report.windows.push(windowReport(dump, id, candidate, built, code));
      const context: CheckContext = {
        written: new Set([...built.written, ...built.recovered.map((r) => r.register)]),
        initial: built.replay.registers,
        stated: Object.assign({}, ...built.stepOvers.map((s) => s.registers)),
        arrival: arrivalCheck(dump, code, built, candidates) ?? entryCheck(dump, code, effects, built)
          ?? entryStackCheck(dump, built, stackPointerLive(effects, built.faithful.path, (pc) => code.decodeAt(pc)?.bytes, spRegister(dump.arch))),
        copied: Object.fromEntries(built.recovered.filter((r) => r.from !== undefined).map((r) => [r.from!, r.value])),
        unemulated: (pc) => code.isUnemulated(pc),
      };
      if (!alone && anchor.kind === 'fault' && built.start !== anchor.instruction.address) {
        if (!built.faithful.outcome.resultKnown) queue.splice(n + 1, 0, { candidate, alone: true });
        else if (summarize(compareOutcome(dump, site, built.faithful.outcome, context)).mismatch > 0) queue.splice(n + 1, 0, { candidate, alone: true, only: true });
      }
      // Each window gets an even share of what is left, so the first window's search cannot starve the others.
      const share = queue.length - n;
      const now = performance.now();
      const budget = { deadline: now + Math.max(0, deadline - now) / share, replays: Math.floor(replaysLeft / share), refinements: REFINEMENTS };
      const ctx: SearchContext = {
        dump, effects, site, code, window: built, windowId: id, checkContext: context, budget, registers: false, stackOff: frame !== undefined,
        faultingInstructionOnly: only,
      };
      if (only) {
        // The code as written of this window says nothing the full window did not: its own accounts only.
        const faulting = { start: anchor.instruction.address, end: anchor.instruction.address + BigInt(anchor.instruction.size) };
        hypotheses.push(...codeByteHypotheses(ctx, files, faulting).hypotheses);
        if (!options.hypotheses && options.exhaustive !== false) search(ctx, share);
        continue;
      }
      contexts.push(ctx);
      const landing = landingCheck(ctx);
      const asWritten = asWrittenHypotheses(ctx);
      if (landing) for (const h of asWritten) addCheck(h, landing);
      hypotheses.push(...asWritten);
      const codeBytes = codeByteHypotheses(ctx, files);
      hypotheses.push(...codeBytes.hypotheses);
      if (codeBytes.asFile) asFileChecks.push({ window: id, check: codeBytes.asFile });
      if (options.hypotheses) {
        for (const spec of options.hypotheses) {
          const stated = statedInjection(dump, spec, built.faithful);
          if (typeof stated === 'string') {
            if (n === 0) unchecked.push(stated);
            continue;
          }
          (report.stated ??= []).push(strip(statedHypothesis(ctx, built.replayer.run(stated.injection), stated.shape)));
        }
        continue;
      }
      if (options.exhaustive === false) continue;
      search(ctx, share);
    }
    // A window further back whose code as written runs the faulting instruction without faulting says the shorter
    // windows' start states, taken from the dump, are not ones the code as written makes: every account there
    // starts from such a state.
    // Every account of a window that ran a changed code byte, but the byte's own, replays the code as memory holds
    // it, not as written.
    const covering = coveringChecks(contexts, hypotheses);
    const windowChecks = (found: Hypothesis[]) => {
      for (const { window, check } of covering) for (const h of found) if (h.window === window) addCheck(h, check);
      for (const { window, check } of asFileChecks) {
        for (const h of found) {
          if (h.window !== window || h.family === 'code-byte') continue;
          addCheck(h, check);
          h.explains = false;
        }
      }
    };
    windowChecks(hypotheses);
    // The fault's own pattern, unreplayed: when no window could be replayed or none settles how the code as written
    // ends (what it needs is not in the dump), or when the pattern settles it alone (an abort, executing the stack);
    // otherwise the windows' accounts carry the pattern with their checks.
    const fromSite = siteHypothesis(dump, site, code);
    const settled = hypotheses.some((h) => h.family === 'as-written' && h.checks[0]?.what === 'trap' && h.checks[0].status !== 'unknown');
    if (fromSite.explains && (!settled || site.kind === 'abort' || fromSite.evidence.some((e) => /execute the stack/.test(e.text)))) {
      for (const check of replayedContradiction(hypotheses)) addCheck(fromSite, check);
      hypotheses.push(fromSite);
    }
    // The widest family, any register before any instruction, only when nothing else fits and time remains.
    if (!options.hypotheses && options.exhaustive !== false && !hypotheses.some((h) => h.explains)) {
      const budget = { deadline, replays: replaysLeft, refinements: REFINEMENTS };
      for (const ctx of contexts) {
        const found = searchWindow({ ...ctx, budget, registers: true });
        const registers = found.hypotheses.filter((h) => h.family === 'register');
        windowChecks(registers);
        hypotheses.push(...registers);
        report.tried.register = (report.tried.register ?? 0) + (found.tried.register ?? 0);
        if (found.incomplete.includes('register')) unchecked.push(`the register search in window ${ctx.windowId} stopped at the time budget (raise --search-seconds)`);
      }
    }
    report.timings.searchMs = Math.round(performance.now() - searchStarted);
    report.searched = Object.values(report.tried).reduce((n, v) => n + (v ?? 0), 0);
    // The faulting access replayed alone from the recorded registers: if it does not fault, no account in which the
    // CPU executed it as written does (the registers are after any earlier fault; only the access itself can differ).
    const lone = faultingAccessReplays(dump, site);
    if (lone) {
      for (const h of hypotheses) {
        if (h.family === 'as-written' || h.family === 'memory-value' || h.family === 'code-byte' || h.family === 'deliberate') addCheck(h, lone);
      }
    }
    // Where the faulting function's unwind rule says the code cannot have left the stack pointer where the dump has
    // it, only an account whose replay puts it there holds. A window anchored at the fault starts from the dump's
    // stack pointer (it takes the frame as given), and a replay that did not reproduce the dump put it nowhere.
    if (frame) {
      const faultWindows = new Set(report.windows.filter((_, n) => windows[n]!.anchor.kind === 'fault').map((w) => w.id));
      for (const h of hypotheses) if (h.window === undefined || faultWindows.has(h.window) || !h.explains) addCheck(h, frame);
    }
    // The same at each window's start: its stack pointer is solved back from the anchor through the code as written
    // (a skip that moves it starts that much higher), so an account starting where the function's code cannot have
    // left it does not hold either.
    const sp = spRegister(dump.arch);
    for (const [n, w] of windows.entries()) {
      const startSp = w.replay.registers[sp];
      if (startSp === undefined || w.replay.unknown?.has(sp)) continue;
      const id = report.windows[n]!.id;
      const byShift = new Map<bigint, Check | undefined>();
      for (const h of hypotheses) {
        if (h.window !== id || h.checks.some((c) => c.what === 'frame')) continue;
        const shift = h.injection?.kind === 'skip' ? h.injection.spShift ?? 0n : 0n;
        if (!byShift.has(shift)) byShift.set(shift, frameAt(dump, walker, w.replay.start, (startSp + shift) & registerMask(dump.arch), candidates, `at the start of window ${id}`));
        const check = byShift.get(shift);
        if (check) addCheck(h, check);
      }
    }
    for (const h of hypotheses) scoreHypothesis(h);
    // The same account found in two windows counts once: where it explains the dump, else where the dump says most
    // about it (a window whose replay never reached the fault, all unknown, says nothing), else with its best score.
    const informative = (h: Hypothesis) => h.checks.filter((c) => c.status !== 'unknown').length;
    const best = new Map<string, Hypothesis>();
    for (const h of hypotheses) {
      const seen = best.get(h.id);
      const better = !seen || Number(h.explains) > Number(seen.explains)
        || (h.explains === seen.explains && (Math.sign(informative(h)) > Math.sign(informative(seen)) || (Math.sign(informative(h)) === Math.sign(informative(seen)) && h.score > seen.score)));
      if (better) best.set(h.id, h);
    }
    hypotheses.splice(0, hypotheses.length, ...best.values());
    const missing = unchecked.filter((u) => !u.includes('stopped at the time budget'));
    report.verdict = decideVerdict(dump, site, hypotheses, missing);
    const chosenHypothesis = hypotheses.find((h) => h.id === report.verdict.hypothesis);
    report.checks = chosenHypothesis?.checks ?? [];
    const chosenWindow = report.windows.find((w) => w.id === chosenHypothesis?.window) ?? report.windows[0];
    report.window = chosenWindow;
    const sorted = [...hypotheses].sort((a, b) => Number(b.explains) - Number(a.explains) || b.score - a.score);
    report.hypotheses = [...sorted.filter((h) => h.explains).slice(0, 30), ...sorted.filter((h) => !h.explains).slice(0, 10)].map(strip);
    for (const c of report.checks) if (c.status === 'unknown' && c.note) unchecked.push(`${c.what}: ${c.note}`);
  } finally {
    for (const w of windows) w.replayer.dispose();
    files.close();
    effects.close();
    disassembler.close();
  }
  return finish(report, started);
}

/** A stated hypothesis with its checks, whether or not it explains the dump. */
function statedHypothesis(ctx: SearchContext, outcome: ReplayOutcome, shape: StatedShape): Hypothesis {
  const explaining = judge(ctx, outcome, shape, () => 1);
  if (explaining) return explaining;
  const checks = compareOutcome(ctx.dump, ctx.site, outcome, ctx.checkContext);
  return { ...shape, address: shape.address === undefined ? undefined : hex(shape.address), window: ctx.windowId, explains: false, summary: summarize(checks), checks, evidence: [], tried: 1, score: 0 };
}

function finish(report: ExplainReport, started: number): ExplainReport {
  report.timings.totalMs = Math.round(performance.now() - started);
  return report;
}
