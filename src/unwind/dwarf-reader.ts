/**
 * A cursor over bytes that sit at a known address in the dump's memory, for
 * DWARF call frame information: fixed-size little-endian integers, LEB128
 * and `DW_EH_PE_*` encoded pointers. Every read past the end throws a
 * `CfiError` naming the address, so a malformed table is a note, not a crash.
 *
 * @example
 * ```ts
 * const cursor = new DwarfCursor(bytes, 0x401000n, 8);
 * cursor.uleb(); cursor.encoded(0x1b); // a pc-relative sdata4 pointer
 * ```
 */

/** Unwind information that cannot be used: truncated, malformed, or unsupported. */
export class CfiError extends Error {
  constructor(message: string, readonly address?: bigint) {
    super(address === undefined ? message : `${message} at 0x${address.toString(16)}`);
    this.name = 'CfiError';
  }
}

/** `DW_EH_PE_omit`: no value follows. */
export const DW_EH_PE_omit = 0xff;

/** Bases that `DW_EH_PE_datarel` / `textrel` / `funcrel` pointers are relative to. */
export interface PointerBases {
  data?: bigint;
  text?: bigint;
  func?: bigint;
}

export class DwarfCursor {
  /** Offset of the next byte in `bytes`. */
  offset = 0;

  constructor(
    readonly bytes: Uint8Array,
    /** The address of `bytes[0]`. */
    readonly address: bigint,
    readonly wordSize: 4 | 8,
  ) {}

  /** The address of the next byte. */
  get at(): bigint {
    return this.address + BigInt(this.offset);
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  private need(size: number, what: string): void {
    if (this.offset + size > this.bytes.length) throw new CfiError(`${what} runs past the end of its entry`, this.at);
  }

  u8(): number {
    this.need(1, 'A byte');
    return this.bytes[this.offset++]!;
  }

  /** An unsigned little-endian integer of `size` bytes. */
  unsigned(size: number): bigint {
    this.need(size, `A ${size}-byte value`);
    let value = 0n;
    for (let i = size - 1; i >= 0; i--) value = (value << 8n) | BigInt(this.bytes[this.offset + i]!);
    this.offset += size;
    return value;
  }

  /** A signed little-endian integer of `size` bytes. */
  signed(size: number): bigint {
    return BigInt.asIntN(size * 8, this.unsigned(size));
  }

  uleb(): bigint {
    let value = 0n;
    let shift = 0n;
    for (;;) {
      const byte = this.u8();
      value |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
      if ((byte & 0x80) === 0) return value;
      if (shift > 70n) throw new CfiError('A LEB128 value is longer than 10 bytes', this.at);
    }
  }

  sleb(): bigint {
    let value = 0n;
    let shift = 0n;
    let byte: number;
    do {
      byte = this.u8();
      value |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
      if (shift > 70n) throw new CfiError('A LEB128 value is longer than 10 bytes', this.at);
    } while (byte & 0x80);
    return byte & 0x40 ? value - (1n << shift) : value;
  }

  /** A NUL-terminated string. */
  string(): string {
    let text = '';
    for (let byte = this.u8(); byte !== 0; byte = this.u8()) text += String.fromCharCode(byte);
    return text;
  }

  /**
   * A pointer in `DW_EH_PE_*` encoding `encoding` (LSB Core specification,
   * "DWARF Exception Header Encoding"). `DW_EH_PE_indirect` is refused: the
   * value would need a memory read the caller did not plan.
   */
  encoded(encoding: number, bases: PointerBases = {}): bigint {
    const start = this.at;
    let value: bigint;
    switch (encoding & 0x0f) {
      case 0x00: value = this.unsigned(this.wordSize); break;
      case 0x01: value = this.uleb(); break;
      case 0x02: value = this.unsigned(2); break;
      case 0x03: value = this.unsigned(4); break;
      case 0x04: value = this.unsigned(8); break;
      case 0x09: value = this.sleb(); break;
      case 0x0a: value = this.signed(2); break;
      case 0x0b: value = this.signed(4); break;
      case 0x0c: value = this.signed(8); break;
      default: throw new CfiError(`Pointer encoding 0x${encoding.toString(16)} is not a DW_EH_PE format`, start);
    }
    switch (encoding & 0x70) {
      case 0x00: break;
      case 0x10: value += start; break;
      case 0x20: value += this.base(bases.text, 'textrel', start); break;
      case 0x30: value += this.base(bases.data, 'datarel', start); break;
      case 0x40: value += this.base(bases.func, 'funcrel', start); break;
      default: throw new CfiError(`Pointer encoding 0x${encoding.toString(16)} has an unknown application`, start);
    }
    if (encoding & 0x80) throw new CfiError('Indirect (DW_EH_PE_indirect) pointers are not followed', start);
    return BigInt.asUintN(this.wordSize * 8, value);
  }

  private base(value: bigint | undefined, name: string, at: bigint): bigint {
    if (value === undefined) throw new CfiError(`A ${name} pointer without a ${name} base`, at);
    return value;
  }

  /** The size in bytes of a fixed-size pointer format, or undefined for LEB128. */
  static formatSize(encoding: number, wordSize: 4 | 8): number | undefined {
    switch (encoding & 0x0f) {
      case 0x00: return wordSize;
      case 0x02: case 0x0a: return 2;
      case 0x03: case 0x0b: return 4;
      case 0x04: case 0x0c: return 8;
      default: return undefined;
    }
  }
}
