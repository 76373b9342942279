/**
 * The check before every x86 and x64 run that its first instruction is not
 * one whose translation aborts Unicorn 2.0.1 (unicorn-quirks.ts), with one
 * shortcut: replays from a restore that start where the last one did, on
 * memory as every restore of the snapshot leaves it, were probed already.
 *
 * @example
 * ```ts
 * const probe = new StartProbe('x64', engine, memory);
 * probe.aborts(0x401000n); // false for an ordinary instruction
 * ```
 */
import { unicorn } from './ffi.ts';
import { UC_ERR_OK } from './constants.ts';
import { abortsUnicorn } from './unicorn-quirks.ts';
import type { GuestMemory } from './guest-memory.ts';
import type { Arch } from './registers.ts';

export class StartProbe {
  /** True from a restore until the next run or host change of memory. */
  private asRestored = false;
  /** A start found harmless while memory was as restored; undefined once the host changed memory or a snapshot was taken. */
  private harmlessAsRestored: bigint | undefined;
  /** The first bytes of a run's start (reused). */
  private readonly bytes = new Uint8Array(16);

  constructor(
    private readonly arch: Arch,
    private readonly engine: unknown,
    private readonly memory: GuestMemory,
  ) {}

  /** True when the instruction at `from` would abort Unicorn's translator. A run follows: memory is no longer as restored. */
  aborts(from: bigint): boolean {
    const asRestored = this.asRestored;
    this.asRestored = false;
    if (this.arch === 'arm64') return false;
    if (asRestored && from === this.harmlessAsRestored) return false;
    // One read into a reused buffer; near the end of a mapping, as many bytes as are mapped.
    const probe = this.bytes;
    if (unicorn().uc_mem_read(this.engine, from, probe, probe.length) === UC_ERR_OK) {
      const aborts = abortsUnicorn(this.arch, probe);
      if (!aborts && asRestored) this.harmlessAsRestored = from;
      return aborts;
    }
    return this.memory.isMapped(from) && abortsUnicorn(this.arch, this.memory.tryRead(from, probe.length));
  }

  /** A snapshot was restored: memory is as every restore of it leaves it. */
  restored(): void {
    this.asRestored = true;
  }

  /** A snapshot was taken: what restores return to is new. */
  snapshotTaken(): void {
    this.harmlessAsRestored = undefined;
  }

  /** The host wrote, mapped or unmapped memory: restores may return to other bytes. */
  hostChanged(): void {
    this.asRestored = false;
    this.harmlessAsRestored = undefined;
  }
}
