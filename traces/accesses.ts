/**
 * Reads the compact columns of a version-2 `blocks` message (FORMAT.md):
 * block ids as LEB128 varints, and memory accesses as a kind-and-size byte,
 * the zigzag varint of the address's distance from the previous access and
 * the varint of the value. 64-bit quantities are kept as pairs of 32-bit
 * words (`words[2i]` low, `words[2i+1]` high), so decoding makes no bigint.
 *
 * @example
 * ```ts
 * const ids = decodeBlockIds(batch.blocks, batch.blockCount);
 * const accesses = decodeAccesses(batch.memory, batch.accesses);
 * accesses.address[0]; // bigint
 * ```
 */
import { TraceFormatError } from './errors.ts';

/** Decoded accesses: columns as the version-1 batch has them, plus the 32-bit words behind the 64-bit ones. */
export interface Accesses {
  kind: Uint8Array;
  size: Uint8Array;
  address: BigUint64Array;
  value: BigUint64Array;
  addressWords: Uint32Array;
  valueWords: Uint32Array;
}

const hostIsLittleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** The `count` block ids of `bytes`. */
export function decodeBlockIds(bytes: Uint8Array, count: number): Uint32Array {
  const ids = new Uint32Array(count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    let value = 0;
    let shift = 0;
    let byte: number;
    do {
      if (at >= bytes.length) throw new TraceFormatError(`Column 'blocks' ends after ${i} of its ${count} block ids`, { code: 'bad-field' });
      byte = bytes[at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80 && shift < 35);
    ids[i] = value;
  }
  return ids;
}

/**
 * Reads one varint at `at` into `out[0]` (low word) and `out[1]` (high
 * word); returns the offset after it, or -1 when the bytes end first.
 */
function readVarint(bytes: Uint8Array, at: number, out: Uint32Array): number {
  let lo = 0;
  let hi = 0;
  let shift = 0;
  for (;;) {
    if (at >= bytes.length) return -1;
    const byte = bytes[at++]!;
    const bits = byte & 0x7f;
    if (shift < 28) lo |= bits << shift;
    else if (shift === 28) {
      lo |= (bits & 0xf) << 28;
      hi |= bits >>> 4;
    } else if (shift < 64) hi |= bits << (shift - 32);
    shift += 7;
    if (!(byte & 0x80)) break;
  }
  out[0] = lo >>> 0;
  out[1] = hi >>> 0;
  return at;
}

/** The `count` accesses of `bytes`. */
export function decodeAccesses(bytes: Uint8Array, count: number): Accesses {
  const kind = new Uint8Array(count);
  const size = new Uint8Array(count);
  const addressWords = new Uint32Array(count * 2);
  const valueWords = new Uint32Array(count * 2);
  const pair = new Uint32Array(2);
  let prevLo = 0;
  let prevHi = 0;
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at >= bytes.length) throw new TraceFormatError(`Column 'memory' ends after ${i} of its ${count} accesses`, { code: 'bad-field' });
    const head = bytes[at++]!;
    kind[i] = head & 1;
    size[i] = head >>> 1;
    at = readVarint(bytes, at, pair);
    if (at < 0) throw new TraceFormatError(`Column 'memory' ends inside access ${i}`, { code: 'bad-field' });
    // Zigzag: the delta is the pair shifted right by one, negated (all bits flipped) when its low bit is set.
    const negative = pair[0]! & 1;
    let dLo = ((pair[0]! >>> 1) | ((pair[1]! & 1) << 31)) >>> 0;
    let dHi = pair[1]! >>> 1;
    if (negative) {
      dLo = ~dLo >>> 0;
      dHi = ~dHi >>> 0;
    }
    const lo = prevLo + dLo;
    prevLo = lo >>> 0;
    prevHi = (prevHi + dHi + (lo > 0xffff_ffff ? 1 : 0)) >>> 0;
    addressWords[2 * i] = prevLo;
    addressWords[2 * i + 1] = prevHi;
    at = readVarint(bytes, at, pair);
    if (at < 0) throw new TraceFormatError(`Column 'memory' ends inside access ${i}`, { code: 'bad-field' });
    valueWords[2 * i] = pair[0]!;
    valueWords[2 * i + 1] = pair[1]!;
  }
  if (at !== bytes.length) throw new TraceFormatError(`Column 'memory' holds ${bytes.length - at} bytes after its ${count} accesses`, { code: 'bad-field' });
  return { kind, size, address: wide(addressWords), value: wide(valueWords), addressWords, valueWords };
}

/** 64-bit values from their word pairs: a view on little-endian hosts. */
function wide(words: Uint32Array): BigUint64Array {
  if (hostIsLittleEndian) return new BigUint64Array(words.buffer, words.byteOffset, words.length / 2);
  return BigUint64Array.from({ length: words.length / 2 }, (_, i) => (BigInt(words[2 * i + 1]!) << 32n) | BigInt(words[2 * i]!));
}
