/**
 * The replay behind a verdict, instruction by instruction, for a reader
 * (the HTML report, Tenet and drcov files): the verdict's window replayed
 * once more with the verdict's fault, each instruction with the registers
 * it changed and the memory it read and wrote. A value the lanes disagree
 * on depends on what the dump does not hold: it has no value here.
 *
 * explain does not keep its windows or the injections of its hypotheses,
 * so this rebuilds the window from the report (the same candidate, checked
 * by its start and stack pointer) and the fault from the hypothesis id.
 *
 * @example
 * ```ts
 * const report = await explain(dump, options);
 * report.trace = await windowTrace(dump, report, options); // undefined when the report has no window
 * ```
 */
import { pcRegister, spRegister, type RegisterName, type RegisterValues } from '../../emu/registers.ts';
import { createDisassembler } from '../disasm/disassembler.ts';
import { StackWalker } from '../unwind/walk.ts';
import { createEffects } from '../disasm/effects.ts';
import type { Dump } from '../dumps/model.ts';
import { formatAddress, hex } from '../format.ts';
import { findCandidates } from './candidates.ts';
import { describeEnd } from './checks.ts';
import { CodeReader } from './code.ts';
import type { ExplainOptions, ExplainReport, HypothesisReport } from './explain.ts';
import { insnText } from './explain-report.ts';
import { findFaultSite } from './fault-site.ts';
import { parseHypothesis, statedInjection } from './hypothesis-spec.ts';
import type { Injection, ReplayOutcome, SteppedLane, TracedRun } from './replay.ts';
import { buildWindow, type Window } from './window.ts';
import { basicBlocks, coverageModules } from '../../traces/export/drcov.ts';

/** A value the replay computed; `value` is absent when it depends on what the dump lacks. */
export interface TracedValue {
  register: string;
  value?: string;
}

export interface TracedAccess {
  access: 'read' | 'write';
  /** Absent when the lanes accessed different addresses (the address depends on an unknown). */
  address?: string;
  size: number;
  value?: string;
}

export interface TraceStep {
  index: number;
  pc: string;
  size: number;
  /** `addr bytes text`, as in `windows[].instructions`; absent when the bytes do not decode. */
  instruction?: string;
  symbol: string;
  /** Registers the instruction changed (not the pc), with their values after it. */
  changed: TracedValue[];
  memory: TracedAccess[];
  /** False once the lanes went different ways: from here the path itself depends on an unknown. */
  pathKnown: boolean;
}

/** The module a traced pc lies in, for drcov's module table. */
export interface TraceModule {
  name: string;
  path?: string;
  base: string;
  end: string;
}

export interface WindowTrace {
  /** The window (`windows[].id`) and the hypothesis whose fault the replay injects. */
  window: string;
  hypothesis?: string;
  /**
   * What the replay injects, at which step: `before` it runs (a register or memory flip, a skipped
   * instruction, a faulting access), or `during` it (a transfer that lands elsewhere, a load that arrives flipped).
   */
  injection?: { index: number; at: 'before' | 'during'; description: string };
  note?: string;
  start: TracedValue[];
  steps: TraceStep[];
  /** How the replay ended, as the windows' `end` says it. */
  end: string;
  modules: TraceModule[];
}

/** A report as `--json` writes it: explain's, with the trace. */
export type ExplainDocument = ExplainReport & { trace?: WindowTrace };

/** The window of `report.window` rebuilt over `dump`, or a sentence saying why not. */
async function rebuildWindow(dump: Dump, report: ExplainReport, options: ExplainOptions, code: CodeReader): Promise<Window | string> {
  const target = report.window;
  const site = findFaultSite(dump);
  if (!target || !site) return 'the report has no replay window';
  const effects = await createEffects(dump.arch);
  try {
    const candidates = findCandidates(dump, code, site, StackWalker.using(dump, undefined)).filter((c) => c.kind === target.candidate && insnText(dump, c.instruction) === target.anchor);
    for (const c of candidates) {
      const built = buildWindow(dump, code, effects, site, { instruction: c.instruction, sp: c.sp, kind: c.kind === 'fault' ? 'fault' : 'transfer' }, {
        maxInstructions: options.windowInstructions ?? 100, extra: 64, stepOvers: options.stepOvers ?? [],
      });
      if ('failed' in built) continue;
      const sp = built.replay.registers[spRegister(dump.arch)];
      if (hex(built.start) === target.start && sp !== undefined && hex(sp) === target.stackPointer) return built;
      built.replayer.dispose();
    }
    return `window ${target.id} could not be rebuilt from the dump`;
  } finally {
    effects.close();
  }
}

/**
 * The injection of `h` in `window`, or a sentence saying why the replay
 * runs the code as written. Accounts in which the CPU executed the dump's
 * bytes faithfully (software, a corrupt value or code byte already in
 * memory) have none: the replay as written is theirs.
 */
function injectionOf(dump: Dump, code: CodeReader, h: HypothesisReport | undefined, window: Window): { injection?: Injection; note?: string } {
  if (!h) return { note: 'no hypothesis explains the dump: the replay runs the code as written' };
  const traced: TracedRun = window.faithful;
  const address = h.address === undefined ? undefined : BigInt(h.address);
  switch (h.family) {
    case 'as-written':
    case 'deliberate':
    case 'memory-value':
    case 'code-byte':
      return {};
    case 'branch-target':
    case 'loaded-value':
    case 'register': {
      const stated = statedInjection(dump, parseHypothesis(h.id, dump.arch), traced);
      return typeof stated === 'string' ? { note: stated } : { injection: stated.injection };
    }
    case 'memory-flip': {
      const read = traced.reads.find((r) => r.address === address);
      if (!read || h.bit === undefined) return { note: `${h.id}: the window never loads from that address` };
      return { injection: { kind: 'memory-bit', index: read.index, address: read.address, size: read.size, bit: h.bit } };
    }
    case 'skip': {
      const index = address === undefined ? -1 : traced.path.indexOf(address);
      const insn = index < 0 ? undefined : code.decodeAt(address!);
      if (!insn) return { note: `${h.id}: the window never executes that instruction` };
      // explain's skip may also keep registers only the skipped instruction writes at their recorded values; this
      // replay does not, so such a register shows its fill (unknown).
      return { injection: { kind: 'skip', index, size: insn.size } };
    }
    case 'data-address': {
      const observed = h.observed === undefined ? undefined : BigInt(h.observed);
      const expected = h.expected === undefined ? undefined : BigInt(h.expected);
      if (observed === undefined) return { note: `${h.id}: the report does not say which address` };
      const write = traced.writes.some((w) => w.index === window.anchorIndex && w.address === expected);
      return { injection: { kind: 'access-fault', index: window.anchorIndex, address: observed, access: write ? 'write' : 'read' } };
    }
  }
}

/** The hypothesis the verdict names, in the report's lists. */
function verdictHypothesis(report: ExplainReport): HypothesisReport | undefined {
  const id = report.verdict.hypothesis;
  if (id === undefined) return undefined;
  return [...(report.stated ?? []), ...report.hypotheses].find((h) => h.id === id && (h.window === undefined || h.window === report.window?.id));
}

/** Lane `lane`'s registers after step `i` (before step i+1, or at the end); a register flip injected between two steps is the fault's, not the instruction's. */
function registersAfter(lane: SteppedLane, final: RegisterValues, i: number, injection: Injection | undefined): RegisterValues {
  const after = { ...(lane.steps[i + 1]?.before ?? final) };
  if (injection?.kind === 'register-bit' && injection.index === i + 1) {
    const v = after[injection.register];
    if (v !== undefined) after[injection.register] = v ^ (1n << BigInt(injection.bit));
  }
  return after;
}

function startOf(lane: SteppedLane, injection: Injection | undefined): RegisterValues {
  const start = { ...(lane.steps[0]?.before ?? {}) };
  if (injection?.kind === 'register-bit' && injection.index === 0) {
    const v = start[injection.register];
    if (v !== undefined) start[injection.register] = v ^ (1n << BigInt(injection.bit));
  }
  return start;
}

/** The steps of a stepwise replay, each value kept only where every lane agrees. */
function stepsOf(dump: Dump, code: CodeReader, lanes: SteppedLane[], outcome: ReplayOutcome, injection: Injection | undefined): TraceStep[] {
  const pc = pcRegister(dump.arch);
  const first = lanes[0]!;
  const steps: TraceStep[] = [];
  let pathKnown = true;
  for (const [i, step] of first.steps.entries()) {
    pathKnown &&= lanes.every((l) => l.steps[i]?.pc === step.pc);
    const afters = lanes.map((l, n) => registersAfter(l, outcome.runs[n]?.final ?? {}, i, injection));
    const changed: TracedValue[] = [];
    for (const name of Object.keys(step.before) as RegisterName[]) {
      if (name === pc) continue;
      if (!lanes.some((l, n) => l.steps[i] && afters[n]![name] !== l.steps[i]!.before[name])) continue;
      const value = afters[0]![name];
      const known = pathKnown && value !== undefined && afters.every((a) => a[name] === value);
      changed.push(known ? { register: name, value: hex(value) } : { register: name });
    }
    const accessesAt = (l: SteppedLane) => l.accesses.filter((a) => a.index === i);
    const others = lanes.slice(1).map(accessesAt);
    const memory = accessesAt(first).map((a, k): TracedAccess => {
      const same = pathKnown && others.every((o) => o[k]?.kind === a.kind && o[k]?.address === a.address && o[k]?.size === a.size);
      const value = same && others.every((o) => o[k]!.value === a.value);
      return { access: a.kind, address: same ? hex(a.address) : undefined, size: a.size, value: value ? hex(a.value) : undefined };
    });
    const insn = code.decodeAt(step.pc);
    steps.push({
      index: i, pc: hex(step.pc), size: step.size, instruction: insn ? insnText(dump, insn) : undefined,
      symbol: dump.symbols.format(step.pc), changed, memory, pathKnown,
    });
  }
  return steps;
}

/** The modules of the traced code, for drcov's table (see `coverageModules`). */
function modulesOf(dump: Dump, steps: TraceStep[]): TraceModule[] {
  const blocks = basicBlocks(steps.map((s) => ({ pc: BigInt(s.pc), size: s.size })));
  const nameAt = (pc: bigint) => /^([^!+\s]+)!/.exec(dump.symbols.format(pc))?.[1];
  return coverageModules(blocks, dump.modules, nameAt).map((m) => ({ name: m.name, path: m.path, base: hex(m.base), end: hex(m.end) }));
}

function describeInjection(dump: Dump, injection: Injection, h: HypothesisReport | undefined, outcome: ReplayOutcome): string {
  const f = (v: bigint) => formatAddress(dump.arch, v);
  const what = h?.description ?? injection.kind;
  const flip = outcome.flipped ? ` (${f(outcome.flipped.from)} → ${f(outcome.flipped.to)}${outcome.flipped.known ? '' : ', in one lane'})` : '';
  return `${what}${flip}`;
}

/**
 * The verdict's window of `report`, replayed step by step with the
 * verdict's fault; undefined when the report has no window. `options` must
 * be the ones explain ran with (window length, step-overs).
 */
export async function windowTrace(dump: Dump, report: ExplainReport, options: ExplainOptions = {}): Promise<WindowTrace | undefined> {
  if (!report.window) return undefined;
  const disassembler = await createDisassembler(dump.arch);
  try {
    const code = new CodeReader(dump, disassembler);
    const window = await rebuildWindow(dump, report, options, code);
    if (typeof window === 'string') return { window: report.window.id, note: window, start: [], steps: [], end: report.window.end, modules: [] };
    try {
      const h = verdictHypothesis(report);
      const { injection, note } = injectionOf(dump, code, h, window);
      const { outcome, lanes } = window.replayer.runStepwise(injection);
      if (lanes.length === 0) {
        return { window: report.window.id, hypothesis: h?.id, note: 'this replay aborted the emulator in an earlier attempt', start: [], steps: [], end: report.window.end, modules: [] };
      }
      const starts = lanes.map((l) => startOf(l, injection));
      const start = Object.entries(starts[0]!).map(([register, value]): TracedValue =>
        starts.every((s) => s[register as RegisterName] === value) ? { register, value: hex(value!) } : { register });
      const steps = stepsOf(dump, code, lanes, outcome, injection);
      const f = (v: bigint) => formatAddress(dump.arch, v);
      return {
        window: report.window.id,
        hypothesis: h?.id,
        injection: injection && outcome.injected && 'index' in injection
          ? { index: injection.index, at: injection.kind === 'target-bit' || injection.kind === 'load-bit' ? 'during' : 'before', description: describeInjection(dump, injection, h, outcome) }
          : undefined,
        note,
        start,
        steps,
        end: describeEnd(outcome.result, f) + (outcome.resultKnown ? '' : ' (in one run; the runs disagree)'),
        modules: modulesOf(dump, steps),
      };
    } finally {
      window.replayer.dispose();
    }
  } finally {
    disassembler.close();
  }
}

/** `windowTrace`, or a trace that says why there is none: a failure here must not cost the report. */
export async function attachTrace(dump: Dump, report: ExplainReport, options: ExplainOptions): Promise<ExplainDocument> {
  const document: ExplainDocument = report;
  try {
    document.trace = await windowTrace(dump, report, options);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    document.trace = { window: report.window?.id ?? '', note: `the replay trace failed: ${why}`, start: [], steps: [], end: report.window?.end ?? '', modules: [] };
  }
  return document;
}
