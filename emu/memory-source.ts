/**
 * Where the emulator's memory comes from when code touches a page nobody
 * mapped: a dump, a set of raw images. The emulator knows only this
 * interface, never a dump format.
 *
 * @example
 * ```ts
 * const source: MemorySource = { read: (address, length) => dump.memory.read(address, length) };
 * emu.setMemorySource(source);
 * ```
 */
export interface MemorySource {
  /** All `length` bytes at `address`, or undefined if any is missing. */
  read(address: bigint, length: number): Uint8Array | undefined;
  /**
   * For sources that hold only some bytes of a page (a debugger transcript):
   * the bytes with unknown ones zeroed and a mask (1 = known). Undefined when
   * no byte of the range is held.
   */
  readPartial?(address: bigint, length: number): { bytes: Uint8Array; known: Uint8Array } | undefined;
  /**
   * When true, a write to memory the source lacks maps a blank page whose
   * bytes stay unknown until written (raw images: the stack need not be
   * supplied). When false (dumps), such a write stops the run.
   */
  writesCreateMemory?: boolean;
  /**
   * Whether `address` was mapped when the dump was taken: true when the dump
   * says so though it lacks the bytes (a core's file-backed code, a
   * minidump region listed but not saved), false when it says the address
   * was not mapped, undefined when it does not say.
   */
  mapped?(address: bigint): boolean | undefined;
  /**
   * The rights the page holding `address` had (a core's PT_LOAD flags, a
   * minidump region's protection), so a replay faults where the CPU did (a
   * write to read-only data, a guard page); undefined when unknown (the page
   * is then mapped with every right).
   */
  rights?(address: bigint): { read: boolean; write: boolean; execute: boolean } | undefined;
  /** One line saying what this source is, for trace headers. */
  describe?(): string;
}

/**
 * What an emulator reads for bytes the source lacks but says are mapped:
 * by default such a read stops the run; with a fill it reads these bytes,
 * so a replay can run on and tell, by comparing runs made with different
 * fills, which results depend on the missing bytes. Code is never fetched
 * from unknown bytes.
 */
export type UnknownFill = 'zeros' | 'ones' | 'hash';

/** The bytes of `fill` for [address, address+length). */
export function fillBytes(fill: UnknownFill, address: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  if (fill === 'zeros') return out;
  if (fill === 'ones') return out.fill(0xff);
  for (let i = 0; i < length; i++) {
    // A fixed hash of the address: the same bytes in every run with this fill.
    let x = Number((address + BigInt(i)) & 0xffff_ffffn) ^ 0x9e3779b9;
    x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d);
    x = Math.imul(x ^ (x >>> 12), 0x297a2d39);
    out[i] = (x ^ (x >>> 15)) & 0xff;
  }
  return out;
}

/** Memory access kinds as the CPU makes them. */
export type Access = 'read' | 'write' | 'fetch';
