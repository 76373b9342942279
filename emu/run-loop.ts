/**
 * One bounded run of an emulator, from its start to how it ended: the first
 * block's page mapped ahead, translations dropped when the counting or the
 * end address changed, the engine started again after each XSAVE-family
 * instruction stepped over, the observer's limit stop and owed
 * instructions, then the outcome (run-outcome.ts) and any error a hook
 * threw. The parts are the emulator's (emu/emulator.ts); this is the order
 * a run uses them in.
 *
 * @example
 * ```ts
 * const loop = new RunLoop(parts, host);
 * const result = loop.run(0x401000n, { maxInstructions: 100 }, observer, pager);
 * ```
 */
import { UC_ERR_OK } from './constants.ts';
import { EmulationError } from './errors.ts';
import { EngineStarter } from './engine-start.ts';
import { runOutcome } from './run-outcome.ts';
import { NO_ADDRESS, type RunExits } from './run-exits.ts';
import { DEFAULT_MAX_INSTRUCTIONS, DEFAULT_TIMEOUT_MS, type RunObserver, type RunOptions } from './run-options.ts';
import { pcRegister, type Arch, type RegisterName } from './registers.ts';
import type { GuestMemory } from './guest-memory.ts';
import type { HookRegistry } from './hooks.ts';
import type { LazyPager } from './lazy-pages.ts';
import type { RegisterFile } from './register-file.ts';
import type { RunResult } from './run-result.ts';
import type { RunStops } from './run-stops.ts';
import type { StartProbe } from './start-probe.ts';
import type { Watchdog } from './watchdog.ts';

/** Most XSAVE-family instructions one run steps over (each ends a Unicorn run, which is then resumed). */
const MAX_STATE_SKIPS = 64;

/** The emulator's parts a run drives. */
export interface RunParts {
  arch: Arch;
  engine: unknown;
  watchdog: Watchdog | undefined;
  registers: RegisterFile;
  memory: GuestMemory;
  hooks: HookRegistry;
  /** The engine's trap hooks (engine-slot.ts), whose errors a run rethrows too. */
  traps: HookRegistry;
  exits: RunExits;
  probe: StartProbe;
  stops: RunStops;
}

/** What a run asks of the emulator itself. */
export interface RunHost {
  pc(): bigint;
  writeRegister(name: RegisterName, value: bigint): void;
  isMapped(address: bigint): boolean;
  pageIn(address: bigint, length: number): boolean;
  /**
   * The pc between runs, known without asking Unicorn: undefined as a run
   * begins (hooks during it read the live pc), where it stopped once it ended.
   */
  setPcAtRest(pc: bigint | undefined): void;
}

export class RunLoop {
  private readonly starter: EngineStarter;
  private countedLastRun = false;
  /** The current run's observer and pager (the emulator's, as they were when the run began). */
  private observer?: RunObserver;
  private pager?: LazyPager;
  /** Whether a pc is on a page the memory source lacks (for runOutcome; made once, not per run). */
  private readonly unknownPage = (pc: bigint): boolean => this.pager?.isUnknownPage(pc) ?? false;

  constructor(
    private readonly parts: RunParts,
    private readonly host: RunHost,
  ) {
    this.starter = new EngineStarter(parts.engine, parts.watchdog, parts.registers);
  }

  /** Runs from `from` until a stop condition; always bounded. */
  run(from: bigint, options: RunOptions, observer: RunObserver | undefined, pager: LazyPager | undefined): RunResult {
    this.observer = observer;
    this.pager = pager;
    try {
      return this.runOnce(from, options);
    } finally {
      // Not kept past the run: the emulator may drop its observer (a recorder's buffers) before the next.
      this.observer = undefined;
      this.pager = undefined;
    }
  }

  private runOnce(from: bigint, options: RunOptions): RunResult {
    const { stops, probe, exits, hooks, memory } = this.parts;
    const budget = options.maxInstructions ?? DEFAULT_MAX_INSTRUCTIONS;
    const goal = options.count !== undefined && (budget === 0 || options.count <= budget);
    const limit = goal ? options.count! : budget;
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (limit === 0 && options.until === undefined && timeoutMs <= 0) {
      throw new EmulationError('run', 'A run needs an instruction budget, an end address or a time budget');
    }
    // The first block's page is mapped before the run, not by its fetch: a block whose fetch mapped its page at the
    // start of a run was run again unchanged after the drop of translations, so a limit inside it was missed.
    if (this.pager && this.observer?.takeOwed && !this.host.isMapped(from)) this.host.pageIn(from, 1);
    stops.begin();
    this.host.setPcAtRest(undefined);
    if (probe.aborts(from)) return { kind: 'trapped', vector: 6, name: 'invalid instruction', pc: from };
    this.observer?.begin(limit);
    // Only the runs without ft_run's answer ask the clock whether their time is up (see timedOut).
    const started = this.starter.answers ? 0 : performance.now();
    const timeoutUs = Math.max(0, Math.round(timeoutMs * 1000));
    const counting = !this.observer && limit > 0;
    hooks.codeHasRun ||= memory.any;
    // Unicorn counts instructions with a code hook it adds per run; blocks
    // translated while no code hook existed would skip it.
    // Unicorn 2.0.1 compiles the `until` check into translated blocks, so a
    // block translated for another end address would run straight past it.
    const until = options.until ?? NO_ADDRESS;
    if (counting !== this.countedLastRun || until !== exits.lastUntil) memory.flushTranslations();
    this.countedLastRun = counting;
    exits.lastUntil = until;
    exits.sync(until);
    let status = 0;
    // Unicorn ends a run at every invalid instruction, even one its hook stepped over: go on from there (bounded;
    // a counted run's count would be lost, so it ends there as #UD).
    for (let resumes = 0; ; resumes++) {
      stops.resumeAfterSkip = false;
      status = this.starter.start(resumes === 0 ? from : this.stoppedPc(), until, counting ? limit : 0, resumes === 0 ? timeoutUs : undefined, timeoutUs);
      if (!stops.resumeAfterSkip || stops.result || status !== UC_ERR_OK || resumes >= MAX_STATE_SKIPS) break;
      if (goal || this.starter.timedOut(timeoutMs, started) || this.stoppedPc() === until) break;
    }
    if (stops.resumeAfterSkip && goal && !stops.result) {
      stops.result = { kind: 'trapped', vector: 6, name: 'invalid instruction', pc: stops.skippedPc };
    }
    const stopPc = status === UC_ERR_OK && !stops.result ? this.observer?.limitStopPc?.() : undefined;
    if (stopPc !== undefined) {
      this.host.writeRegister(pcRegister(this.parts.arch), stopPc);
      this.starter.stoppedAt = stopPc;
    }
    const owed = status === UC_ERR_OK && !stops.result ? this.observer?.takeOwed?.() ?? 0 : 0;
    if (owed > 0) {
      // The observer's code hook over the cut block lets the owed instructions run: blocks are translated
      // again for it. Not UC_CTL_TB_FLUSH: in Unicorn 2.0.1 it touches the whole code buffer (about 1 GB of RSS).
      hooks.codeHasRun = true;
      memory.flushTranslations();
      status = this.starter.start(this.stoppedPc(), until, 0, undefined, timeoutUs);
      memory.flushTranslations();
    }
    this.starter.finish();
    hooks.codeHasRun = true;
    let result: RunResult;
    try {
      result = this.outcome(status, options, goal, limit, timeoutMs, started);
      if (this.observer?.settle) {
        this.observer.settle(result);
        result = { ...result, instructions: this.observer.executed() };
      }
    } finally {
      this.observer?.finish();
    }
    const trapError = this.parts.traps.takeError();
    const hookError = hooks.takeError() ?? trapError;
    if (hookError !== undefined) throw hookError;
    this.host.setPcAtRest(this.starter.stoppedAt);
    return result;
  }

  /** The pc where the last start stopped: as ft_run read it, or read now. */
  private stoppedPc(): bigint {
    return this.starter.stoppedAt ?? this.host.pc();
  }

  /** How a run ended (run-outcome.ts); the time and the observer's limit are asked only where that decision needs them. */
  private outcome(status: number, options: RunOptions, goal: boolean, limit: number, timeoutMs: number, started: number): RunResult {
    const { stops, exits } = this.parts;
    const pc = this.stoppedPc();
    const fetchStop = this.pager?.takeFetchStop();
    const clean = status === UC_ERR_OK && !stops.result && !fetchStop && pc !== options.until;
    const exit = clean ? exits.stopAt(pc) : undefined;
    const timedOut = clean && !exit && this.starter.timedOut(timeoutMs, started);
    return runOutcome({
      status, pc, goal, limit, exit, timedOut,
      instructions: this.observer?.executed(),
      stop: stops.result ?? fetchStop,
      until: options.until,
      stoppedOnItsOwn: clean && !exit && !timedOut && this.observer !== undefined && !this.observer.stoppedByLimit(),
      unknownPage: this.unknownPage,
    });
  }
}
