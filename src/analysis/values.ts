/**
 * What a value is, as evidence: a pattern software leaves (null, a poison
 * fill, a non-canonical address), or one bit away from something valid of
 * the kind it should be (a function start for a code pointer, a call's
 * return address for a return slot, a known object for a data pointer).
 * A pointer one bit from a valid target is what a bit flip leaves; software
 * rarely makes one by chance.
 *
 * @example
 * ```ts
 * valuePattern('x86', 0xddddddddn);                  // { kind: 'poison', text: 'dddddddd is a fill pattern …' }
 * oneBitNeighbours(dump, code, 0x8082e3e0n, 'code');  // [{ bit: 2, value: 0x8082e3e4n, what: 'the start of nt!KiIpiServiceRoutine' }]
 * ```
 */
import { pointerSize, registerMask, type Arch } from '../../emu/registers.ts';
import { isMapped, regionOf } from '../dumps/address-map.ts';
import type { Dump } from '../dumps/model.ts';
import { exactSymbol } from '../dumps/exact-symbol.ts';
import { formatAddress } from '../format.ts';
import type { CodeReader } from './code.ts';
import { nonCanonical } from './checks.ts';

export type PatternKind = 'null' | 'poison' | 'non-canonical';

export interface ValuePattern {
  kind: PatternKind;
  text: string;
}

/** 32-bit fill patterns of debug heaps, allocators and exploits. */
const FILLS_32 = new Set([
  0xbaadf00dn, 0xdeadbeefn, 0xfeeefeeen, 0xcdcdcdcdn, 0xddddddddn, 0xccccccccn, 0xababababn, 0x41414141n, 0xfdfdfdfdn,
  0xbadb0d00n, 0xdeadc0den, 0xa5a5a5a5n, 0x5a5a5a5an, 0xefefefefn, 0xfefefefen, 0xe5e5e5e5n, 0xe4e4e4e4n, 0xd0d0d0d0n,
  0xcafebaben, 0x0badf00dn, 0xdeaddeadn,
]);

/** Below this, an address is in the null page area no process maps (Linux mmap_min_addr, Windows' first 64 KiB). */
export const NULL_AREA = 0x10000n;

/** A software pattern `value` matches, if any. */
export function valuePattern(arch: Arch, value: bigint): ValuePattern | undefined {
  const f = formatAddress(arch, value);
  if (value < NULL_AREA) return { kind: 'null', text: `${f} is in the null page area (a null pointer${value > 0n ? ' plus an offset' : ''})` };
  const width = BigInt(pointerSize(arch) * 8);
  const low = value & 0xffff_ffffn;
  const high = (value >> 32n) & 0xffff_ffffn;
  const repeated = (v: bigint) => {
    const byte = v & 0xffn;
    return v === byte * 0x0101_0101n && byte !== 0n && byte !== 0xffn;
  };
  const isFill = (v: bigint) => FILLS_32.has(v) || repeated(v);
  if (width === 32n ? isFill(low) : isFill(low) && (high === low || isFill(high) || high === 0n)) {
    return { kind: 'poison', text: `${f} is a fill pattern, not an address: the memory it came from was freed, uninitialised or overwritten` };
  }
  // A fill pattern in part of the value (0xdddddddd00401000) is a partial overwrite.
  if (width === 64n && (isFill(high) || (high & 0xffff_0000n) === 0xdead_0000n)) {
    return { kind: 'poison', text: `${f} has a fill pattern in its upper half: a pointer overwritten in part` };
  }
  if (nonCanonical(arch, value)) return { kind: 'non-canonical', text: `${f} is not a canonical x86-64 address: no CPU can use it as one` };
  return undefined;
}

/** What a value should be, to say what "valid" means for it. */
export type ValueRole = 'code' | 'return' | 'data';

export interface Neighbour {
  bit: number;
  value: bigint;
  /** What makes it valid: 'the start of libc.so.6!free'. */
  what: string;
  /** How specific that validity is: a function start or return address is strong, mapped memory is weak. */
  strength: 'strong' | 'weak';
}

/**
 * The values one bit from `value` that are valid for `role`: function
 * starts (code), a call's return address (return), a symbol's start or
 * mapped, readable memory (data).
 */
export function oneBitNeighbours(dump: Dump, code: CodeReader, value: bigint, role: ValueRole, slot?: bigint): Neighbour[] {
  const arch = dump.arch;
  const width = pointerSize(arch) * 8;
  const out: Neighbour[] = [];
  for (let bit = 0; bit < width; bit++) {
    const candidate = (value ^ (1n << BigInt(bit))) & registerMask(arch);
    const n = validity(dump, code, candidate, role, slot);
    if (n) out.push({ bit, value: candidate, ...n });
  }
  return out;
}

/** An import slot's name says what it should hold: `hal!_imp__KiIpiServiceRoutine` → `KiIpiServiceRoutine`. */
function importedName(dump: Dump, slot: bigint | undefined): string | undefined {
  if (slot === undefined) return undefined;
  const location = dump.symbols.lookup(slot);
  if (!location?.symbol || location.offset !== 0n) return undefined;
  const m = /^(?:__imp_|_imp__|_imp_|__imp__)(.+?)(?:@\d+)?$/.exec(location.symbol);
  return m?.[1];
}

/**
 * True when `address` looks like a function start without a symbol: code at
 * an aligned address just after padding or a return.
 */
export function plausibleStart(code: CodeReader, address: bigint): boolean {
  const arch = code.dump.arch;
  if (address % (arch === 'x64' ? 16n : 4n) !== 0n) return false;
  const own = code.knownBytes(address, 1)[0];
  if (own === undefined || own === 0xcc || own === 0x90) return false; // inside the padding, not after it
  for (let back = 1n; back <= 16n; back++) {
    const byte = code.knownBytes(address - back, 1)[0];
    if (byte === undefined) continue;
    return byte === 0xcc || byte === 0x90 || byte === 0xc3;
  }
  return false;
}

/** Why `value` is a valid `role`, or undefined; `slot` is where it was read from, when known. */
export function validity(dump: Dump, code: CodeReader, value: bigint, role: ValueRole, slot?: bigint): Pick<Neighbour, 'what' | 'strength'> | undefined {
  const f = (v: bigint) => formatAddress(dump.arch, v);
  if (value < NULL_AREA) return undefined;
  if (role === 'return') {
    const call = code.endingAt(value, (insn) => insn.kind === 'call');
    return call ? { what: `the return address of ${f(call.address)} ${call.text}`, strength: 'strong' } : undefined;
  }
  const name = exactSymbol(dump.symbols, value);
  if (role === 'code') {
    // A symbol in memory the dump maps without execute permission (`_end`, a variable) is no code pointer's target.
    const region = regionOf(dump, value);
    if (region ? !region.execute : isMapped(dump, value) === false) return undefined;
    const imported = importedName(dump, slot);
    if (imported && dump.symbols.resolve(imported) === value) return { what: `${imported}, which the slot's name says it holds`, strength: 'strong' };
    if (name) return { what: `the start of ${name}`, strength: 'strong' };
    const cases = slot === undefined ? [] : tableNeighbours(dump, value, slot);
    if (cases.length >= 2) {
      return { what: `a case of the jump table at ${f(slot!)}: the entries beside it, ${cases.slice(0, 2).map(f).join(' and ')}, are in the same function`, strength: 'strong' };
    }
    if (plausibleStart(code, value)) return { what: 'code after padding at an aligned address (a function start)', strength: 'weak' };
    return undefined;
  }
  if (name) return { what: `the start of ${name}`, strength: 'strong' };
  const region = regionOf(dump, value);
  if (region ? region.read && !region.execute : isMapped(dump, value) === undefined && dump.memory.read(value, 1) !== undefined) {
    return { what: `mapped ${region?.write ? 'writable ' : ''}memory`, strength: 'weak' };
  }
  return undefined;
}

/** True when `value` points where code could run from: known code bytes or an executable mapping. */
export function executable(dump: Dump, code: CodeReader, value: bigint): boolean {
  const region = regionOf(dump, value);
  if (region) return region.execute;
  return code.knownBytes(value, 1).length === 1 && dump.memory.ranges().some((r) => r.start <= value && value < r.end && r.kind === 'code');
}

/** The pointer-sized little-endian word at `address`, if the dump holds it. */
export function readPointer(dump: Dump, address: bigint): bigint | undefined {
  const size = pointerSize(dump.arch);
  const bytes = dump.memory.read(address, size);
  if (!bytes) return undefined;
  let value = 0n;
  for (let k = size - 1; k >= 0; k--) value = (value << 8n) | BigInt(bytes[k]!);
  return value;
}

/**
 * The words beside `slot` (two on each side) that point into the function
 * holding `value`, past its start: `slot` is an entry of a jump table (a
 * switch's absolute case addresses, in read-only data), and `value` one of
 * its cases.
 */
function tableNeighbours(dump: Dump, value: bigint, slot: bigint): bigint[] {
  const fn = dump.symbols.lookup(value);
  if (!fn?.symbol || fn.offset === 0n) return [];
  const size = BigInt(pointerSize(dump.arch));
  const out: bigint[] = [];
  for (let k = 1n; k <= BigInt(SIBLING_WORDS); k++) {
    for (const at of [slot - k * size, slot + k * size]) {
      const word = readPointer(dump, at);
      if (word === undefined || word === value || word <= fn.base) continue;
      const location = dump.symbols.lookup(word);
      if (location?.symbol === fn.symbol && location.base === fn.base && regionOf(dump, word)?.execute !== false) out.push(word);
    }
  }
  return out;
}

/** How near a pointer beside a slot must be to the slot's repaired value to count as its sibling. */
const SIBLING_DISTANCE = 0x1000n;
/** Words looked at on each side of a slot for siblings. */
const SIBLING_WORDS = 2;

/**
 * The words beside `slot` (two on each side) that hold pointers near
 * `repaired` (within 4 KiB) but not near `observed`: the slot is one of a
 * run of pointers to neighbouring objects (an array of them, a struct's
 * links), and only one bit kept it from being like the others.
 */
export function siblingPointers(dump: Dump, slot: bigint, repaired: bigint, observed: bigint): bigint[] {
  const size = BigInt(pointerSize(dump.arch));
  const near = (a: bigint, b: bigint) => (a > b ? a - b : b - a) < SIBLING_DISTANCE;
  if (near(repaired, observed)) return [];
  const out: bigint[] = [];
  for (let k = 1n; k <= BigInt(SIBLING_WORDS); k++) {
    for (const at of [slot - k * size, slot + k * size]) {
      const word = readPointer(dump, at);
      if (word !== undefined && word >= NULL_AREA && word !== repaired && near(word, repaired) && !near(word, observed)) out.push(word);
    }
  }
  return out;
}

/**
 * Where else the dump holds `value` as a pointer: registers of the fault's
 * context and pointer-aligned words of writable memory (scanned up to
 * `limit` bytes). A value the program also keeps elsewhere is one it used.
 */
export function pointerSeenElsewhere(dump: Dump, value: bigint, except: bigint | undefined, limit = 64 << 20): string | undefined {
  for (const thread of dump.threads) {
    for (const context of thread.contexts) {
      for (const [name, v] of Object.entries(context.registers)) if (v === value && !context.unknown?.includes(name as never)) return `register ${name}`;
    }
  }
  const slot = slotsHolding(dump, value, 1, except, limit)[0];
  return slot === undefined ? undefined : `[${formatAddress(dump.arch, slot)}]`;
}

/**
 * Up to `most` pointer-aligned words of writable memory (scanned up to
 * `limit` bytes) that hold `value`, other than `except`.
 */
export function slotsHolding(dump: Dump, value: bigint, most: number, except?: bigint, limit = 64 << 20): bigint[] {
  const size = pointerSize(dump.arch);
  const out: bigint[] = [];
  // Compared as 32-bit halves: a BigInt per word made a scan of tens of MB take seconds.
  const low = Number(value & 0xffff_ffffn);
  const high = Number((value >> 32n) & 0xffff_ffffn);
  if (size === 4 && value > 0xffff_ffffn) return out;
  let scanned = 0;
  for (const range of dump.memory.ranges()) {
    if (range.kind === 'code') continue;
    const region = regionOf(dump, range.start);
    if (region && !region.write) continue;
    const start = range.start + ((BigInt(size) - (range.start % BigInt(size))) % BigInt(size));
    const length = Number(range.end - start);
    if (length <= 0) continue;
    if (scanned + length > limit) break;
    scanned += length;
    const bytes = dump.memory.read(start, length);
    if (!bytes) continue;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i + size <= length; i += size) {
      if (view.getUint32(i, true) !== low || (size === 8 && view.getUint32(i + 4, true) !== high)) continue;
      if (start + BigInt(i) !== except && out.push(start + BigInt(i)) >= most) return out;
    }
  }
  return out;
}
