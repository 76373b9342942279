/**
 * One uc_emu_start of a run, and what it leaves to know: where it stopped
 * and whether the wall-time budget ran out. Through the native library's
 * ft_run when it has it (one foreign call that arms the watchdog, runs and
 * reads the pc), else through Unicorn, whose own timeout then bounds the run
 * when there is no watchdog.
 *
 * @example
 * ```ts
 * const starter = new EngineStarter(engine, watchdog, registers);
 * const status = starter.start(0x401000n, NO_ADDRESS, 100, 10_000_000, 10_000_000);
 * starter.stoppedAt; // the pc after 100 instructions, when ft_run read it
 * ```
 */
import { unicorn } from './ffi.ts';
import type { RegisterFile } from './register-file.ts';
import type { Watchdog } from './watchdog.ts';

const UC_QUERY_TIMEOUT = 4;

export class EngineStarter {
  /** Where the last start stopped, when ft_run read it; undefined otherwise (ask Unicorn). */
  stoppedAt: bigint | undefined;
  /** Whether the watchdog stopped the last start, when ft_run said so; undefined otherwise. */
  private watchdogFired: boolean | undefined;
  /** Where ft_run leaves the pc and the watchdog's flag (reused). */
  private readonly out = new BigUint64Array(2);

  constructor(
    private readonly engine: unknown,
    private readonly watchdog: Watchdog | undefined,
    private readonly registers: RegisterFile,
  ) {}

  /** True when a start answers where it stopped and whether its time ran out (no clock needed). */
  get answers(): boolean {
    return this.watchdog?.canStart ?? false;
  }

  /**
   * Starts at `begin` for at most `count` instructions (0: no count) before
   * `until`; arms the watchdog for `armUs` first unless undefined (a resumed
   * run keeps its deadline). Returns Unicorn's status.
   */
  start(begin: bigint, until: bigint, count: number, armUs: number | undefined, timeoutUs: number): number {
    const dog = this.watchdog;
    if (dog?.canStart) {
      const out = this.out;
      const status = dog.start(begin, until, count, armUs, this.registers.pcId, out);
      this.stoppedAt = out[0]! & this.registers.mask;
      this.watchdogFired = out[1] !== 0n;
      return status;
    }
    this.stoppedAt = undefined;
    this.watchdogFired = undefined;
    if (armUs !== undefined) dog?.arm(armUs);
    return unicorn().uc_emu_start(this.engine, begin, until, dog ? 0 : timeoutUs, count);
  }

  /** Disarms a watchdog armed apart from the start (the runs without ft_run). */
  finish(): void {
    if (!this.watchdog?.canStart) this.watchdog?.arm(0);
  }

  /** Whether a run started at `started` (performance.now(), unused when `answers`) used up `timeoutMs`. */
  timedOut(timeoutMs: number, started: number): boolean {
    // The watchdog was armed after `started` for timeoutMs: before that much time passed (both clocks are
    // monotonic; 1 ms of slack for their resolutions) it cannot have fired, and asking is a native call.
    if (this.watchdogFired !== undefined) return this.watchdogFired;
    if (this.watchdog) return performance.now() - started >= timeoutMs - 1 && this.watchdog.timedOut();
    // Unicorn 2.0.1 never clears its timed-out flag, so the clock decides too.
    const flag = [0];
    unicorn().uc_query(this.engine, UC_QUERY_TIMEOUT, flag);
    return flag[0] !== 0 && timeoutMs > 0 && performance.now() - started >= timeoutMs * 0.9;
  }
}
