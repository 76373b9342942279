/**
 * Checks that count across an explain's accounts rather than inside one
 * replay: where a transfer landed against where the dump says control went,
 * whether the faulting access can fault at all as written, and a replayed
 * contradiction of the fault's own pattern. Each returns a check, or
 * undefined (an empty list) when the dump cannot say.
 *
 * @example
 * ```ts
 * const landing = landingCheck(ctx);
 * if (landing) for (const h of asWritten) addCheck(h, landing);
 * ```
 */
import { pcRegister, spRegister, type RegisterName } from '../../emu/registers.ts';
import type { Dump } from '../dumps/model.ts';
import { formatAddress } from '../format.ts';
import { comparedMask, memoryChecks, registerChecks, summarize, trapCheck, type Check } from './checks.ts';
import { readBeforeWritten, type SearchContext } from './families.ts';
import { userLevelAt, type FaultSite } from './fault-site.ts';
import type { Hypothesis } from './hypothesis.ts';
import { Replayer } from './replay.ts';
import type { SteppedLane } from './replay-types.ts';
import { faithfulLanes, unknownBranchOf } from './unknown-branch.ts';
import { effectsAt } from './code.ts';
import { writtenOnPath } from './window-recovery.ts';

/**
 * The fault's own pattern says the code as written led there. When the code
 * as written, replayed, reaches this very trap in some window but with
 * values the dump contradicts, and in no window without, the replay
 * outweighs the pattern: a mismatch for the unreplayed account.
 */
export function replayedContradiction(hypotheses: Hypothesis[]): Check[] {
  const replayed = hypotheses.filter((h) => h.id === 'as-written' && h.checks[0]?.what === 'trap' && h.checks[0].status === 'match');
  if (replayed.length === 0 || replayed.some((h) => h.explains)) return [];
  // The window where the code as written comes closest: fewest values it gets wrong.
  const wrongIn = (h: Hypothesis) => h.checks.filter((c) => c.status === 'mismatch' && c.basis === 'computed');
  const h = replayed.sort((a, b) => wrongIn(a).length - wrongIn(b).length)[0]!;
  return wrongIn(h).map((c) => ({
    ...c, what: `${c.what} (replayed in ${h.window})`,
    note: `the code as written, replayed in window ${h.window}, reaches this trap with ${c.what} ${c.actual ?? '?'}, not ${c.expected ?? '?'}`,
  }));
}

/** Adds a check that counts against `h` (a mismatch: it no longer explains the dump). */
export function addCheck(h: Hypothesis, check: Check): void {
  h.checks = [...h.checks, check];
  h.summary = summarize(h.checks);
  if (check.status === 'mismatch') h.explains = false;
}

/**
 * For a window anchored at a transfer: when the dump shows the machine
 * exactly as the transfer left it (every register the window computed
 * matches the state just after it) but at another pc, the code as written
 * went elsewhere. A mismatch for the accounts in which it ran as written.
 */
export function landingCheck(ctx: SearchContext): Check | undefined {
  const { dump, site, window } = ctx;
  if (window.anchor.kind !== 'transfer' || window.anchorIndex < 0) return undefined;
  // A callee that does not touch the stack (a leaf) reaches the fault with the stack as the call left it: when the
  // code as written gets to this very trap, nothing says it went elsewhere.
  if (trapCheck(dump, site, window.faithful.outcome).status === 'match') return undefined;
  const after = window.replayer.run({ kind: 'stop', index: window.anchorIndex + 1 });
  if (!after.injected || !after.resultKnown) return undefined;
  const landed = after.final[pcRegister(dump.arch)];
  if (landed === undefined || landed === site.pc || !after.knownRegisters.has(pcRegister(dump.arch))) return undefined;
  // The stack pointer and the return address the transfer left must be as recorded; other registers may differ
  // (that difference is what a fault model has to explain).
  const registers = registerChecks(dump, site, after, ctx.checkContext);
  const sp = registers.find((c) => c.what === spRegister(dump.arch));
  const lr = dump.arch === 'arm64' ? registers.find((c) => c.what === 'x30') : undefined;
  const slot = memoryChecks(dump, after);
  const kept = sp?.status === 'match' && (lr ? lr.status === 'match' : slot.some((c) => c.status === 'match') && slot.every((c) => c.status !== 'mismatch'));
  if (!kept) return undefined;
  const f = (v: bigint) => formatAddress(dump.arch, v);
  return {
    what: 'landing', expected: f(site.pc), actual: f(landed), status: 'mismatch', basis: 'computed',
    note: `the dump shows the machine just as ${window.anchor.instruction.text} left it, but at ${f(site.pc)}; as written it goes to ${f(landed)}`,
  };
}

/**
 * A mismatch when the faulting load or store, replayed alone from the
 * recorded registers, runs without faulting (its address is mapped and
 * allowed); undefined when it faults, or when the dump cannot say.
 */
export function faultingAccessReplays(dump: Dump, site: FaultSite): Check | undefined {
  if (site.kind !== 'access-violation' || site.access === 'execute' || !site.context) return undefined;
  const replayer = new Replayer(dump, { start: site.pc, registers: site.context.registers, unknown: new Set(site.context.unknown ?? []), maxInstructions: 1, fault: site.pc, userLevel: userLevelAt(dump, site) });
  try {
    const outcome = replayer.run();
    if (!outcome.resultKnown || outcome.result.kind === 'fault' || outcome.result.kind === 'error' || outcome.result.kind === 'trapped') return undefined;
    const f = (v: bigint) => formatAddress(dump.arch, v);
    return {
      what: 'faulting access', expected: site.summary, actual: `${f(site.pc)} runs from the recorded registers without faulting`, status: 'mismatch', basis: 'computed',
      note: 'the code as written cannot fault here: its address is mapped and allowed',
    };
  } finally {
    replayer.dispose();
  }
}

/**
 * A window that starts further back, at a call the stack shows, whose code
 * as written comes to another window's start with other values than that
 * window takes from the dump (on every pass, the stack pointer agreeing) and
 * runs the faulting instruction without faulting, on values it knows: the
 * code as written, entered the way the dump says it was, does not make the
 * shorter window's start state. A mismatch for every account of the shorter
 * window. Not when that run wrote, before its first pass, memory it had
 * read (the dump holds the later value), or went through a branch its lanes
 * agreed on by chance. A fetch fault at an address that is no code has no
 * pass: then only the window of the function the longer window's call
 * enters is judged, and every entry into it must differ.
 */
export function coveringChecks(contexts: SearchContext[], hypotheses: Hypothesis[]): Array<{ window: string; check: Check }> {
  const out: Array<{ window: string; check: Check }> = [];
  for (const a of contexts) {
    const { window, site } = a;
    const f = (v: bigint) => formatAddress(a.dump.arch, v);
    if (window.anchor.kind !== 'transfer' || window.anchor.instruction.kind !== 'call' || !window.faithful.outcome.resultKnown) continue;
    if (a.checkContext.arrival?.status === 'mismatch') continue;
    const own = hypotheses.find((h) => h.window === a.windowId && h.id === 'as-written');
    // A run that ends where the dump cannot judge it (an instruction the emulator lacks, in the code it went on to)
    // shows the passes it made: the code as written did not fault on them.
    if (!own || own.checks[0]?.what !== 'trap' || own.checks[0].status === 'match') continue;
    // A pass counts once the code went on past it (a transfer to an address that cannot be fetched faults there).
    // A fetch fault at an address that is no code has no pass to make: every entry into the shorter window counts.
    const path = window.faithful.path;
    const passes = path.flatMap((pc, i) => (pc === site.pc && i + 1 < path.length ? [i] : []));
    const fetchFault = site.access === 'execute' && passes.length === 0;
    if ((passes.length === 0 && !fetchFault) || unknownBranchOf(a, undefined)) continue;
    // Memory the run reads and later writes holds, in the dump, the value written last: the start's only if nothing
    // wrote it before the fault, on the pass that faulted. So the run must not write, before its first pass (or its
    // first entry into the shorter window), what it read: later passes compute from what the first one had.
    const readEarly = (until: number) => readBeforeWritten({
      ...window.faithful, reads: window.faithful.reads.filter((r) => r.index <= until), writes: window.faithful.writes.filter((w) => w.index <= until),
    }, window.replay.unknownMemory ?? []).length > 0;
    if (!fetchFault && readEarly(passes[0]!)) continue;
    const last = fetchFault ? path.length - 1 : passes[passes.length - 1]!;
    // Without a pass, nothing says which registers the code changed on its way to the fault (the dump's values may
    // be later ones): only the function the window's own call enters is judged, at its entry.
    const called = path[path.indexOf(window.anchor.instruction.address) + 1];
    for (const b of contexts) {
      if (b === a || (fetchFault && b.window.start !== called)) continue;
      const entries = path.flatMap((pc, i) => (pc === b.window.start && i <= last ? [i] : []));
      if (entries.length === 0 || (fetchFault && readEarly(entries[0]!))) continue;
      const lanes = faithfulLanes(a);
      // Without a pass, what the shorter window's code writes before the fault is a later value in the dump, and so
      // is what the longer one computed from it: only the rest is compared.
      const stale = fetchFault ? staleAt(a, entries[0]!, new Set(writtenOnPath(b.code, b.effects, [...new Set(b.window.faithful.path)]))) : new Set<RegisterName>();
      const differs = entries.map((i) => startDiffers(a, lanes, i, b)?.filter((r) => !stale.has(r)));
      // The two windows must agree on the frame where one enters the other: a stack pointer solved differently (a
      // call found by its link register, the callee's frame not yet undone) makes one of them wrong, not the code.
      // And a pass that comes with the very state the shorter window starts from refutes nothing of it (a fault in
      // the access itself, on one pass of a loop).
      const framed = differs.filter((d): d is RegisterName[] => d !== undefined);
      if (framed.length === 0 || framed.some((d) => d.length === 0)) continue;
      const names = [...new Set(framed.flat())].slice(0, 3).join(', ');
      out.push({
        window: b.windowId,
        check: {
          what: 'arrival', expected: `code that comes to ${f(site.pc)} and faults`, status: 'mismatch', basis: 'computed',
          note: `the code as written from ${f(window.start)} (window ${a.windowId}) comes to ${f(b.window.start)} with other values of ${names} than the window starts from, and ${fetchFault ? `does not go to ${f(site.pc)}` : `runs ${f(site.pc)} ${passes.length === 1 ? 'once' : `${passes.length} times`} without faulting`}`,
        },
      });
    }
  }
  return out;
}

/**
 * Registers (not flags) the shorter window `b` starts with from the dump
 * that every lane of `a` has otherwise at path index `at`; undefined when
 * the two disagree on the stack pointer there.
 */
function startDiffers(a: SearchContext, lanes: SteppedLane[], at: number, b: SearchContext): RegisterName[] | undefined {
  const arch = a.dump.arch;
  const sp = spRegister(arch);
  const start = b.window.replay.registers;
  const seen = (name: RegisterName) => {
    const values = lanes.map((lane) => lane.steps[at]?.before[name]);
    return values.every((v) => v !== undefined && v === values[0]) ? values[0] : undefined;
  };
  if (lanes.length === 0 || start[sp] === undefined || seen(sp) !== start[sp]) return undefined;
  const out: RegisterName[] = [];
  for (const [name, value] of Object.entries(start) as Array<[RegisterName, bigint | undefined]>) {
    if (value === undefined || name === sp || name === pcRegister(arch) || name === 'efl' || name === 'nzcv' || b.window.replay.unknown?.has(name)) continue;
    const there = seen(name);
    if (there !== undefined && ((there ^ value) & comparedMask(arch, name)) !== 0n) out.push(name);
  }
  return out;
}

/**
 * Of `stale`, registers `a`'s start takes from the dump, those still holding
 * such a value at path index `at`, or a value computed from one.
 */
function staleAt(a: SearchContext, at: number, stale: ReadonlySet<RegisterName>): Set<RegisterName> {
  const tainted = new Set([...stale].filter((r) => !a.window.replay.unknown?.has(r)));
  for (const pc of a.window.faithful.path.slice(0, at)) {
    const effect = effectsAt(a.code, a.effects, pc);
    if (!effect) return new Set(stale);
    const reads = effect.read.some((r) => tainted.has(r));
    for (const r of effect.written) {
      if (reads) tainted.add(r);
      else tainted.delete(r);
    }
  }
  return tainted;
}
