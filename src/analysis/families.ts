/**
 * The fault models, tried in one replay window: every single-bit flip of
 * every branch target the window executes, of every value it loads, of
 * every value it stores and loads back (memory), every skipped
 * instruction, every register before every instruction (when time allows),
 * and the faulting access's address. Each flip is replayed; those that
 * reproduce the trap with no mismatching check become hypotheses. A run on
 * two lanes rejects most flips before the full three-lane replay.
 *
 * @example
 * ```ts
 * const found = searchWindow(ctx);
 * found.hypotheses; // the flips that explain the dump
 * found.tried;      // { 'branch-target': 480, 'loaded-value': 1024, … }
 * ```
 */
import { pointerSize, registerMask, spRegister, type RegisterName } from '../../emu/registers.ts';
import { isMapped } from '../dumps/address-map.ts';
import { focusIndex } from './search-focus.ts';
import type { Dump } from '../dumps/model.ts';
import { formatAddress, hex } from '../format.ts';
import { compareOutcome, summarize, trapCheck, type CheckContext } from './checks.ts';
import type { CodeReader, Instruction } from './code.ts';
import type { FaultSite } from './fault-site.ts';
import type { Family, Hypothesis, HypothesisClass, HypothesisLocation } from './hypothesis.ts';
import { sameOutcome, type Injection, type ReplayOutcome, type TracedRun } from './replay.ts';
import { executable } from './values.ts';
import type { Window } from './window.ts';
import type { Effects } from '../disasm/effects.ts';
import { conditionUnknown, keepsWhatCouldBe, spStep, widenedDestination } from './search-probes.ts';
import { unknownBranchOf } from './unknown-branch.ts';
import { HARDWARE } from './verdict.ts';

export interface SearchContext {
  dump: Dump;
  /** Registers each instruction writes (for hypotheses that change which instructions run). */
  effects: Effects;
  site: FaultSite;
  code: CodeReader;
  window: Window;
  windowId: string;
  checkContext: CheckContext;
  /** What this search may spend; what it did not reach is reported. */
  budget: SearchBudget;
  /** Also search every register before every instruction (the widest family). */
  registers: boolean;
  /**
   * The window is the faulting instruction alone, replayed because the code
   * before it does not reproduce the dump: only the faults of that
   * instruction itself are searched (its address one bit off).
   */
  faultingInstructionOnly?: boolean;
  /**
   * The dump's stack pointer is not where the faulting function's code leaves
   * it (see frame-check.ts): the instructions that move it are searched first.
   */
  stackOff?: boolean;
}

/** A search's allowance: a wall-clock deadline and a number of fault replays, whichever runs out first. */
export interface SearchBudget {
  /** performance.now() after which the search stops. */
  deadline: number;
  /** Fault replays left (decremented by each one tried). */
  replays: number;
  /** Accounts left that may be replayed again with the memory they read before writing unknown (see tryInjection). */
  refinements: number;
}

export interface SearchResult {
  hypotheses: Hypothesis[];
  tried: Partial<Record<Family, number>>;
  /** Families the deadline cut short. */
  incomplete: Family[];
}

export interface HypothesisShape {
  id: string;
  class: HypothesisClass;
  location: HypothesisLocation;
  family: Family;
  description: string;
  bit?: number;
  address?: bigint;
  /** The value before and after the fault, when it is not a flipped value the replay sees (a faulting access's address). */
  values?: { expected: bigint; observed: bigint };
}

/** Registers searched for flips: general registers and flags (not the pc: a pc flip is a target flip). */
function searchedRegisters(dump: Dump): RegisterName[] {
  switch (dump.arch) {
    case 'x86': return ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp', 'esp', 'efl'];
    case 'x64': return ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'efl'];
    case 'arm64': return [...Array.from({ length: 31 }, (_, i) => `x${i}` as RegisterName), 'sp', 'nzcv'];
  }
}

const X86_FLAG_BITS = [0, 2, 4, 6, 7, 10, 11];
const NZCV_BITS = [28, 29, 30, 31];

/** Instructions from the focus within which branch targets are searched before anything else. */
const NEAR_FOCUS = 64;

/** Replays `injection`; a hypothesis when it reproduces the trap and nothing mismatches. */
export function tryInjection(ctx: SearchContext, injection: Injection, shape: HypothesisShape, tried: () => number): Hypothesis | undefined {
  const { dump, site, window } = ctx;
  // Two lanes settle whether the trap is reproduced (most flips do not); register values are judged on all three,
  // since two fills can agree by chance on a value that depends on what the dump lacks.
  ctx.budget.replays--;
  const quick = window.replayer.run(injection, { lanes: 2 });
  if (!quick.injected) return undefined;
  if (trapCheck(dump, site, quick).status !== 'match') return undefined;
  let outcome = window.replayer.run(injection);
  // A fault that changes nothing the replay ends with cannot be told from the code as written; a skip that moves the
  // stack pointer starts the window higher, where the frame checks (explain.ts) can tell it apart.
  const shifted = injection.kind === 'skip' && (injection.spShift ?? 0n) !== 0n;
  if (!shifted && sameOutcome(outcome, window.faithful.outcome)) return undefined;
  const first = judge(ctx, outcome, shape, tried);
  if (first || ctx.budget.refinements <= 0 || trapCheck(dump, site, outcome).status !== 'match') return first;
  const traced = window.replayer.runTraced(injection, { code: ctx.code });
  ctx.budget.refinements--;
  // Flags the path's last instructions left undefined (imul's ZF) are not evidence: an account that differs only
  // there is judged again without them.
  const undefinedFlags = traced.outcome.undefinedFlags ?? 0n;
  if (undefinedFlags !== 0n) {
    outcome = { ...outcome, undefinedFlags };
    const judged = judge(ctx, outcome, shape, tried);
    if (judged) return judged;
  }
  // Memory this account's path reads and later writes (`shl dword ptr [esi+0Fh]`, a counter it increments) holds
  // in the dump the value written, not the one read: the read is of a value the dump does not hold.
  const early = readBeforeWritten(traced, window.replay.unknownMemory ?? []);
  if (early.length === 0) return undefined;
  outcome = { ...window.replayer.run(injection, { unknownMemory: early }), undefinedFlags };
  return judge(ctx, outcome, shape, tried);
}

/**
 * The memory a traced run read before it first wrote it there, among what it
 * writes later, less what is already unknown at the window's start.
 */
export function readBeforeWritten(traced: TracedRun, unknown: ReadonlyArray<{ address: bigint; length: number }>): Array<{ address: bigint; length: number }> {
  const firstWrite = new Map<bigint, number>();
  for (const w of traced.writes) {
    for (let i = 0n; i < BigInt(w.size); i++) if (!firstWrite.has(w.address + i)) firstWrite.set(w.address + i, w.index);
  }
  const inUnknown = (a: bigint) => unknown.some((r) => a >= r.address && a < r.address + BigInt(r.length));
  const out: Array<{ address: bigint; length: number }> = [];
  for (const r of traced.reads) {
    let early = false;
    for (let i = 0n; i < BigInt(r.size); i++) {
      const written = firstWrite.get(r.address + i);
      if (written !== undefined && written >= r.index && !inUnknown(r.address + i)) early = true;
    }
    if (early && !out.some((o) => o.address === r.address)) out.push({ address: r.address, length: r.size });
  }
  return out.slice(0, MAX_EARLY_READS);
}

/** Memory ranges made unknown for one account, at most. */
const MAX_EARLY_READS = 16;

/** The hypothesis an outcome makes, or undefined when it does not explain the dump. */
export function judge(ctx: SearchContext, outcome: ReplayOutcome, shape: HypothesisShape, tried: () => number): Hypothesis | undefined {
  const checks = compareOutcome(ctx.dump, ctx.site, outcome, ctx.checkContext);
  const summary = summarize(checks);
  if (checks[0]!.status !== 'match' || summary.mismatch > 0) return undefined;
  const { values, ...rest } = shape;
  const flipped = outcome.flipped?.known ? outcome.flipped : undefined;
  return {
    ...rest,
    window: ctx.windowId,
    injection: outcome.injection,
    address: shape.address === undefined ? undefined : hex(shape.address),
    expected: values ? hex(values.expected) : flipped ? hex(flipped.from) : undefined,
    observed: values ? hex(values.observed) : flipped ? hex(flipped.to) : undefined,
    explains: true,
    summary,
    checks,
    evidence: [],
    tried: tried(),
    score: 0,
  };
}

function decodeAt(ctx: SearchContext, address: bigint): Instruction | undefined {
  return ctx.code.decodeAt(address);
}

/** How many instructions nearer the focus a task replaying every bit of a value must be to go before a one-replay task. */
const EXPENSIVE_STEPS = 3;

/** Runs every family in the window. */
export function searchWindow(ctx: SearchContext): SearchResult {
  const { dump, window } = ctx;
  const f = (v: bigint) => formatAddress(dump.arch, v);
  const faithful = window.faithful;
  const path = faithful.path;
  const width = pointerSize(dump.arch) * 8;
  const mask = registerMask(dump.arch);
  const hypotheses: Hypothesis[] = [];
  const tried: Partial<Record<Family, number>> = {};
  const incomplete: Family[] = [];
  const count = (family: Family, n: number) => {
    tried[family] = (tried[family] ?? 0) + n;
  };
  // A hardware account whose replay takes a branch on values the dump does not hold rests on a path the lanes only
  // guessed (unknown-branch.ts): it is not kept.
  const keep = (h: Hypothesis | undefined) => {
    if (h && HARDWARE.has(h.class) && h.injection && unknownBranchOf(ctx, h.injection)) return;
    if (h) hypotheses.push(h);
  };
  const outOfTime = () => ctx.budget.replays <= 0 || performance.now() > ctx.budget.deadline;
  const end = faithful.outcome.result;
  if (ctx.faultingInstructionOnly) {
    dataAddress(ctx, keep, count, tried);
    return { hypotheses, tried, incomplete };
  }

  // Every candidate of the families below is a task at one instruction of the faithful path. They run nearest the
  // focus first, so a bounded search spends itself where a fault that leads to this trap most likely struck.
  const focus = focusIndex(ctx);
  const tasks: Array<{ index: number; family: Family; order: number; run: () => void }> = [];
  const task = (index: number, family: Family, run: () => void) => tasks.push({ index, family, order: tasks.length, run });

  // Branch targets: after each transfer the window executes, the pc one bit off.
  let transfers = 0;
  for (let i = 0; i < path.length; i++) {
    const insn = decodeAt(ctx, path[i]!);
    if (!insn || (insn.kind !== 'call' && insn.kind !== 'jump' && insn.kind !== 'return')) continue;
    const target = i + 1 < path.length ? path[i + 1] : end.kind === 'fault' && end.access === 'fetch' ? end.address : undefined;
    if (target === undefined) continue;
    transfers++;
    task(i, 'branch-target', () => {
      for (let bit = 0; bit < width; bit++) {
        const flipped = (target ^ (1n << BigInt(bit))) & mask;
        // Only where the flipped target can lead to this fault: the faulting pc itself, or code that runs on to it.
        if (flipped !== ctx.site.pc && !executable(dump, ctx.code, flipped)) continue;
        keep(tryInjection(ctx, { kind: 'target-bit', index: i, bit }, {
          id: `bitflip:target@${insn.address.toString(16)}:${bit}`, class: 'cpu-fault', location: 'branch-target', family: 'branch-target',
          description: `bit ${bit} of the target of ${f(insn.address)} ${insn.text} flipped`, bit, address: insn.address,
        }, () => tried['branch-target']!));
      }
    });
  }
  count('branch-target', transfers * width);

  // Loaded values, and values stored then loaded back (a flip in memory between the two).
  const reads = faithful.reads.filter((r) => (r.size === 4 || r.size === 8) && r.index >= 0);
  const storedBefore = (address: bigint, index: number) => faithful.writes.some((w) => w.index < index && w.address <= address && address < w.address + BigInt(w.size));
  for (const r of reads) {
    const insn = decodeAt(ctx, r.pc);
    if (!insn) continue;
    // The CPU flipping what `ret` or `call [m]` loads as its target is a branch-target flip.
    const transfer = (insn.kind === 'return' || insn.kind === 'call' || insn.kind === 'jump') && dump.arch !== 'arm64';
    if (!transfer) {
      // A load that widens what it reads (movsxd rax, ldrsw x0) puts more bits in its register than it read: those
      // flip in the register, after the load.
      const widened = widenedDestination(dump.arch, insn, r.size, ctx.effects);
      count('loaded-value', (widened?.width ?? r.size * 8));
      task(r.index, 'loaded-value', () => {
        for (let bit = 0; bit < r.size * 8; bit++) {
          keep(tryInjection(ctx, { kind: 'load-bit', index: r.index, address: r.address, size: r.size, bit }, {
            id: `bitflip:load@${r.pc.toString(16)}:${bit}`, class: 'cpu-fault', location: 'loaded-value', family: 'loaded-value',
            description: `bit ${bit} of the ${r.size}-byte value loaded by ${f(r.pc)} from [${f(r.address)}] flipped in the CPU`, bit, address: r.pc,
          }, () => tried['loaded-value']!));
        }
        for (let bit = r.size * 8; widened && bit < widened.width && r.index + 1 < path.length; bit++) {
          keep(tryInjection(ctx, { kind: 'register-bit', index: r.index + 1, register: widened.register, bit }, {
            id: `bitflip:load@${r.pc.toString(16)}:${bit}`, class: 'cpu-fault', location: 'loaded-value', family: 'loaded-value',
            description: `bit ${bit} of ${widened.register} as loaded by ${f(r.pc)} from [${f(r.address)}] (${r.size} bytes, widened) flipped in the CPU`, bit, address: r.pc,
          }, () => tried['loaded-value']!));
        }
      });
    }
    if (storedBefore(r.address, r.index)) {
      count('memory-flip', r.size * 8);
      task(r.index, 'memory-flip', () => {
        for (let bit = 0; bit < r.size * 8; bit++) {
          keep(tryInjection(ctx, { kind: 'memory-bit', index: r.index, address: r.address, size: r.size, bit }, {
            id: `bitflip:memory@${r.address.toString(16)}:${bit}`, class: 'memory-corruption', location: 'memory', family: 'memory-flip',
            description: `bit ${bit} of the value at [${f(r.address)}] flipped in memory after it was stored, before ${f(r.pc)} loaded it`, bit, address: r.address,
          }, () => tried['memory-flip']!));
        }
      });
    }
  }

  // One instruction not executed. Registers only it writes then keep their start values: the recorded ones.
  const skippable = path.map((pc, index) => ({ pc, index, insn: decodeAt(ctx, pc) })).filter((s) => s.insn);
  const writers = new Map<RegisterName, number>();
  const writes = skippable.map((s) => ctx.effects.of(s.insn!.bytes, s.pc)?.written ?? []);
  // Writes up to the anchor: what runs after it in the faithful replay is the code as written, not the hypothesis's path.
  // A faulting anchor writes nothing: the CPU stopped on it.
  const lastWriter = window.anchor.kind === 'fault' ? window.anchorIndex - 1 : window.anchorIndex;
  for (const [n, w] of writes.entries()) if (skippable[n]!.index <= lastWriter) for (const r of w) writers.set(r, (writers.get(r) ?? 0) + 1);
  const recorded = ctx.site.context?.registers ?? {};
  const sp = spRegister(dump.arch);
  count('skip', skippable.length);
  for (const [n, s] of skippable.entries()) {
    task(s.index, 'skip', () => {
      const keepValues: Partial<Record<RegisterName, bigint>> = {};
      for (const r of writes[n]!) if (writers.get(r) === 1 && recorded[r] !== undefined && window.replay.unknown?.has(r)) keepValues[r] = recorded[r];
      const spShift = s.index < window.anchorIndex && writes[n]!.includes(sp) ? spStep(ctx, s.index) : undefined;
      const h = tryInjection(ctx, { kind: 'skip', index: s.index, size: s.insn!.size, keep: Object.keys(keepValues).length ? keepValues : undefined, spShift }, {
        id: `skip@${s.pc.toString(16)}`, class: 'cpu-fault', location: 'skip', family: 'skip',
        description: `${f(s.pc)} ${s.insn!.text} not executed`, address: s.pc,
      }, () => tried.skip!);
      // Without the instruction its destination keeps an older value: taking the recorded one for it is an assumption, not evidence.
      for (const [r, v] of Object.entries(keepValues)) h?.evidence.push({ text: `assumes ${r} already held ${f(v!)} before the window`, weight: -1.5 });
      // A conditional branch whose condition the dump does not settle may fall through as written: no fault at all.
      if (h && s.insn!.kind === 'conditional' && conditionUnknown(ctx, s.index, s.insn!)) {
        keep({
          ...h, id: `as-written:fall-through@${s.pc.toString(16)}`, class: 'software', location: 'none', family: 'as-written', tried: 1,
          description: `the CPU executed the code as written, ${f(s.pc)} ${s.insn!.text} falling through (its condition depends on values the dump does not hold); the fault is the software's`,
          address: undefined,
        });
        return;
      }
      // Registers it leaves at the values the dump recorded, where the code as written could have given them any value
      // (`mov rsi, rdi` with rdi not known) or one bit from it: the account is no fault, or a flip, not a skip.
      if (h && keepsWhatCouldBe(ctx, s.index, writes[n]!, keepValues)) return;
      keep(h);
    });
  }

  // Before the focus first, nearest first; then after it (a path that went on past where the dump's state was left).
  // A path that passes the faulting instruction (a loop the window replays from its start) is near the fault just
  // before its first visit too, but not before each: a long loop's every pass near would put each pass's loads
  // ahead of any load before the loop (a pointer loaded once, at the function's entry, and used on every pass).
  const visit = window.anchor.kind === 'fault' ? -1 : path.indexOf(ctx.site.pc);
  const distance = (index: number) => {
    const d = index <= focus ? focus - index : 2 * (index - focus);
    return visit >= index ? Math.min(d, visit - index) : d;
  };
  // Branch targets near the focus first: only flips that land in code are replayed, a few per transfer, while a
  // load or a store costs a replay per bit.
  // A stack pointer the code cannot have left where the dump has it: first the skips that would move it.
  const movesSp = new Set(ctx.stackOff ? skippable.filter((_, n) => writes[n]!.includes(sp)).map((s) => s.index) : []);
  const early = (t: { family: Family; index: number }) => (t.family === 'skip' && movesSp.has(t.index) ? -1 : t.family === 'branch-target' && distance(t.index) <= NEAR_FOCUS ? 0 : 1);
  // A load or a store costs a replay per bit, a skip one: a few instructions further back, the cheap ones go first.
  const cost = (t: { family: Family }) => (t.family === 'loaded-value' || t.family === 'memory-flip' ? EXPENSIVE_STEPS : 0);
  tasks.sort((a, b) => early(a) - early(b) || distance(a.index) + cost(a) - distance(b.index) - cost(b) || a.order - b.order);
  for (const [n, t] of tasks.entries()) {
    if (outOfTime()) {
      for (const rest of tasks.slice(n)) if (!incomplete.includes(rest.family)) incomplete.push(rest.family);
      break;
    }
    t.run();
  }

  // The faulting access's address one bit off (the registers say one address, the CPU reported another).
  dataAddress(ctx, keep, count, tried);

  // Any register before any instruction: the widest family, searched last and only while time lasts.
  if (ctx.registers) {
    const registers = searchedRegisters(dump);
    const bitsOf = (r: RegisterName) => (r === 'efl' ? X86_FLAG_BITS : r === 'nzcv' ? NZCV_BITS : Array.from({ length: width }, (_, b) => b));
    const last = Math.min(path.length, window.anchorIndex + 1);
    count('register', last * registers.reduce((n, r) => n + bitsOf(r).length, 0));
    outer: for (let index = 0; index < last; index++) {
      for (const register of registers) {
        if (outOfTime()) {
          incomplete.push('register');
          break outer;
        }
        for (const bit of bitsOf(register)) {
          keep(tryInjection(ctx, { kind: 'register-bit', index, register, bit }, {
            id: `bitflip:register@${path[index]!.toString(16)}:${register}:${bit}`, class: 'cpu-fault', location: 'register', family: 'register',
            description: `bit ${bit} of ${register} flipped before ${f(path[index]!)}`, bit, address: path[index],
          }, () => tried.register!));
        }
      }
    }
  }
  return { hypotheses, tried, incomplete };
}

/**
 * The faulting instruction accessed one address by its registers and the
 * dump records a fault at another, one bit away: the address was flipped on
 * its way to memory. Without a recorded fault address, every bit that
 * would land in unmapped memory fits.
 */
function dataAddress(ctx: SearchContext, keep: (h: Hypothesis | undefined) => void, count: (family: Family, n: number) => void, tried: Partial<Record<Family, number>>): void {
  const { dump, site, window } = ctx;
  if (site.kind !== 'access-violation' || window.anchor.kind !== 'fault' || site.access === 'execute') return;
  const f = (v: bigint) => formatAddress(dump.arch, v);
  const index = window.anchorIndex;
  const faithful = window.faithful;
  if (trapCheck(dump, site, faithful.outcome).status === 'match') return;
  const accesses = [
    ...faithful.reads.filter((r) => r.index === index).map((r) => ({ address: r.address, size: r.size, access: 'read' as const })),
    ...faithful.writes.filter((w) => w.index === index).map((w) => ({ address: w.address, size: w.size, access: 'write' as const })),
  ];
  const width = pointerSize(dump.arch) * 8;
  count('data-address', accesses.length * width);
  for (const a of accesses) {
    for (let bit = 0; bit < width; bit++) {
      const flipped = a.address ^ (1n << BigInt(bit));
      if (site.accessAddress !== undefined ? flipped !== site.accessAddress && !(site.accessAddress === 0n && bit >= 47) : isMapped(dump, flipped) !== false) continue;
      keep(tryInjection(ctx, { kind: 'access-fault', index, address: flipped, access: a.access }, {
        id: `bitflip:address@${site.pc.toString(16)}:${bit}`, class: 'cpu-fault', location: 'data-address', family: 'data-address',
        description: `bit ${bit} of the address ${f(site.pc)} ${a.access === 'write' ? 'wrote' : 'read'} flipped (${f(a.address)} → ${f(flipped)})`,
        bit, address: site.pc, values: { expected: a.address, observed: flipped },
      }, () => tried['data-address']!));
    }
  }
}
