/**
 * Every C function faultline calls in Unicorn 2, declared in one table, and
 * the callback prototypes of the hooks. Nothing else in the code base names
 * a C symbol. Loaded once, on first use.
 *
 * @example
 * ```ts
 * const uc = unicorn();
 * const status = uc.uc_emu_stop(engine);
 * ```
 */
import koffi from 'koffi';

type KoffiFunction = ReturnType<ReturnType<typeof koffi.load>['func']>;
import { locateUnicorn, unicornInstallHint } from './library.ts';
import { UnicornUnavailableError } from './errors.ts';

export const UcEngine = koffi.opaque('uc_engine');
export const UcContext = koffi.opaque('uc_context');

/*
 * Hot callbacks take the engine and user data as uint64_t, not pointers: a
 * pointer argument makes koffi allocate an External object per call.
 */
export const CodeCallback = koffi.proto('void ft_code_cb(uint64_t uc, uint64_t address, uint32_t size, uint64_t user)');
export const InterruptCallback = koffi.proto('void ft_intr_cb(uint64_t uc, uint32_t intno, uint64_t user)');
export const MemoryCallback = koffi.proto(
  'void ft_mem_cb(uint64_t uc, int type, uint64_t address, int size, int64_t value, uint64_t user)',
);
export const InvalidMemoryCallback = koffi.proto(
  'bool ft_mem_invalid_cb(uint64_t uc, int type, uint64_t address, int size, int64_t value, uint64_t user)',
);
export const InvalidInstructionCallback = koffi.proto('bool ft_insn_invalid_cb(uint64_t uc, uint64_t user)');

const SIGNATURES = {
  uc_version: 'unsigned int uc_version(_Out_ unsigned int *major, _Out_ unsigned int *minor)',
  uc_strerror: 'const char *uc_strerror(int code)',
  uc_open: 'int uc_open(int arch, int mode, _Out_ uc_engine **uc)',
  uc_close: 'int uc_close(uc_engine *uc)',
  uc_reg_read: 'int uc_reg_read(uc_engine *uc, int regid, _Out_ void *value)',
  uc_reg_write: 'int uc_reg_write(uc_engine *uc, int regid, const void *value)',
  // vals is an array of pointers, passed as their addresses (see RegisterBatch).
  uc_reg_read_batch: 'int uc_reg_read_batch(uc_engine *uc, const int *regs, const uint64_t *vals, int count)',
  uc_mem_map: 'int uc_mem_map(uc_engine *uc, uint64_t address, size_t size, uint32_t perms)',
  uc_mem_unmap: 'int uc_mem_unmap(uc_engine *uc, uint64_t address, size_t size)',
  uc_mem_read: 'int uc_mem_read(uc_engine *uc, uint64_t address, _Out_ void *bytes, size_t size)',
  uc_mem_write: 'int uc_mem_write(uc_engine *uc, uint64_t address, const void *bytes, size_t size)',
  uc_emu_start: 'int uc_emu_start(uc_engine *uc, uint64_t begin, uint64_t until, uint64_t timeout, size_t count)',
  uc_emu_stop: 'int uc_emu_stop(uc_engine *uc)',
  uc_hook_add: 'int uc_hook_add(uc_engine *uc, _Out_ uint64_t *hh, int type, void *callback, uint64_t user, uint64_t begin, uint64_t end, ...)',
  uc_hook_del: 'int uc_hook_del(uc_engine *uc, uint64_t hh)',
  uc_ctl: 'int uc_ctl(uc_engine *uc, uint32_t control, ...)',
  uc_query: 'int uc_query(uc_engine *uc, int type, _Out_ size_t *result)',
  uc_context_alloc: 'int uc_context_alloc(uc_engine *uc, _Out_ uc_context **context)',
  uc_context_save: 'int uc_context_save(uc_engine *uc, uc_context *context)',
  uc_context_restore: 'int uc_context_restore(uc_engine *uc, uc_context *context)',
  uc_context_free: 'int uc_context_free(uc_context *context)',
} as const;

type UnicornFunctions = { [K in keyof typeof SIGNATURES]: KoffiFunction };

export interface UnicornLibrary extends UnicornFunctions {
  path: string;
  version: string;
}

let loaded: UnicornLibrary | undefined;

/** The loaded Unicorn library; throws UnicornUnavailableError with an install hint when missing or older than 2. */
export function unicorn(): UnicornLibrary {
  if (loaded) return loaded;
  const location = locateUnicorn();
  if (!location) throw new UnicornUnavailableError(unicornInstallHint());
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load(location.path);
  } catch (error) {
    throw new UnicornUnavailableError(`Cannot load ${location.path}: ${(error as Error).message}`);
  }
  const functions = Object.fromEntries(
    Object.entries(SIGNATURES).map(([name, signature]) => [name, lib.func(signature)]),
  ) as UnicornFunctions;
  const major = [0];
  const minor = [0];
  functions.uc_version(major, minor);
  if ((major[0] ?? 0) < 2) {
    throw new UnicornUnavailableError(`${location.path} is Unicorn ${major[0]}.${minor[0]}; faultline needs Unicorn 2 (libunicorn2)`);
  }
  loaded = { ...functions, path: location.path, version: `${major[0]}.${minor[0]}` };
  return loaded;
}

/** Unicorn's text for an error code, e.g. "Invalid memory mapping (UC_ERR_MAP)". */
export function ucErrorText(code: number): string {
  return String(unicorn().uc_strerror(code));
}

/**
 * A 64-bit value from a callback as an unsigned bigint. koffi hands uint64
 * arguments over as numbers when small and as (sometimes negative) bigints
 * when large, so kernel addresses need this.
 */
export function u64(value: number | bigint): bigint {
  return BigInt.asUintN(64, BigInt(value));
}
