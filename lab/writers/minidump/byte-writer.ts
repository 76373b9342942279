/**
 * Little-endian fields written at explicit offsets into a buffer that
 * grows as needed, so each struct writer reads like the struct's
 * documentation: one `u32(base + 0x14, value)` per field.
 *
 * @example
 * ```ts
 * const out = new ByteWriter();
 * const at = out.reserve(0x20, 4);  // offset of a new 0x20-byte block
 * out.u32(at + 0x00, 0x504d444d);   // 'MDMP'
 * out.bytes();                      // Uint8Array(32)
 * ```
 */
export class ByteWriter {
  private buffer = new Uint8Array(4096);
  private view = new DataView(this.buffer.buffer);
  private used = 0;

  /** Bytes written (or reserved) so far. */
  get length(): number {
    return this.used;
  }

  private ensure(end: number): void {
    if (end <= this.buffer.length) return;
    let size = this.buffer.length;
    while (size < end) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer);
    this.buffer = next;
    this.view = new DataView(next.buffer);
  }

  /**
   * Reserves `size` zeroed bytes at the end, first padding to `alignment`; returns their offset.
   *
   * @example
   * ```ts
   * out.reserve(0x30, 8); // 0x20 after a 0x1c-byte header: padded to 8
   * ```
   */
  reserve(size: number, alignment = 4): number {
    const at = Math.ceil(this.used / alignment) * alignment;
    this.ensure(at + size);
    this.used = at + size;
    return at;
  }

  /**
   * Appends `data` (aligned) and returns its offset.
   *
   * @example
   * ```ts
   * out.append(buildId, 4); // offset of the copy
   * ```
   */
  append(data: Uint8Array, alignment = 4): number {
    const at = this.reserve(data.length, alignment);
    this.buffer.set(data, at);
    return at;
  }

  private check(offset: number, size: number): void {
    if (offset < 0 || offset + size > this.used) throw new RangeError(`Write of ${size} bytes at 0x${offset.toString(16)} is outside the ${this.used} bytes reserved`);
  }

  /** Writes a u8 at `offset`. */
  u8(offset: number, value: number): void {
    this.check(offset, 1);
    this.view.setUint8(offset, value);
  }

  /** Writes a u16 at `offset`. */
  u16(offset: number, value: number | bigint): void {
    this.check(offset, 2);
    this.view.setUint16(offset, Number(value), true);
  }

  /** Writes a u32 at `offset`. */
  u32(offset: number, value: number | bigint): void {
    this.check(offset, 4);
    this.view.setUint32(offset, Number(BigInt.asUintN(32, BigInt(value))), true);
  }

  /** Writes a u64 at `offset`. */
  u64(offset: number, value: bigint): void {
    this.check(offset, 8);
    this.view.setBigUint64(offset, BigInt.asUintN(64, value), true);
  }

  /** Copies `data` to `offset` (inside reserved bytes). */
  set(offset: number, data: Uint8Array): void {
    this.check(offset, data.length);
    this.buffer.set(data, offset);
  }

  /** The bytes written so far. */
  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.used);
  }
}
