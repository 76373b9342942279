/**
 * Columns as a trace file stores them: a typed array's values packed
 * little-endian into msgpack `bin`, both ways. On a little-endian host
 * writing a column is a view on its buffer, with no copy (see FORMAT.md).
 *
 * @example
 * ```ts
 * const bytes = littleEndianBytes(BigUint64Array.of(0x401000n)); // 00 10 40 00 00 00 00 00
 * columnFromBytes(BigUint64Array, bytes, 'pc'); // BigUint64Array [0x401000n]
 * ```
 */
import { TraceFormatError } from './errors.ts';

const hostIsLittleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

export type Column = Uint8Array | Uint32Array | BigUint64Array;
export type ColumnType = typeof Uint8Array | typeof Uint32Array | typeof BigUint64Array;

/** The bytes of `column` in little-endian order: a view on little-endian hosts, a swapped copy elsewhere. */
export function littleEndianBytes(column: Column): Uint8Array {
  const view = new Uint8Array(column.buffer, column.byteOffset, column.byteLength);
  const width = column.BYTES_PER_ELEMENT;
  if (hostIsLittleEndian || width === 1) return view;
  const out = new Uint8Array(view.length);
  for (let i = 0; i < view.length; i += width) {
    for (let k = 0; k < width; k++) out[i + k] = view[i + width - 1 - k]!;
  }
  return out;
}

/** A fresh, aligned typed array read from little-endian `bytes`; `field` names the column in errors. */
export function columnFromBytes<T extends ColumnType>(Type: T, bytes: Uint8Array, field: string): InstanceType<T> {
  const width = Type.BYTES_PER_ELEMENT;
  if (bytes.length % width !== 0) {
    throw new TraceFormatError(`Column '${field}' holds ${bytes.length} bytes, not a multiple of its ${width}-byte values`, { code: 'bad-field' });
  }
  // `new Uint8Array(view)` copies (a Buffer's `slice` would not) and aligns the values.
  const copy = new Uint8Array(bytes);
  if (!hostIsLittleEndian && width > 1) copy.set(littleEndianBytes(new Type(copy.buffer) as Column));
  return new Type(copy.buffer, 0, copy.length / width) as InstanceType<T>;
}
