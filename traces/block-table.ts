/**
 * The block table of a version-2 `blocks` message (its `code` map, see
 * FORMAT.md): each basic block first run in the batch, with its id, address,
 * bytes and instruction sizes, stored as columns. Block ids in the message's
 * `blocks` column index this table.
 *
 * @example
 * ```ts
 * const code = encodeBlockTable([{ id: 0, pc: 0x401000n, bytes: Uint8Array.of(0x90, 0xc3), sizes: Uint8Array.of(1, 1) }]);
 * decodeBlockTable(unpackr.unpack(packr.pack(code))); // the same block back
 * ```
 */
import { littleEndianBytes } from './columns.ts';
import { TraceFormatError } from './errors.ts';
import { column, isFields, optionalBytes } from './fields.ts';
import type { TraceBlock } from './model.ts';

/** The `code` map for `blocks` (the blocks a batch ran first). */
export function encodeBlockTable(blocks: readonly TraceBlock[]): Record<string, Uint8Array> {
  const k = blocks.length;
  const ids = new Uint32Array(k);
  const addresses = new BigUint64Array(k);
  const lengths = new Uint32Array(k);
  const counts = new Uint32Array(k);
  let byteTotal = 0;
  let sizeTotal = 0;
  blocks.forEach((b, i) => {
    ids[i] = b.id; addresses[i] = b.pc; lengths[i] = b.bytes.length; counts[i] = b.sizes.length;
    byteTotal += b.bytes.length; sizeTotal += b.sizes.length;
  });
  const bytes = new Uint8Array(byteTotal);
  const sizes = new Uint8Array(sizeTotal);
  let at = 0;
  let sat = 0;
  for (const b of blocks) {
    bytes.set(b.bytes, at); at += b.bytes.length;
    sizes.set(b.sizes, sat); sat += b.sizes.length;
  }
  return {
    id: littleEndianBytes(ids), address: littleEndianBytes(addresses), length: littleEndianBytes(lengths),
    bytes, count: littleEndianBytes(counts), sizes,
  };
}

/** The blocks of a decoded `code` map; none when it is absent or not a map. */
export function decodeBlockTable(value: unknown): TraceBlock[] {
  if (!isFields(value)) return [];
  const ids = column(Uint32Array, value, 'id', 0);
  const addresses = column(BigUint64Array, value, 'address', 0);
  const lengths = column(Uint32Array, value, 'length', 0);
  const counts = column(Uint32Array, value, 'count', 0);
  const bytes = optionalBytes(value, 'bytes') ?? new Uint8Array(0);
  const sizes = optionalBytes(value, 'sizes') ?? new Uint8Array(0);
  if ([addresses, lengths, counts].some((c) => c.length !== ids.length)) {
    throw new TraceFormatError(`Block table columns differ in length: id ${ids.length}, address ${addresses.length}, length ${lengths.length}, count ${counts.length}`);
  }
  const blocks: TraceBlock[] = [];
  let at = 0;
  let sat = 0;
  for (let i = 0; i < ids.length; i++) {
    const end = at + lengths[i]!;
    const send = sat + counts[i]!;
    if (end > bytes.length || send > sizes.length) throw new TraceFormatError(`Block table entry ${i} at 0x${addresses[i]!.toString(16)} runs past its bytes or sizes`);
    blocks.push({ id: ids[i]!, pc: addresses[i]!, bytes: new Uint8Array(bytes.subarray(at, end)), sizes: new Uint8Array(sizes.subarray(sat, send)) });
    at = end;
    sat = send;
  }
  return blocks;
}
