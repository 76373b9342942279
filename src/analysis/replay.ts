/**
 * Replays a window of code over a dump, faithfully or with one injected
 * fault, and says which of its results the dump determines.
 *
 * What the dump does not hold is *unknown*: registers a trap frame does not
 * save, registers and memory the window itself overwrites (their values at
 * its start are gone), bytes of mapped memory the dump left out. The window
 * runs on three engines that give every unknown a different fill (zeros,
 * ones, a hash of the address or name); a result that comes out the same in
 * all three does not depend on any unknown, and one that differs does. This
 * follows the emulator's own semantics of every instruction (flags, string
 * operations, implicit operands) instead of a table of ours, and catches
 * control flow that depends on an unknown (the runs take different paths).
 * A result that depends on an unknown only through a test that all three
 * fills pass the same way (`cmp rax, 1234` is false for 0, ~0 and the hash
 * alike) is taken as known: the fills are chosen so null checks and sign
 * tests do differ.
 *
 * Each engine is reused across runs: a snapshot at the window start, and
 * restores that rewrite only the pages a run dirtied.
 *
 * This file runs the lanes (plainly, traced or step by step) and guards
 * against replays that killed the emulator before. The parts:
 * replay-types.ts (the window, injections, outcomes), replay-lane.ts (one
 * engine, its fill, one run with an injection), replay-merge.ts (the lanes'
 * runs made one outcome), transfer-fault.ts and user-level-replay.ts (where
 * Unicorn, at CPL 0, differs from the CPU that crashed).
 *
 * @example
 * ```ts
 * const replayer = new Replayer(dump, { start, registers, unknown: new Set(['rbx']), maxInstructions: 64 });
 * const faithful = replayer.run();
 * const flipped = replayer.run({ kind: 'target-bit', index: 12, bit: 2 });
 * flipped.resultKnown; // true when the three runs ended the same way
 * replayer.dispose();
 * ```
 */
import type { Emulator } from '../../emu/emulator.ts';
import { EmulationError } from '../../emu/errors.ts';
import { registersOf, type RegisterName } from '../../emu/registers.ts';
import type { RunResult } from '../../emu/run-result.ts';
import type { Dump } from '../dumps/model.ts';
import type { CodeReader } from './code.ts';
import { FILLS, Lane } from './replay-lane.ts';
import { merge } from './replay-merge.ts';
import type { Injection, ReplayOutcome, ReplayWindow, RunOutcome, SteppedLane, TracedRead, TracedRun } from './replay-types.ts';
import { undefinedFlagsOfRun } from './undefined-flags.ts';

export { FILLS, registerFill } from './replay-lane.ts';
export { sameOutcome } from './replay-merge.ts';
export type { Injection, ReplayOutcome, ReplayWindow, RunOutcome, SteppedLane, StepOver, TracedRead, TracedRun } from './replay-types.ts';

/**
 * Watches replays one by one, so that a process running them in a worker
 * can tell which replay an abort inside the emulator killed, and skip it
 * when it starts again (see src/cli/isolated-explain.ts).
 */
export interface ReplayGuard {
  /** Called before each replay with a key stable across processes; false skips the replay. */
  before(key: string): boolean;
}

let guard: ReplayGuard | undefined;

/** Installs `next` as the replay guard of this process (undefined removes it). */
export function setReplayGuard(next: ReplayGuard | undefined): void {
  guard = next;
}

function injectionKey(start: bigint, injection: Injection | undefined): string {
  if (!injection) return `${start.toString(16)}/as-written`;
  return `${start.toString(16)}/${JSON.stringify(injection, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))}`;
}

/** The outcome of a replay the guard skipped: it killed the emulator in an earlier attempt. */
function skippedRun(start: bigint): RunOutcome {
  const error = new EmulationError('uc_emu_start', 'this replay aborted the emulator in an earlier attempt; skipped', {});
  return { result: { kind: 'error', error, pc: start }, final: {}, written: new Map(), injected: false };
}

/** Registers a replay reads back and compares: the architecture's, less selectors and bases. */
export function comparedRegisters(dump: Dump): RegisterName[] {
  const skip = new Set<RegisterName>(['cs', 'ss', 'ds', 'es', 'fs', 'gs', 'fs_base', 'gs_base', 'tpidr_el0']);
  return registersOf(dump.arch).filter((r) => !skip.has(r));
}

/** One window on up to three lanes (see FILLS), each run of it merged into one outcome. */
export class Replayer {
  private readonly lanes: Lane[];
  private readonly names: RegisterName[];

  constructor(
    readonly dump: Dump,
    readonly window: ReplayWindow,
    /** How many fills (1–3); one is enough when nothing is unknown. */
    lanes = 3,
  ) {
    this.names = comparedRegisters(dump);
    this.lanes = [];
    try {
      for (const fill of FILLS.slice(0, Math.max(1, Math.min(3, lanes)))) this.lanes.push(new Lane(dump, window, fill));
    } catch (error) {
      for (const lane of this.lanes) lane.dispose();
      throw error;
    }
  }

  /** The engine of the first lane (zeros), for callers that add hooks of their own. */
  get emu(): Emulator {
    return this.lanes[0]!.emu;
  }

  /**
   * Runs the window from its start, with `injection` if given, on `lanes`
   * engines (all by default; two are enough to reject a hypothesis early).
   */
  run(injection?: Injection, options: { lanes?: number; unknownMemory?: ReadonlyArray<{ address: bigint; length: number }> } = {}): ReplayOutcome {
    // Two lanes reject most hypotheses early: zeros and the hash, whose values rarely coincide (zeros and ones
    // often give the same flags, which would make a value look known that is not).
    const lanes = options.lanes === 2 && this.lanes.length === 3 ? [this.lanes[0]!, this.lanes[2]!] : this.lanes.slice(0, options.lanes ?? this.lanes.length);
    if (guard && !guard.before(injectionKey(this.window.start, injection))) {
      return merge(injection, lanes.map(() => skippedRun(this.window.start)), []);
    }
    if (injection?.kind === 'bytes') return this.runOnFreshLanes(injection, lanes, options.unknownMemory);
    const runs = lanes.map((lane) => lane.run(injection, this.names, options.unknownMemory));
    return merge(injection, runs, lanes[0]!.steppedOver);
  }

  /**
   * Changed code bytes run on engines of their own: after code has run, Unicorn 2.0.1 drops stale translations
   * reliably only with a full flush, which takes seconds and touches its whole code buffer (GBs of memory);
   * a new engine costs milliseconds.
   */
  private runOnFreshLanes(injection: Injection, like: Lane[], unknownMemory?: ReadonlyArray<{ address: bigint; length: number }>): ReplayOutcome {
    const fresh: Lane[] = [];
    try {
      for (const lane of like) {
        const f = new Lane(this.dump, this.window, lane.fill);
        f.stepMarks = lane.stepMarks;
        fresh.push(f);
      }
      const runs = fresh.map((lane) => lane.run(injection, this.names, unknownMemory));
      return merge(injection, runs, fresh[0]!.steppedOver);
    } finally {
      for (const lane of fresh) lane.dispose();
    }
  }

  /**
   * The faithful run of the first lane, instruction by instruction: each
   * executed pc, every memory read and write with the index of the
   * instruction that made it; then the other lanes, untraced, for the known
   * masks. Slower than `run` (a JavaScript hook per instruction); used once
   * per window. Given the `code` to decode the path with, the outcome also
   * holds the x86 flags the run left undefined at its end.
   */
  runTraced(injection?: Injection, options: { code?: CodeReader } = {}): TracedRun {
    const lane = this.lanes[0]!;
    const { code } = options;
    const undefinedFlags = (path: bigint[], ended: RunResult) => (code ? undefinedFlagsOfRun(code, path, ended) : undefined);
    if (guard && !guard.before(`${injectionKey(this.window.start, injection)}/traced`)) {
      const skipped = this.lanes.map(() => skippedRun(this.window.start));
      return { outcome: merge(injection, skipped, [], undefinedFlags([], skipped[0]!.result)), path: [], reads: [], writes: [] };
    }
    const emu = lane.emu;
    const path: bigint[] = [];
    const reads: TracedRead[] = [];
    const writes: TracedRun['writes'] = [];
    const step = emu.onInstruction((address) => path.push(address));
    const read = emu.onMemory('read', (address, size, value) => {
      reads.push({ index: path.length - 1, pc: path[path.length - 1] ?? 0n, address, size, value });
    });
    const write = emu.onMemory('write', (address, size) => writes.push({ index: path.length - 1, address, size }));
    lane.tracing = path;
    lane.stepMarks = [];
    let first: RunOutcome;
    try {
      first = lane.run(injection, this.names);
    } finally {
      lane.tracing = undefined;
      emu.removeHook(step);
      emu.removeHook(read);
      emu.removeHook(write);
      emu.flushTranslations();
    }
    for (const other of this.lanes.slice(1)) other.stepMarks = lane.stepMarks;
    const others = this.lanes.slice(1).map((l) => l.run(injection, this.names));
    return { outcome: merge(injection, [first, ...others], lane.steppedOver, undefinedFlags(path, first.result)), path, reads, writes };
  }

  /**
   * Every lane's run, instruction by instruction: the registers before each
   * instruction and every memory access, so that a reader can show what
   * each instruction changed and which of those values the dump determines
   * (the lanes agree). The slowest run there is (registers read at every
   * instruction on every lane): for showing one replay, not for searching.
   * Call after `runTraced` (the window's faithful run places step-overs).
   */
  runStepwise(injection?: Injection): { outcome: ReplayOutcome; lanes: SteppedLane[] } {
    if (guard && !guard.before(`${injectionKey(this.window.start, injection)}/stepwise`)) {
      return { outcome: merge(injection, this.lanes.map(() => skippedRun(this.window.start)), []), lanes: [] };
    }
    const stepped: SteppedLane[] = [];
    const runs: RunOutcome[] = [];
    for (const lane of this.lanes) {
      const emu = lane.emu;
      const record: SteppedLane = { steps: [], accesses: [] };
      const index = () => record.steps.length - 1;
      const hooks = [
        emu.onInstruction((pc, size) => record.steps.push({ pc, size, before: emu.readRegisters(this.names) })),
        emu.onMemory('read', (address, size, value) => record.accesses.push({ index: index(), kind: 'read', address, size, value })),
        emu.onMemory('write', (address, size, value) => record.accesses.push({ index: index(), kind: 'write', address, size, value })),
      ];
      try {
        runs.push(lane.run(injection, this.names));
      } finally {
        for (const hook of hooks) emu.removeHook(hook);
        emu.flushTranslations();
      }
      stepped.push(record);
    }
    return { outcome: merge(injection, runs, this.lanes[0]!.steppedOver), lanes: stepped };
  }

  dispose(): void {
    for (const lane of this.lanes) lane.dispose();
  }
}
