/**
 * Keeps every callback registered with Unicorn alive (koffi slots are
 * released only by `koffi.unregister`) and guards each one: an exception
 * thrown inside a hook stops emulation and is rethrown after `uc_emu_start`
 * returns, instead of being swallowed by koffi.
 *
 * @example
 * ```ts
 * const hooks = new HookRegistry(engine, checkStatus);
 * const id = hooks.add(UC_HOOK.CODE, CodeCallback, (uc, address, size) => {…});
 * hooks.remove(id);
 * ```
 */
import koffi from 'koffi';
import { unicorn, u64, CodeCallback, MemoryCallback } from './ffi.ts';
import { UC_HOOK } from './constants.ts';

type Check = (status: number, operation: string, address?: bigint) => void;

interface Registered {
  handle: bigint;
  callback: ReturnType<typeof koffi.register>;
}

/** A hook as handed back to callers: remove it with `HookRegistry.remove`. */
export type HookId = number;

export class HookRegistry {
  private readonly hooks = new Map<HookId, Registered>();
  private nextId = 1;
  /** The first exception a hook threw during the current run. */
  pendingError: unknown;
  /** True once code has run: later hooks need a translation-cache flush to take effect. */
  codeHasRun = false;

  constructor(
    private readonly engine: unknown,
    private readonly check: Check,
    /** Drops translated blocks of mapped memory (the emulator knows what is mapped). */
    private readonly dropTranslations: () => void,
  ) {}

  /**
   * Registers `fn` for hook `type` over [begin, end] (begin > end = everywhere).
   * `extra` is passed through to uc_hook_add's variadic tail (e.g. an instruction id).
   */
  add(
    type: number,
    proto: ReturnType<typeof koffi.proto>,
    fn: (...args: any[]) => unknown,
    range: { begin: bigint; end: bigint } = { begin: 1n, end: 0n },
    extra?: number,
  ): HookId {
    const uc = unicorn();
    const guarded = (...args: unknown[]) => {
      if (this.pendingError !== undefined) return false;
      try {
        return fn(...args);
      } catch (error) {
        this.pendingError = error;
        uc.uc_emu_stop(this.engine);
        return false;
      }
    };
    const callback = koffi.register(guarded, koffi.pointer(proto));
    const out = [0n];
    const status = extra === undefined
      ? uc.uc_hook_add(this.engine, out, type, callback, 0, range.begin, range.end)
      : uc.uc_hook_add(this.engine, out, type, callback, 0, range.begin, range.end, 'int', extra);
    if (status !== 0) koffi.unregister(callback);
    this.check(status, 'uc_hook_add');
    const id = this.nextId++;
    this.hooks.set(id, { handle: BigInt(out[0]!), callback });
    if (this.codeHasRun) this.flushTranslations();
    return id;
  }

  /** `fn` at the start of every basic block. */
  addBlock(fn: (address: bigint, size: number) => void): HookId {
    return this.add(UC_HOOK.BLOCK, CodeCallback, (_uc, address: number | bigint, size: number) => fn(u64(address), size));
  }

  /** `fn` before every instruction of [begin, end] (begin > end: everywhere). */
  addInstruction(fn: (address: bigint, size: number) => void, range?: { begin: bigint; end: bigint }): HookId {
    return this.add(UC_HOOK.CODE, CodeCallback, (_uc, address: number | bigint, size: number) => fn(u64(address), size), range);
  }

  /** `fn` for every memory read (with the value read) or write (with the value written). */
  addMemory(kind: 'read' | 'write', fn: (address: bigint, size: number, value: bigint) => void): HookId {
    const type = kind === 'read' ? UC_HOOK.MEM_READ_AFTER : UC_HOOK.MEM_WRITE;
    return this.add(type, MemoryCallback, (_uc, _type: number, address: number | bigint, size: number, value: number | bigint) =>
      fn(u64(address), size, BigInt.asUintN(size * 8, BigInt(value))),
    );
  }

  /** Removes a hook and releases its callback slot. */
  remove(id: HookId): void {
    const hook = this.hooks.get(id);
    if (!hook) return;
    this.hooks.delete(id);
    this.check(unicorn().uc_hook_del(this.engine, hook.handle), 'uc_hook_del');
    koffi.unregister(hook.callback);
  }

  /**
   * Drops translated blocks. Unicorn 2.0.1 silently skips a hook added after
   * a block was translated unless its translation is dropped.
   */
  flushTranslations(): void {
    this.dropTranslations();
  }

  /** Takes the error a hook threw during the last run, if any. */
  takeError(): unknown {
    const error = this.pendingError;
    this.pendingError = undefined;
    return error;
  }

  /** Removes every hook from the engine, which stays open (a pooled engine goes on without them). */
  removeAll(): void {
    for (const id of [...this.hooks.keys()]) this.remove(id);
  }

  /** Releases every callback; the engine must be closed or about to be. */
  dispose(): void {
    for (const hook of this.hooks.values()) koffi.unregister(hook.callback);
    this.hooks.clear();
  }
}
