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
import { nativeRecorder, type NativeRecorderLibrary } from './native.ts';

export class Watchdog {
  private constructor(
    private readonly lib: NativeRecorderLibrary,
    private readonly handle: unknown,
  ) {}

  static create(emu: { engine: unknown }): Watchdog | undefined {
    const lib = nativeRecorder();
    if (!lib) return undefined;
    const handle = lib.ft_watchdog_new(emu.engine);
    return handle ? new Watchdog(lib, handle) : undefined;
  }

  /** Arms for `timeoutUs` microseconds from now; 0 disarms. */
  arm(timeoutUs: number): void {
    this.lib.ft_watchdog_arm(this.handle, BigInt(timeoutUs));
  }

  timedOut(): boolean {
    return this.lib.ft_watchdog_timed_out(this.handle) !== 0;
  }

  dispose(): void {
    this.lib.ft_watchdog_free(this.handle);
  }
}
