/**
 * The emulator's guest memory as Unicorn holds it: the mapped ranges (kept
 * here, since Unicorn 2.0.1 answers overlaps with a bare error), reads and
 * writes by the host, and dropping the translated blocks of mapped code.
 * What a write means beyond the bytes (snapshots, poisoned starts) is the
 * emulator's concern (emu/emulator.ts).
 *
 * @example
 * ```ts
 * const memory = new GuestMemory(engine, checkStatus, hooks);
 * memory.map(0x1000n, 0x1000);
 * memory.write(0x1000n, Uint8Array.of(0x90));
 * memory.read(0x1000n, 1); // Uint8Array [0x90]
 * ```
 */
import { unicorn } from './ffi.ts';
import { UC_CTL_TB_FLUSH, UC_CTL_TB_REMOVE_CACHE, UC_PROT } from './constants.ts';
import { EmulationError } from './errors.ts';
import { mergeRanges } from './emulator-helpers.ts';
import { PAGE_SIZE } from './lazy-pages.ts';

/** Throws an EmulationError naming the operation when a Unicorn call failed. */
export type StatusCheck = (status: number, operation: string, address?: bigint) => void;

/** A mapped range [start, end). */
export interface Range {
  start: bigint;
  end: bigint;
}

export class GuestMemory {
  private readonly mapped: Range[] = [];

  constructor(
    private readonly engine: unknown,
    private readonly check: StatusCheck,
    /** Whether code ran since the engine was new (no translations to drop before). */
    private readonly code: { codeHasRun: boolean },
  ) {}

  /** Maps [address, address+size) with `perms` (UC_PROT bits); both page-aligned. */
  map(address: bigint, size: number | bigint, perms: number = UC_PROT.ALL): void {
    const length = BigInt(size);
    const overlap = this.mapped.find((r) => address < r.end && r.start < address + length);
    if (overlap) {
      throw new EmulationError('uc_mem_map', `Cannot map 0x${address.toString(16)}..0x${(address + length).toString(16)}: overlaps 0x${overlap.start.toString(16)}..0x${overlap.end.toString(16)}`, { address });
    }
    this.check(unicorn().uc_mem_map(this.engine, address, Number(length), perms), `uc_mem_map(0x${address.toString(16)}, 0x${length.toString(16)})`, address);
    this.mapped.push({ start: address, end: address + length });
  }

  /** Unmaps [address, address+size) (page-aligned) wherever it is mapped, dropping its translations first. */
  unmap(address: bigint, size: number | bigint): void {
    const end = address + BigInt(size);
    if (this.isMapped(address)) this.flushTranslationsOf(address, Number(end - address));
    const kept: Range[] = [];
    for (const r of this.mapped) {
      if (r.end <= address || end <= r.start) {
        kept.push(r);
        continue;
      }
      const from = r.start > address ? r.start : address;
      const to = r.end < end ? r.end : end;
      this.check(unicorn().uc_mem_unmap(this.engine, from, Number(to - from)), `uc_mem_unmap(0x${from.toString(16)}, 0x${(to - from).toString(16)})`, from);
      if (r.start < from) kept.push({ start: r.start, end: from });
      if (to < r.end) kept.push({ start: to, end: r.end });
    }
    this.mapped.splice(0, this.mapped.length, ...kept);
  }

  /** True when `address` is in a mapped range. */
  isMapped(address: bigint): boolean {
    return this.mapped.some((r) => r.start <= address && address < r.end);
  }

  /** True when anything is mapped. */
  get any(): boolean {
    return this.mapped.length > 0;
  }

  /** The mapped ranges, sorted. */
  regions(): Range[] {
    return [...this.mapped].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  }

  /** Reads `length` bytes; throws EmulationError when any is unmapped. */
  read(address: bigint, length: number): Uint8Array {
    const out = Buffer.alloc(length);
    this.check(unicorn().uc_mem_read(this.engine, address, out, length), `uc_mem_read(0x${address.toString(16)}, ${length})`, address);
    return new Uint8Array(out.buffer, out.byteOffset, length);
  }

  /** Up to `length` bytes at `address`, fewer where the mapping ends. */
  tryRead(address: bigint, length: number): Uint8Array {
    for (let n = length; n > 0; n--) {
      if (this.isMapped(address + BigInt(n - 1))) return this.read(address, n);
    }
    return new Uint8Array(0);
  }

  /** Writes bytes; throws EmulationError when any is unmapped. */
  write(address: bigint, bytes: Uint8Array): void {
    this.check(unicorn().uc_mem_write(this.engine, address, bytes, bytes.length), `uc_mem_write(0x${address.toString(16)}, ${bytes.length})`, address);
  }

  /**
   * Drops the translated blocks of all mapped memory. Removes ranges rather
   * than calling UC_CTL_TB_FLUSH, which costs about 100 ms in Unicorn 2.0.1.
   */
  flushTranslations(): void {
    if (!this.code.codeHasRun) return;
    for (const { start, end } of mergeRanges(this.mapped)) this.removeTranslations(start, end);
  }

  /** Drops the translated blocks of the pages holding [address, address+length). */
  flushTranslationsOf(address: bigint, length: number): void {
    if (!this.code.codeHasRun) return;
    const page = BigInt(PAGE_SIZE);
    const start = address - (address % page);
    const end = ((address + BigInt(length) + page - 1n) / page) * page;
    this.removeTranslations(start, end);
  }

  /** Drops every translated block, the CPU's jump cache included (about 100 ms in Unicorn 2.0.1). */
  flushAllTranslations(): void {
    if (!this.code.codeHasRun) return;
    this.check(unicorn().uc_ctl(this.engine, UC_CTL_TB_FLUSH), 'uc_ctl(TB_FLUSH)');
  }

  /**
   * Drops the translations of every range and unmaps it, leaving the engine
   * with no memory (for reuse; each range is one Unicorn memory block, so a
   * range removal covers it exactly).
   */
  clear(): void {
    for (const { start, end } of this.mapped) {
      if (this.code.codeHasRun) this.removeTranslations(start, end);
    }
    for (const { start, end } of this.mapped) this.check(unicorn().uc_mem_unmap(this.engine, start, Number(end - start)), 'uc_mem_unmap', start);
    this.mapped.length = 0;
  }

  private removeTranslations(start: bigint, end: bigint): void {
    this.check(unicorn().uc_ctl(this.engine, UC_CTL_TB_REMOVE_CACHE, 'uint64_t', start, 'uint64_t', end), 'uc_ctl(TB_REMOVE_CACHE)', start);
  }
}
