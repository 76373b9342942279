/**
 * Snapshots: the CPU context (uc_context) plus copy-on-first-write of the
 * pages a run touches, so a restore rewrites only dirtied pages, not all of
 * memory (the native tracker keeps its copies across restores and rewrites
 * only the span of each page written). Dirty tracking runs in native code when the recorder library is
 * built (one C write hook) and in a JavaScript write hook otherwise.
 *
 * @example
 * ```ts
 * const snap = emu.snapshot();
 * emu.run({ until: end });
 * emu.restore(snap); // same registers, same memory as at snapshot()
 * ```
 */
import { unicorn } from './ffi.ts';
import { u64 } from './ffi.ts';
import { UC_HOOK } from './constants.ts';
import { MemoryCallback } from './ffi.ts';
import { EmulationError } from './errors.ts';
import { nativeDirty, nativeRecorder, nativeRun } from './native.ts';
import { PAGE_SIZE } from './lazy-pages.ts';
import type { Emulator } from './emulator.ts';

/** An opaque saved state; valid until the next snapshot is taken. */
export interface Snapshot {
  readonly generation: number;
}

interface DirtyTracker {
  clear(): void;
  restore(): number;
  /**
   * The CPU context and the dirty pages in one foreign call, when the native
   * library has it: the pages rewritten, -1 on overflow, or -(1000 + status)
   * when Unicorn refused the context.
   */
  restoreWithContext?(context: unknown): number;
  saveNow(page: bigint): void;
  /** The host wrote, mapped or unmapped [address, address + length) (Unicorn's write hook sees runs' writes only). */
  hostWrote(address: bigint, length: number): void;
  dispose(): void;
}

export class SnapshotManager {
  private readonly context: unknown;
  private readonly dirty: DirtyTracker;
  private generation = 0;

  constructor(private readonly emu: Emulator) {
    const uc = unicorn();
    const out: unknown[] = [null];
    emu.check(uc.uc_context_alloc(emu.engine, out), 'uc_context_alloc');
    this.context = out[0];
    this.dirty = nativeDirtyTracker(emu) ?? jsDirtyTracker(emu);
    // The write hook is new: translated blocks must be rebuilt to call it.
    emu.flushTranslations();
  }

  take(): Snapshot {
    this.emu.check(unicorn().uc_context_save(this.emu.engine, this.context), 'uc_context_save');
    this.dirty.clear();
    return { generation: ++this.generation };
  }

  restore(snapshot: Snapshot): number {
    if (snapshot.generation !== this.generation) {
      throw new EmulationError('restore', `Snapshot ${snapshot.generation} is stale: snapshot ${this.generation} was taken after it`);
    }
    let pages: number;
    if (this.dirty.restoreWithContext) {
      pages = this.dirty.restoreWithContext(this.context);
      if (pages <= -1000) this.emu.check(-1000 - pages, 'uc_context_restore');
    } else {
      this.emu.check(unicorn().uc_context_restore(this.emu.engine, this.context), 'uc_context_restore');
      pages = this.dirty.restore();
    }
    if (pages < 0) throw new EmulationError('restore', 'Dirty-page tracking ran out of memory; memory was not fully restored');
    return pages;
  }

  /** A page was mapped during a run: its source bytes are what restore must return to. */
  pageMapped(page: bigint): void {
    this.dirty.saveNow(page);
  }

  /** The host wrote, mapped or unmapped [address, address + length): see ft_dirty_host_write in emu/native/recorder.c. */
  hostWrote(address: bigint, length: number): void {
    this.dirty.hostWrote(address, length);
  }

  dispose(): void {
    this.dirty.dispose();
    unicorn().uc_context_free(this.context);
  }
}

function nativeDirtyTracker(emu: Emulator): DirtyTracker | undefined {
  const native = nativeRecorder();
  if (!native) return undefined;
  const handle = native.ft_dirty_new(emu.engine);
  if (!handle) return undefined;
  const run = nativeRun();
  const report = nativeDirty();
  return {
    clear: () => native.ft_dirty_clear(handle),
    restore: () => native.ft_dirty_restore(handle) as number,
    restoreWithContext: run && ((context) => run.ft_snapshot_restore(handle, context) as number),
    saveNow: (page) => native.ft_dirty_save(handle, page),
    // A library without the report keeps no copies across restores, so it needs none.
    hostWrote: (address, length) => report?.ft_dirty_host_write(handle, address, BigInt(length)),
    dispose: () => native.ft_dirty_free(handle),
  };
}

function jsDirtyTracker(emu: Emulator): DirtyTracker {
  const saved = new Map<bigint, Uint8Array>();
  const mask = ~BigInt(PAGE_SIZE - 1);
  const save = (page: bigint) => {
    if (!saved.has(page) && emu.isMapped(page)) saved.set(page, emu.read(page, PAGE_SIZE).slice());
  };
  const id = emu.hooks.add(UC_HOOK.MEM_WRITE, MemoryCallback, (_uc, _type: number, address: number | bigint, size: number) => {
    const at = u64(address);
    save(at & mask);
    save((at + BigInt(size) - 1n) & mask);
  });
  return {
    clear: () => saved.clear(),
    restore: () => {
      for (const [page, bytes] of saved) emu.write(page, bytes);
      const n = saved.size;
      saved.clear();
      return n;
    },
    saveNow: save,
    // Copies live from a run's first write to the restore, as the host's writes do before it: nothing to drop.
    hostWrote: () => {},
    dispose: () => emu.hooks.remove(id),
  };
}
