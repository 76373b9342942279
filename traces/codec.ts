/**
 * The messages of a faultline trace file (see FORMAT.md) to and from bytes:
 * the file prefix, and one msgpack map per header, batch, event and end.
 * Columns travel as msgpack `bin` holding little-endian packed values
 * (`columns.ts`), so encoding a batch copies typed-array buffers and
 * allocates nothing per instruction. Fields are read checked (`fields.ts`);
 * a `blocks` message's block table is `block-table.ts`. Framing (where one
 * message ends, truncation) lives in `decoder.ts`.
 *
 * @example
 * ```ts
 * const bytes = concatBytes([encodePrelude(header), encodeBatch(batch, batch.code), encodeEnd('trap', batch.count)]);
 * ```
 */
import { Packr, Unpackr } from 'msgpackr';
import type { Arch, RegisterName } from '../emu/registers.ts';
import { encodeBlockTable, decodeBlockTable } from './block-table.ts';
import { littleEndianBytes } from './columns.ts';
import { TraceFormatError } from './errors.ts';
import { column, describe, isFields, optionalBytes, optionalCount, optionalRegisterMap, optionalString, optionalU64, type Fields } from './fields.ts';
import type { TraceBatch, TraceBlockBatch, TraceEvent, TraceHeader } from './model.ts';

/** The highest format version this code reads (it writes 1 from `Recorder`, 2 from `BlockRecorder`). */
export const FORMAT_VERSION = 2;

/** "FLTRACE" then the format version byte (here 1): the first 8 bytes of every trace file. */
export const TRACE_MAGIC = Uint8Array.of(0x46, 0x4c, 0x54, 0x52, 0x41, 0x43, 0x45, 1);

/** Bytes of the file prefix: the 7 magic characters and the version byte. */
export const PRELUDE_SIZE = TRACE_MAGIC.length;

/** A decoded message, in file order. Unknown message types are kept so a reader can skip them. */
export type TraceMessage =
  | { type: 'header'; header: TraceHeader }
  | { type: 'batch'; batch: TraceBatch }
  | { type: 'blocks'; batch: TraceBlockBatch }
  | { type: 'event'; event: TraceEvent }
  | { type: 'end'; reason?: string; instructions?: number }
  | { type: 'unknown'; tag: unknown };

const packr = new Packr({ useRecords: false, variableMapSize: true });
/** The msgpack decoder for trace messages: maps as objects, 64-bit integers as bigint. */
export const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'bigint' });

/** Instruction-set width written as the header's `mode`: 32 for x86, 64 for x64 and arm64 (AArch64). */
export function modeOf(arch: Arch): 32 | 64 {
  return arch === 'x86' ? 32 : 64;
}

/** One message as bytes. The result may share the encoder's buffer: write or copy it before the next call. */
function encode(message: Record<string, unknown>): Uint8Array {
  return packr.pack(message);
}

/** A bigint as the smallest msgpack integer: a number when exact, else a 64-bit integer. */
function u64(value: bigint): number | bigint {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** The file prefix and the header message, as one buffer to write at once. */
export function encodePrelude(header: TraceHeader): Uint8Array {
  const names = Object.keys(header.startRegisters) as RegisterName[];
  const values = BigUint64Array.from(names, (name) => header.startRegisters[name]!);
  const message = encode({
    type: 'header',
    version: header.version ?? FORMAT_VERSION,
    arch: header.arch,
    mode: modeOf(header.arch),
    ...(header.source !== undefined && { source: header.source }),
    registers: header.registers,
    ...(header.checkpoint !== undefined && { checkpoint: header.checkpoint }),
    start: { names, values: littleEndianBytes(values) },
    ...(header.memory !== undefined && { memory: header.memory }),
    ...(header.created !== undefined && { created: header.created }),
    ...(header.engine !== undefined && { engine: header.engine }),
  });
  const out = new Uint8Array(PRELUDE_SIZE + message.length);
  out.set(TRACE_MAGIC, 0);
  out[PRELUDE_SIZE - 1] = header.version ?? 1;
  out.set(message, PRELUDE_SIZE);
  return out;
}

/**
 * The fields of an event as a plain record (the `event` message and JSON
 * Lines share them), with 64-bit values converted by `u64Field`.
 */
export function eventFields(event: TraceEvent, u64Field: (value: bigint) => unknown): Record<string, unknown> {
  switch (event.kind) {
    case 'trap': return { kind: 'trap', index: event.index, vector: event.vector, pc: u64Field(event.pc), ...(event.name ? { name: event.name } : {}) };
    case 'fault': return { kind: 'fault', index: event.index, address: u64Field(event.address), access: event.access, pc: u64Field(event.pc), reason: event.reason };
    case 'stop': return { kind: 'stop', index: event.index, reason: event.reason, pc: u64Field(event.pc) };
    case 'injected': return { kind: 'injected', index: event.index, description: event.description };
    case 'sync': return { kind: 'sync', index: event.index, pc: u64Field(event.pc), name: event.name };
    case 'signal': return {
      kind: 'signal', index: event.index, pc: u64Field(event.pc), signal: event.signal, name: event.name,
      ...(event.registers ? { registers: Object.fromEntries(event.registers.map(([name, value]) => [name, u64Field(value)])) } : {}),
    };
    case 'memory': return {
      kind: 'memory', index: event.index, ...(event.start ? { start: true } : {}), action: event.action, address: u64Field(event.address), size: u64Field(event.size),
      ...(event.protection ? { protection: event.protection } : {}), ...(event.bytes ? { bytes: event.bytes } : {}),
    };
  }
}

/**
 * A batch message. `code` is the instruction bytes to store with it (the
 * writer passes only addresses not stored before).
 */
export function encodeBatch(batch: TraceBatch, code: ReadonlyMap<bigint, Uint8Array>): Uint8Array {
  const addresses = new BigUint64Array(code.size);
  const lengths = new Uint8Array(code.size);
  let total = 0;
  for (const bytes of code.values()) total += bytes.length;
  const bytes = new Uint8Array(total);
  let i = 0;
  let at = 0;
  for (const [address, insn] of code) {
    if (insn.length > 255) throw new TraceFormatError(`Instruction bytes at 0x${address.toString(16)} are ${insn.length} long; at most 255 fit`, { code: 'usage' });
    addresses[i] = address;
    lengths[i++] = insn.length;
    bytes.set(insn, at);
    at += insn.length;
  }
  const n = batch.count;
  const regs = batch.regStart[n] ?? 0;
  const mems = batch.memStart[n] ?? 0;
  return encode({
    type: 'batch',
    first: batch.first,
    count: n,
    pc: littleEndianBytes(batch.pc.subarray(0, n)),
    size: batch.size.subarray(0, n),
    regStart: littleEndianBytes(batch.regStart.subarray(0, n + 1)),
    regIndex: batch.regIndex.subarray(0, regs),
    regValue: littleEndianBytes(batch.regValue.subarray(0, regs)),
    memStart: littleEndianBytes(batch.memStart.subarray(0, n + 1)),
    memKind: batch.memKind.subarray(0, mems),
    memAddress: littleEndianBytes(batch.memAddress.subarray(0, mems)),
    memSize: batch.memSize.subarray(0, mems),
    memValue: littleEndianBytes(batch.memValue.subarray(0, mems)),
    code: { address: littleEndianBytes(addresses), length: lengths, bytes },
    events: batch.events.map((event) => eventFields(event, u64)),
  });
}

/** A msgpack `bin 32` header for `length` bytes. */
function binHeader(length: number): Uint8Array {
  const header = new Uint8Array(5);
  header[0] = 0xc6;
  new DataView(header.buffer).setUint32(1, length);
  return header;
}

/**
 * A version-2 `blocks` message as parts to write in order (one `writev`):
 * the two large columns, block ids and accesses, are the recorder's own
 * views, never copied; every other part is a fresh small buffer.
 */
export function encodeBlocksParts(batch: TraceBlockBatch): Uint8Array[] {
  const small: Record<string, unknown> = {
    type: 'blocks',
    first: batch.first,
    count: batch.count,
    blockCount: batch.blockCount,
    last: batch.lastCount,
    ...(batch.stop !== undefined && { stop: batch.stop }),
    accesses: batch.accesses,
    start: littleEndianBytes(batch.start),
    end: littleEndianBytes(batch.end),
    ...(batch.newBlocks.length > 0 && { code: encodeBlockTable(batch.newBlocks) }),
    events: batch.events.map((event) => eventFields(event, u64)),
  };
  const entries = Object.keys(small).length + 2;
  const parts: Uint8Array[] = [Uint8Array.of(0xde, entries >> 8, entries & 0xff)];
  // `pack` reuses its buffer (and a Buffer's slice is a view): each small part is copied.
  const packed = (value: unknown) => new Uint8Array(packr.pack(value));
  for (const [key, value] of Object.entries(small)) parts.push(packed(key), packed(value));
  parts.push(packed('blocks'), binHeader(batch.blocks.length), batch.blocks);
  parts.push(packed('memory'), binHeader(batch.memory.length), batch.memory);
  return parts;
}

/** A version-2 `blocks` message as one buffer (see `encodeBlocksParts`). */
export function encodeBlocks(batch: TraceBlockBatch): Uint8Array {
  const parts = encodeBlocksParts(batch);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A message holding one event that is not part of a batch. */
export function encodeEvent(event: TraceEvent): Uint8Array {
  return encode({ type: 'event', ...eventFields(event, u64) });
}

/** The last message of a complete trace. */
export function encodeEnd(reason: string | undefined, instructions: number): Uint8Array {
  return encode({ type: 'end', ...(reason !== undefined && { reason }), instructions });
}

// ---------------------------------------------------------------------------
// Decoding: every field is optional; a present field of the wrong type is an error (fields.ts).

const ARCHES: readonly Arch[] = ['x86', 'x64', 'arm64'];

function decodeHeader(fields: Fields): TraceHeader {
  const version = optionalCount(fields, 'version') ?? FORMAT_VERSION;
  let arch = optionalString(fields, 'arch') as Arch | undefined;
  if (arch === undefined) {
    const mode = optionalCount(fields, 'mode');
    if (mode === 32) arch = 'x86';
    else throw new TraceFormatError(`Trace header names no arch (mode ${mode ?? 'absent'}); cannot tell x64 from arm64`);
  }
  if (!ARCHES.includes(arch)) throw new TraceFormatError(`Trace header names arch '${arch}'; this reader knows ${ARCHES.join(', ')}`, { code: 'unsupported-version' });
  const registers = fields.registers === undefined ? [] : fields.registers;
  if (!Array.isArray(registers) || !registers.every((r) => typeof r === 'string')) {
    throw new TraceFormatError(`Field 'registers' should be an array of strings, got ${describe(registers)}`);
  }
  const startRegisters: Partial<Record<RegisterName, bigint>> = {};
  const start = fields.start;
  if (isFields(start)) {
    const names = Array.isArray(start.names) ? start.names : [];
    const values = column(BigUint64Array, start, 'values', 0);
    if (names.length !== values.length) throw new TraceFormatError(`Header 'start' names ${names.length} registers but holds ${values.length} values`);
    names.forEach((name, i) => { startRegisters[String(name) as RegisterName] = values[i]!; });
  }
  const header: TraceHeader = { version, arch, registers: registers as RegisterName[], startRegisters };
  if (fields.checkpoint !== undefined) {
    if (!Array.isArray(fields.checkpoint) || !fields.checkpoint.every((r) => typeof r === 'string')) {
      throw new TraceFormatError(`Field 'checkpoint' should be an array of strings, got ${describe(fields.checkpoint)}`);
    }
    header.checkpoint = fields.checkpoint as RegisterName[];
  }
  const source = optionalString(fields, 'source');
  const memory = optionalString(fields, 'memory');
  const created = optionalString(fields, 'created');
  if (source !== undefined) header.source = source;
  if (memory !== undefined) header.memory = memory;
  if (created !== undefined) header.created = created;
  const engine = optionalString(fields, 'engine');
  if (engine !== undefined) header.engine = engine;
  return header;
}

/** An event from its fields, or undefined for a kind this reader does not know. */
function decodeEvent(fields: Fields): TraceEvent | undefined {
  const index = optionalCount(fields, 'index') ?? 0;
  const pc = optionalU64(fields, 'pc') ?? 0n;
  switch (fields.kind) {
    case 'trap': {
      const name = optionalString(fields, 'name');
      return { kind: 'trap', index, vector: typeof fields.vector === 'number' ? fields.vector : 0, pc, ...(name ? { name } : {}) };
    }
    case 'fault': {
      const access = optionalString(fields, 'access') ?? 'read';
      if (access !== 'read' && access !== 'write' && access !== 'fetch') throw new TraceFormatError(`Fault access should be read, write or fetch, got '${access}'`);
      return { kind: 'fault', index, address: optionalU64(fields, 'address') ?? 0n, access, pc, reason: optionalString(fields, 'reason') ?? '' };
    }
    case 'stop': return { kind: 'stop', index, reason: optionalString(fields, 'reason') ?? '', pc };
    case 'injected': return { kind: 'injected', index, description: optionalString(fields, 'description') ?? '' };
    case 'sync': return { kind: 'sync', index, pc, name: optionalString(fields, 'name') ?? '' };
    case 'signal': {
      const registers = optionalRegisterMap(fields, 'registers');
      return { kind: 'signal', index, pc, signal: typeof fields.signal === 'number' ? fields.signal : 0, name: optionalString(fields, 'name') ?? '', ...(registers ? { registers } : {}) };
    }
    case 'memory': {
      const action = optionalString(fields, 'action') ?? 'write';
      if (action !== 'map' && action !== 'unmap' && action !== 'write') throw new TraceFormatError(`Memory event action should be map, unmap or write, got '${action}'`);
      const bytes = optionalBytes(fields, 'bytes');
      const protection = optionalString(fields, 'protection');
      const size = optionalU64(fields, 'size') ?? BigInt(bytes?.length ?? 0);
      if (bytes && BigInt(bytes.length) !== size) throw new TraceFormatError(`Memory event at index ${index} holds ${bytes.length} bytes but says size ${size}`);
      return {
        kind: 'memory', index, ...(fields.start === true ? { start: true } : {}), action, address: optionalU64(fields, 'address') ?? 0n, size,
        ...(protection ? { protection } : {}), ...(bytes ? { bytes } : {}),
      };
    }
    default: return undefined;
  }
}

function decodeEvents(value: unknown): TraceEvent[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new TraceFormatError(`Field 'events' should be an array, got ${describe(value)}`);
  return value.filter(isFields).map(decodeEvent).filter((e): e is TraceEvent => e !== undefined);
}

function decodeCode(value: unknown): Map<bigint, Uint8Array> {
  const code = new Map<bigint, Uint8Array>();
  if (!isFields(value)) return code;
  const addresses = column(BigUint64Array, value, 'address', 0);
  const lengths = column(Uint8Array, value, 'length', 0);
  const bytes = optionalBytes(value, 'bytes') ?? new Uint8Array(0);
  if (addresses.length !== lengths.length) throw new TraceFormatError(`Code map has ${addresses.length} addresses but ${lengths.length} lengths`);
  let at = 0;
  for (let i = 0; i < addresses.length; i++) {
    const end = at + lengths[i]!;
    if (end > bytes.length) throw new TraceFormatError(`Code map entry ${i} at 0x${addresses[i]!.toString(16)} runs past its ${bytes.length} bytes`);
    code.set(addresses[i]!, new Uint8Array(bytes.subarray(at, end)));
    at = end;
  }
  return code;
}

function checkStarts(starts: Uint32Array, name: string, count: number, values: number): void {
  if (starts.length !== count + 1) throw new TraceFormatError(`Column '${name}' has ${starts.length} entries; a batch of ${count} needs ${count + 1}`);
  for (let i = 0; i < count; i++) {
    if (starts[i]! > starts[i + 1]!) throw new TraceFormatError(`Column '${name}' decreases at instruction ${i} (${starts[i]} > ${starts[i + 1]})`);
  }
  if (starts[count]! > values) throw new TraceFormatError(`Column '${name}' ends at ${starts[count]} but only ${values} values follow`);
}

function decodeBatch(fields: Fields, defaultFirst: number): TraceBatch {
  const pcBytes = optionalBytes(fields, 'pc');
  const count = optionalCount(fields, 'count') ?? (pcBytes ? pcBytes.length / 8 : 0);
  // Without a pc column the columns would be made zero-filled at `count`, whatever it says
  // (the fuzzer's 'Array buffer allocation failed', test/fuzz/corpus/trace/crash-5b74e06c0153).
  if (!pcBytes && count > 0) throw new TraceFormatError(`A batch of ${count} instructions has no 'pc' column`);
  const batch: TraceBatch = {
    count,
    first: optionalCount(fields, 'first') ?? defaultFirst,
    pc: column(BigUint64Array, fields, 'pc', count),
    size: column(Uint8Array, fields, 'size', count),
    regStart: column(Uint32Array, fields, 'regStart', count + 1),
    regIndex: column(Uint8Array, fields, 'regIndex', 0),
    regValue: column(BigUint64Array, fields, 'regValue', 0),
    memStart: column(Uint32Array, fields, 'memStart', count + 1),
    memKind: column(Uint8Array, fields, 'memKind', 0),
    memAddress: column(BigUint64Array, fields, 'memAddress', 0),
    memSize: column(Uint8Array, fields, 'memSize', 0),
    memValue: column(BigUint64Array, fields, 'memValue', 0),
    code: decodeCode(fields.code),
    events: decodeEvents(fields.events),
  };
  for (const name of ['pc', 'size'] as const) {
    if (batch[name].length !== count) throw new TraceFormatError(`Column '${name}' has ${batch[name].length} entries; the batch counts ${count} instructions`);
  }
  if (batch.regIndex.length !== batch.regValue.length) throw new TraceFormatError(`Columns 'regIndex' (${batch.regIndex.length}) and 'regValue' (${batch.regValue.length}) differ in length`);
  const mems = batch.memAddress.length;
  if ([batch.memKind, batch.memSize, batch.memValue].some((c) => c.length !== mems)) {
    throw new TraceFormatError(`Memory columns differ in length: memKind ${batch.memKind.length}, memAddress ${mems}, memSize ${batch.memSize.length}, memValue ${batch.memValue.length}`);
  }
  checkStarts(batch.regStart, 'regStart', count, batch.regIndex.length);
  checkStarts(batch.memStart, 'memStart', count, mems);
  return batch;
}

function decodeBlocks(fields: Fields, defaultFirst: number): TraceBlockBatch {
  const batch: TraceBlockBatch = {
    first: optionalCount(fields, 'first') ?? defaultFirst,
    count: optionalCount(fields, 'count') ?? 0,
    blocks: new Uint8Array(optionalBytes(fields, 'blocks') ?? new Uint8Array(0)),
    blockCount: optionalCount(fields, 'blockCount') ?? 0,
    lastCount: optionalCount(fields, 'last') ?? 0,
    memory: new Uint8Array(optionalBytes(fields, 'memory') ?? new Uint8Array(0)),
    accesses: optionalCount(fields, 'accesses') ?? 0,
    start: column(BigUint64Array, fields, 'start', 0),
    end: column(BigUint64Array, fields, 'end', 0),
    newBlocks: decodeBlockTable(fields.code),
    events: decodeEvents(fields.events),
  };
  const stop = optionalString(fields, 'stop');
  if (stop === 'fault' || stop === 'trapped' || stop === 'invalid' || stop === 'error') batch.stop = stop;
  if (batch.start.length !== batch.end.length) throw new TraceFormatError(`Checkpoints 'start' (${batch.start.length}) and 'end' (${batch.end.length}) differ in length`);
  return batch;
}

/**
 * One decoded msgpack value as a trace message. `nextFirst` is the sequence
 * number a batch without `first` starts at. Throws `TraceFormatError` for a
 * message that is not a map or has a field of the wrong type.
 */
export function decodeMessage(value: unknown, nextFirst: number): TraceMessage {
  if (!isFields(value)) throw new TraceFormatError(`A trace message should be a map, got ${describe(value)}`, { code: 'bad-message' });
  switch (value.type) {
    case 'header': return { type: 'header', header: decodeHeader(value) };
    case 'batch': return { type: 'batch', batch: decodeBatch(value, nextFirst) };
    case 'blocks': return { type: 'blocks', batch: decodeBlocks(value, nextFirst) };
    case 'event': {
      const event = decodeEvent(value);
      return event ? { type: 'event', event } : { type: 'unknown', tag: `event ${String(value.kind)}` };
    }
    case 'end': {
      const reason = optionalString(value, 'reason');
      const instructions = optionalCount(value, 'instructions');
      return { type: 'end', ...(reason !== undefined && { reason }), ...(instructions !== undefined && { instructions }) };
    }
    default: return { type: 'unknown', tag: value.type };
  }
}

