/**
 * The native recorder (emu/native/recorder.c), built at install time into
 * `build/native/librecorder.so`. Optional: without it faultline records
 * through JavaScript hooks, about twelve times slower (npm run bench).
 *
 * @example
 * ```ts
 * const native = nativeRecorder(); // undefined when not built
 * ```
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import koffi from 'koffi';
import { unicorn } from './ffi.ts';
import { PROJECT_ROOT } from './project-root.ts';

/** Where scripts/native-recorder.ts puts the built recorder. */
export const NATIVE_RECORDER_PATH = join(PROJECT_ROOT, 'build', 'native', 'librecorder.so');

export const FlushCallback = koffi.proto('void ft_flush_cb(uint32_t reason)');
export const NewBlockCallback = koffi.proto('uint32_t ft_new_block_cb(uint32_t id, uint64_t pc, uint32_t size)');

const SIGNATURES = {
  ft_recorder_new:
    'void *ft_recorder_new(void *uc, const int *reg_ids, int nregs, uint64_t mask, uint32_t capacity, void *flush, int want_regs, int want_mem)',
  ft_recorder_base: 'void *ft_recorder_base(void *r)',
  ft_recorder_block_size: 'size_t ft_recorder_block_size(void *r)',
  ft_recorder_offset: 'size_t ft_recorder_offset(void *r, int field)',
  ft_recorder_begin: 'void ft_recorder_begin(void *r, uint64_t limit)',
  ft_recorder_finish: 'void ft_recorder_finish(void *r)',
  ft_recorder_executed: 'uint64_t ft_recorder_executed(void *r)',
  ft_recorder_stopped_by_limit: 'uint32_t ft_recorder_stopped_by_limit(void *r)',
  ft_recorder_free: 'void ft_recorder_free(void *r)',
  ft_dirty_new: 'void *ft_dirty_new(void *uc)',
  ft_dirty_save: 'int ft_dirty_save(void *d, uint64_t page)',
  ft_dirty_clear: 'void ft_dirty_clear(void *d)',
  ft_dirty_restore: 'int ft_dirty_restore(void *d)',
  ft_dirty_count: 'uint32_t ft_dirty_count(void *d)',
  ft_dirty_free: 'void ft_dirty_free(void *d)',
  ft_fetch_new: 'void *ft_fetch_new(void *uc, int pc_reg)',
  ft_fetch_write: 'void ft_fetch_write(void *c, uint64_t address, uint32_t size)',
  ft_fetch_baseline: 'void ft_fetch_baseline(void *c)',
  ft_fetch_restore: 'void ft_fetch_restore(void *c)',
  ft_fetch_mark: 'int ft_fetch_mark(void *c, uint64_t address, const uint8_t *mask, uint32_t length)',
  ft_fetch_stopped: 'uint32_t ft_fetch_stopped(void *c, _Out_ uint64_t *missing, _Out_ uint64_t *pc)',
  ft_fetch_flag: 'uint32_t ft_fetch_flag(void *c)',
  ft_fetch_allow_reads: 'void ft_fetch_allow_reads(void *c, uint32_t allowed)',
  ft_fetch_free: 'void ft_fetch_free(void *c)',
  ft_watchdog_new: 'void *ft_watchdog_new(void *uc)',
  ft_watchdog_arm: 'void ft_watchdog_arm(void *w, uint64_t timeout_us)',
  ft_watchdog_timed_out: 'uint32_t ft_watchdog_timed_out(void *w)',
  ft_watchdog_free: 'void ft_watchdog_free(void *w)',
} as const;

/** The block recorder's functions: loaded apart, so a library built before them still serves the rest. */
const BLOCK_SIGNATURES = {
  ft_blocks_new:
    'void *ft_blocks_new(void *uc, const int *reg_ids, int nregs, uint64_t mask, uint32_t capacity, uint32_t mem_capacity, void *flush, void *new_block, int want_mem)',
  ft_blocks_base: 'void *ft_blocks_base(void *r)',
  ft_blocks_block_size: 'size_t ft_blocks_block_size(void *r)',
  ft_blocks_offset: 'size_t ft_blocks_offset(void *r, int field)',
  ft_blocks_begin: 'void ft_blocks_begin(void *r, uint64_t limit)',
  ft_blocks_take_owed: 'uint64_t ft_blocks_take_owed(void *r)',
  ft_blocks_stop_pc: 'uint64_t ft_blocks_stop_pc(void *r)',
  ft_blocks_finish: 'void ft_blocks_finish(void *r, uint32_t last_count)',
  ft_blocks_executed: 'uint64_t ft_blocks_executed(void *r)',
  ft_blocks_stopped_by_limit: 'uint32_t ft_blocks_stopped_by_limit(void *r)',
  ft_blocks_last: 'uint32_t ft_blocks_last(void *r)',
  ft_blocks_free: 'void ft_blocks_free(void *r)',
} as const;

export type NativeBlockLibrary = { [K in keyof typeof BLOCK_SIGNATURES]: KoffiFunction };

/** The background file writer (emu/native/recorder.c): loaded apart, as the block recorder. */
const WRITER_SIGNATURES = {
  ft_writer_new: 'void *ft_writer_new(int fd)',
  ft_writer_write: 'int ft_writer_write(void *w, const uint8_t *data, size_t len)',
  ft_writer_end_message: 'int ft_writer_end_message(void *w)',
  ft_writer_flush: 'int ft_writer_flush(void *w)',
  ft_writer_free: 'int ft_writer_free(void *w)',
} as const;

export type NativeWriterLibrary = { [K in keyof typeof WRITER_SIGNATURES]: KoffiFunction };

/** A run and a snapshot restore in one foreign call each (emu/emulator.ts): loaded apart, as the block recorder. */
const RUN_SIGNATURES = {
  ft_run: 'int ft_run(void *w, uint64_t begin, uint64_t until, uint64_t count, int arm, uint64_t timeout_us, int pc_reg, uint64_t *out)',
  ft_snapshot_restore: 'int ft_snapshot_restore(void *d, void *context)',
} as const;

export type NativeRunLibrary = { [K in keyof typeof RUN_SIGNATURES]: KoffiFunction };

/**
 * The host's writes told to the dirty-page tracker (emu/snapshot.ts): a
 * library that has it keeps page copies across restores. Loaded apart, as
 * the block recorder; an older library keeps no copies and needs no report.
 */
const DIRTY_SIGNATURES = {
  ft_dirty_host_write: 'void ft_dirty_host_write(void *d, uint64_t address, uint64_t length)',
} as const;

export type NativeDirtyLibrary = { [K in keyof typeof DIRTY_SIGNATURES]: KoffiFunction };

/**
 * Loads one group of the library's functions on first use: a library built
 * before the group was added still serves the others. Undefined when the
 * library is absent or lacks a function of the group.
 */
function optionalGroup<T>(signatures: Record<string, string>): () => T | undefined {
  let group: T | null | undefined;
  return () => {
    if (group !== undefined) return group ?? undefined;
    group = null;
    if (!nativeRecorder() || !library) return undefined;
    try {
      const lib = library;
      group = Object.fromEntries(Object.entries(signatures).map(([name, signature]) => [name, lib.func(signature)])) as T;
    } catch {
      group = null;
    }
    return group ?? undefined;
  };
}

/** The block recorder (emu/native/recorder.c), or undefined when the library is absent or older than it. */
export const nativeBlockRecorder = optionalGroup<NativeBlockLibrary>(BLOCK_SIGNATURES);

/** The background file writer, or undefined when the library is absent or older than it. */
export const nativeWriter = optionalGroup<NativeWriterLibrary>(WRITER_SIGNATURES);

/** The one-call run and restore, or undefined when the library is absent or older than them. */
export const nativeRun = optionalGroup<NativeRunLibrary>(RUN_SIGNATURES);

/** The dirty-page tracker's host-write report, or undefined when the library is absent or older than it. */
export const nativeDirty = optionalGroup<NativeDirtyLibrary>(DIRTY_SIGNATURES);

export type NativeRecorderLibrary = { [K in keyof typeof SIGNATURES]: KoffiFunction };
type KoffiFunction = ReturnType<ReturnType<typeof koffi.load>['func']>;

let loaded: NativeRecorderLibrary | null | undefined;
/** The loaded library, for the optional groups (loaded once). */
let library: ReturnType<typeof koffi.load> | undefined;

/** The native recorder library, or undefined when it was not built (or FAULTLINE_NO_NATIVE is set). */
export function nativeRecorder(): NativeRecorderLibrary | undefined {
  if (loaded !== undefined) return loaded ?? undefined;
  loaded = null;
  if (process.env.FAULTLINE_NO_NATIVE || !existsSync(NATIVE_RECORDER_PATH)) return undefined;
  unicorn(); // libunicorn must be loaded first: the recorder links against it by soname.
  try {
    const lib = koffi.load(NATIVE_RECORDER_PATH);
    library = lib;
    loaded = Object.fromEntries(
      Object.entries(SIGNATURES).map(([name, signature]) => [name, lib.func(signature)]),
    ) as NativeRecorderLibrary;
  } catch {
    loaded = null;
  }
  return loaded ?? undefined;
}
