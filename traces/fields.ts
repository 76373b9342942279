/**
 * Reading the fields of a decoded trace message: every field may be absent
 * (msgpack nil counts as absent), and a present field of the wrong type is a
 * `TraceFormatError` that names the field and what it held.
 *
 * @example
 * ```ts
 * optionalCount({ count: 3 }, 'count');          // 3
 * optionalCount({}, 'count');                    // undefined
 * optionalCount({ count: 'x' }, 'count');        // throws: Field 'count' should be an unsigned integer, got 'x'
 * column(Uint32Array, { start: bytes }, 'start', 0);
 * ```
 */
import type { RegisterName } from '../emu/registers.ts';
import { columnFromBytes, type ColumnType } from './columns.ts';
import { TraceFormatError } from './errors.ts';

/** A decoded msgpack map. */
export type Fields = Record<string, unknown>;

export function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

export function optionalBytes(fields: Fields, name: string): Uint8Array | undefined {
  const value = fields[name];
  if (value === undefined || value === null) return undefined;
  if (!(value instanceof Uint8Array)) throw new TraceFormatError(`Field '${name}' should be bin, got ${describe(value)}`);
  return value;
}

export function optionalString(fields: Fields, name: string): string | undefined {
  const value = fields[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new TraceFormatError(`Field '${name}' should be a string, got ${describe(value)}`);
  return value;
}

export function optionalCount(fields: Fields, name: string): number | undefined {
  const value = fields[name];
  if (value === undefined || value === null) return undefined;
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new TraceFormatError(`Field '${name}' should be an unsigned integer, got ${describe(value)}`);
  return n;
}

export function optionalU64(fields: Fields, name: string): bigint | undefined {
  const value = fields[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'bigint' && value >= 0n) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw new TraceFormatError(`Field '${name}' should be an unsigned 64-bit integer, got ${describe(value)}`);
}

/** A map of register name to u64 (a signal event's `registers`). */
export function optionalRegisterMap(fields: Fields, name: string): Array<[RegisterName, bigint]> | undefined {
  const value = fields[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) throw new TraceFormatError(`Field '${name}' should be a map of register name to value, got ${describe(value)}`);
  return Object.keys(value).map((register) => [register as RegisterName, optionalU64(value as Fields, register)!]);
}

/** A decoded value as an error message names it: its kind and size, a string's first 40 characters. */
export function describe(value: unknown): string {
  if (value instanceof Uint8Array) return `bin of ${value.length} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`;
  if (typeof value === 'bigint') return `${value}`;
  return typeof value === 'object' ? 'a map' : String(value);
}

/** The column `name` of `fields` (see columns.ts), or `length` zeros when absent. */
export function column<T extends ColumnType>(Type: T, fields: Fields, name: string, length: number): InstanceType<T> {
  const bytes = optionalBytes(fields, name);
  return bytes ? columnFromBytes(Type, bytes, name) : (new Type(length) as InstanceType<T>);
}
