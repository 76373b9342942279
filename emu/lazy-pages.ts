/**
 * Maps memory on demand: the first access to an unmapped page maps it from
 * the `MemorySource`. A page the source lacks stops the run with a fault
 * ("memory at 0x… is not in the dump"). Pages the source holds only in part
 * (debugger transcripts) are mapped with their known bytes, and every read
 * or fetch of a byte that is neither known nor written by the run stops it
 * the same way, so an unknown value is never silently read as zero.
 *
 * @example
 * ```ts
 * const pager = new LazyPager(emu, source, hooks);
 * pager.install();
 * ```
 */
import { InvalidMemoryCallback, MemoryCallback, CodeCallback } from './ffi.ts';
import { u64 } from './ffi.ts';
import { UC_HOOK, UC_HOOK_MEM_PROT, UC_HOOK_MEM_UNMAPPED, UC_MEM, UC_PROT } from './constants.ts';
import { fillBytes, type Access, type MemorySource, type UnknownFill } from './memory-source.ts';
import type { HookRegistry } from './hooks.ts';
import type { RunResult } from './run-result.ts';
import { nativeRecorder } from './native.ts';

export const PAGE_SIZE = 0x1000;
const PAGE_MASK = ~BigInt(PAGE_SIZE - 1);

/** What the pager needs from the emulator. */
export interface PagerHost {
  /** The engine handle and the pc's register id, for the native checker. */
  engine: unknown;
  pcRegisterId: number;
  mapPage(page: bigint, bytes: Uint8Array, perms: number): void;
  readPc(): bigint;
  stopWith(result: RunResult): void;
  stop(): void;
  /** Called after a page is mapped during a run, so dirty tracking can save it. */
  pageMapped(page: bigint): void;
  isMapped(address: bigint): boolean;
}

interface PartialPage {
  /** 1 = the dump holds the byte; 2 = written by a run (known from then on). */
  state: Uint8Array;
}

function accessOf(type: number): Access {
  if (type === UC_MEM.WRITE_UNMAPPED || type === UC_MEM.WRITE || type === UC_MEM.WRITE_PROT) return 'write';
  if (type === UC_MEM.FETCH_UNMAPPED || type === UC_MEM.FETCH || type === UC_MEM.FETCH_PROT) return 'fetch';
  return 'read';
}

export class LazyPager {
  private readonly partial = new Map<bigint, PartialPage>();
  /** (page, offset) pairs of bytes first written since the baseline. */
  private writtenSinceBaseline: Array<PartialPage | number> = [];
  /** Pages the source was asked for and does not hold: replays hit them again and again. */
  private readonly absent = new Set<bigint>();
  /** Pages mapped with a fill and no known byte: readable, never executable. */
  private readonly unknownPages = new Set<bigint>();
  private partialHooksInstalled = false;
  /** Pages mapped from the source so far. */
  mappedPages = 0;
  /** The native known-bytes checker, when built: checks fetches, reads and writes of partial pages in C. */
  private fetchChecker?: { handle: unknown; lib: NonNullable<ReturnType<typeof nativeRecorder>> };

  constructor(
    private readonly host: PagerHost,
    private readonly source: MemorySource,
    private readonly hooks: HookRegistry,
    /** Unknown bytes of mapped memory read as this fill instead of stopping the run. */
    private readonly fill?: UnknownFill,
  ) {}

  install(): void {
    // Hooks added mid-run would need translations dropped while code runs, so
    // the partial-page checks go in up front for sources that can need them.
    if (this.source.readPartial || this.source.writesCreateMemory || this.fill) this.installPartialHooks();
    this.hooks.add(UC_HOOK_MEM_UNMAPPED, InvalidMemoryCallback, (_uc, type: number, address: number | bigint, size: number) =>
      this.onUnmapped(type, u64(address), size),
    );
    // An access the page's rights forbid (a write to read-only data, a guard page, executing data): the CPU faulted there too.
    this.hooks.add(UC_HOOK_MEM_PROT, InvalidMemoryCallback, (_uc, type: number, address: number | bigint, size: number) => {
      const at = u64(address);
      const access = accessOf(type);
      if (access === 'fetch' && this.isUnknownPage(at)) {
        this.host.stopWith({ kind: 'fault', address: at, access, size, pc: at, reason: 'not-in-dump', message: `code at 0x${at.toString(16)} is not in the dump` });
        return false;
      }
      this.host.stopWith({
        kind: 'fault', address: at, access, size, pc: access === 'fetch' ? at : this.host.readPc(), reason: 'protection',
        message: `${access} of 0x${at.toString(16)} is not allowed by the page's rights`,
      });
      return false;
    });
  }

  private onUnmapped(type: number, address: bigint, size: number): boolean {
    const page = address & PAGE_MASK;
    const access = accessOf(type);
    const full = this.absent.has(page) ? undefined : this.source.read(page, PAGE_SIZE);
    if (full) {
      this.host.mapPage(page, full, this.protection(page));
      this.mappedPages++;
      this.host.pageMapped(page);
      // The access that brought us here may be one the page's rights forbid: Unicorn faults it on retry.
      return true;
    }
    let part = full || this.absent.has(page) ? undefined : this.source.readPartial?.(page, PAGE_SIZE);
    const anyKnown = part?.known.some((k) => k !== 0) ?? false;
    if (!anyKnown && access === 'write' && this.source.writesCreateMemory) {
      part = { bytes: new Uint8Array(PAGE_SIZE), known: new Uint8Array(PAGE_SIZE) };
    }
    // Mapped at the crash, bytes not saved: with a fill, a page of unknown bytes.
    if (!anyKnown && this.fill && !this.absent.has(page) && this.source.mapped?.(address) === true) {
      part = { bytes: new Uint8Array(PAGE_SIZE), known: new Uint8Array(PAGE_SIZE) };
    }
    if (part && (part.known.some((k) => k !== 0) || access === 'write' || this.fill)) {
      const unknownPage = !part.known.some((k) => k !== 0);
      if (this.fill) {
        const filler = fillBytes(this.fill, page, PAGE_SIZE);
        for (let i = 0; i < PAGE_SIZE; i++) if (!part.known[i]) part.bytes[i] = filler[i]!;
      }
      // A page with no known byte is never code: not even translated (a fill is no instruction stream).
      if (unknownPage) this.unknownPages.add(page);
      this.host.mapPage(page, part.bytes, unknownPage ? this.protection(page) & ~UC_PROT.EXEC : this.protection(page));
      this.mappedPages++;
      this.partial.set(page, { state: part.known.map((k) => (k ? 1 : 0)) });
      this.fetchChecker?.lib.ft_fetch_mark(this.fetchChecker.handle, page, part.known, PAGE_SIZE);
      this.host.pageMapped(page);
      // The access that brought us here may itself touch unknown bytes.
      if (access === 'write') {
        this.markWritten(address, size);
        return true;
      }
      if (this.fill && access === 'read') return true;
      return !this.stopIfUnknown(access, address, size);
    }
    this.absent.add(page);
    const unmapped = this.source.mapped?.(address) === false;
    this.host.stopWith({
      kind: 'fault',
      address,
      access,
      size,
      pc: access === 'fetch' ? address : this.host.readPc(),
      reason: unmapped ? 'unmapped' : 'not-in-dump',
      message: unmapped ? `0x${address.toString(16)} was not mapped` : `memory at 0x${address.toString(16)} is not in the dump`,
    });
    return false;
  }

  /**
   * Maps the page holding `address` from the source now, as an access would;
   * false when the source cannot supply it.
   */
  mapNow(address: bigint): boolean {
    const page = address & PAGE_MASK;
    if (this.isMapped(page)) return true;
    const full = this.absent.has(page) ? undefined : this.source.read(page, PAGE_SIZE);
    if (full) {
      this.host.mapPage(page, full, this.protection(page));
      this.mappedPages++;
      this.host.pageMapped(page);
      return true;
    }
    const part = this.absent.has(page) ? undefined : this.source.readPartial?.(page, PAGE_SIZE);
    const anyKnown = part?.known.some((k) => k !== 0) ?? false;
    if (!part || (!anyKnown && !(this.fill && this.source.mapped?.(address) === true))) return false;
    if (this.fill) {
      const filler = fillBytes(this.fill, page, PAGE_SIZE);
      for (let i = 0; i < PAGE_SIZE; i++) if (!part.known[i]) part.bytes[i] = filler[i]!;
    }
    if (!anyKnown) this.unknownPages.add(page);
    this.host.mapPage(page, part.bytes, anyKnown ? this.protection(page) : this.protection(page) & ~UC_PROT.EXEC);
    this.mappedPages++;
    this.partial.set(page, { state: part.known.map((k) => (k ? 1 : 0)) });
    this.fetchChecker?.lib.ft_fetch_mark(this.fetchChecker.handle, page, part.known, PAGE_SIZE);
    this.host.pageMapped(page);
    return true;
  }

  /** The rights the source says the page had; all of them when it does not say. */
  private protection(page: bigint): number {
    const rights = this.source.rights?.(page);
    if (!rights) return UC_PROT.ALL;
    return (rights.read ? UC_PROT.READ : 0) | (rights.write ? UC_PROT.WRITE : 0) | (rights.execute ? UC_PROT.EXEC | UC_PROT.READ : 0);
  }

  private isMapped(page: bigint): boolean {
    return this.host.isMapped(page);
  }

  private installPartialHooks(): void {
    if (this.partialHooksInstalled) return;
    this.partialHooksInstalled = true;
    // Native: fetches, reads and writes are checked in C (about 20 ns each).
    const lib = nativeRecorder();
    const handle = lib?.ft_fetch_new(this.host.engine, this.host.pcRegisterId);
    if (lib && handle) {
      this.fetchChecker = { lib, handle };
      if (this.fill) lib.ft_fetch_allow_reads(handle, 1);
      return;
    }
    if (!this.fill) {
      this.hooks.add(UC_HOOK.MEM_READ, MemoryCallback, (_uc, _type: number, address: number | bigint, size: number) => {
        this.stopIfUnknown('read', u64(address), size);
      });
    }
    this.hooks.add(UC_HOOK.MEM_WRITE, MemoryCallback, (_uc, _type: number, address: number | bigint, size: number) => {
      this.markWritten(u64(address), size);
    });
    this.hooks.add(UC_HOOK.CODE, CodeCallback, (_uc, address: number | bigint, size: number) => {
      // Unicorn passes size 0xf1f1f1f1 for an instruction it cannot decode.
      this.stopIfUnknown('fetch', u64(address), size > 16 ? 1 : size);
    });
  }

  /**
   * Calls `visit` with the partial page and offset of each byte of
   * [address, address+size) (the page is undefined for bytes in full pages);
   * stops early when `visit` returns true, and returns that byte's address.
   */
  private eachByte(address: bigint, size: number, visit: (page: PartialPage | undefined, offset: number) => boolean | void): bigint | undefined {
    let pageAddress = address & PAGE_MASK;
    let page = this.partial.get(pageAddress);
    let offset = Number(address - pageAddress);
    for (let i = 0; i < size; i++, offset++) {
      if (offset === PAGE_SIZE) {
        pageAddress += BigInt(PAGE_SIZE);
        page = this.partial.get(pageAddress);
        offset = 0;
      }
      if (visit(page, offset)) return pageAddress + BigInt(offset);
    }
    return undefined;
  }

  /** The first byte of [address, address+size) that is in a partial page and unknown, if any. */
  unknownByte(address: bigint, size: number): bigint | undefined {
    return this.eachByte(address, size, (page, offset) => page !== undefined && page.state[offset] === 0);
  }

  private stopIfUnknown(access: Access, address: bigint, size: number): boolean {
    if (this.partial.size === 0) return false;
    const missing = this.unknownByte(address, size);
    if (missing === undefined) return false;
    this.host.stopWith({
      kind: 'fault',
      address: missing,
      access,
      size,
      pc: access === 'fetch' ? address : this.host.readPc(),
      reason: 'not-in-dump',
      message: `memory at 0x${missing.toString(16)} is not in the dump`,
    });
    this.host.stop();
    return true;
  }

  private markWritten(address: bigint, size: number): void {
    this.fetchChecker?.lib.ft_fetch_write(this.fetchChecker.handle, address, size);
    this.eachByte(address, size, (page, offset) => {
      if (page && page.state[offset] === 0) {
        page.state[offset] = 2;
        this.writtenSinceBaseline.push(page, offset);
      }
    });
  }

  /** True when `address` is in a page of unknown bytes (a fetch there is of code the dump lacks). */
  isUnknownPage(address: bigint): boolean {
    return this.unknownPages.has(address & PAGE_MASK);
  }

  /** After a run: the fault the native checker stopped it with, if any. */
  takeFetchStop(): RunResult | undefined {
    if (!this.fetchChecker || !this.fetchChecker.lib.ft_fetch_flag(this.fetchChecker.handle)) return undefined;
    const missing = [0n];
    const pc = [0n];
    const kind = this.fetchChecker.lib.ft_fetch_stopped(this.fetchChecker.handle, missing, pc);
    if (!kind) return undefined;
    const address = u64(missing[0]!);
    return {
      kind: 'fault', address, access: kind === 1 ? 'fetch' : 'read', size: 1, pc: u64(pc[0]!), reason: 'not-in-dump',
      message: `memory at 0x${address.toString(16)} is not in the dump`,
    };
  }

  dispose(): void {
    if (this.fetchChecker) this.fetchChecker.lib.ft_fetch_free(this.fetchChecker.handle);
    this.fetchChecker = undefined;
  }

  /** Bytes written by runs are known from now on: `restoreBaseline` returns here. */
  markBaseline(): void {
    this.fetchChecker?.lib.ft_fetch_baseline(this.fetchChecker.handle);
    this.writtenSinceBaseline = [];
  }

  /** Forgets bytes written since the baseline (snapshot restore): they are unknown again. */
  restoreBaseline(): void {
    this.fetchChecker?.lib.ft_fetch_restore(this.fetchChecker.handle);
    const list = this.writtenSinceBaseline;
    for (let i = 0; i < list.length; i += 2) (list[i] as PartialPage).state[list[i + 1] as number] = 0;
    this.writtenSinceBaseline = [];
  }
}
