/**
 * The wall-time budget of a run, enforced by the native watchdog (a C block
 * hook that checks the clock every 64 blocks). Unicorn 2.0.1's own timeout
 * overshoots by up to a second and breaks instruction counting afterwards.
 * Undefined when the native library is not built: runs then use Unicorn's.
 *
 * @example
 * ```ts
 * const dog = Watchdog.create(emu);
 * dog?.arm(100_000); // 100 ms
 * ```
 */
import { nativeRecorder, nativeRun, type NativeRecorderLibrary, type NativeRunLibrary } from './native.ts';

export class Watchdog {
  private constructor(
    private readonly lib: NativeRecorderLibrary,
    private readonly handle: unknown,
    private readonly runner: NativeRunLibrary | undefined,
  ) {}

  static create(emu: { engine: unknown }): Watchdog | undefined {
    const lib = nativeRecorder();
    if (!lib) return undefined;
    const handle = lib.ft_watchdog_new(emu.engine);
    return handle ? new Watchdog(lib, handle, nativeRun()) : undefined;
  }

  /** Arms for `timeoutUs` microseconds from now; 0 disarms. */
  arm(timeoutUs: number): void {
    this.lib.ft_watchdog_arm(this.handle, BigInt(timeoutUs));
  }

  /** True when runs can go through `start` (the library has ft_run). */
  get canStart(): boolean {
    return this.runner !== undefined;
  }

  /**
   * One uc_emu_start in one foreign call: arms for `timeoutUs` first unless
   * `timeoutUs` is undefined (a resumed run keeps its deadline), and leaves
   * the pc where the run stopped in `out[0]`, 1 in `out[1]` when the watchdog
   * stopped it. Returns Unicorn's status. Only when `canStart`.
   */
  start(begin: bigint, until: bigint, count: number, timeoutUs: number | undefined, pcId: number, out: BigUint64Array): number {
    return this.runner!.ft_run(this.handle, begin, until, count, timeoutUs === undefined ? 0 : 1, timeoutUs ?? 0, pcId, out) as number;
  }

  timedOut(): boolean {
    return this.lib.ft_watchdog_timed_out(this.handle) !== 0;
  }

  dispose(): void {
    this.lib.ft_watchdog_free(this.handle);
  }
}
