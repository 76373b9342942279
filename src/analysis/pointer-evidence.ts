/**
 * What the pointer a call followed says about itself: does the slot hold the
 * start of a known function (intact), a value one bit from one (the memory
 * itself is corrupt), null, or a poison pattern? Import slots name their
 * target (`_imp__KiIpiServiceRoutine`), which the symbol table may resolve.
 *
 * @example
 * ```ts
 * pointerEvidence(dump, code, transfer, site);
 * // { state: 'intact', value: '0x8082e3e4', reasons: ['8082e3e4 follows int 3 padding at a 4-byte boundary: a function start'] }
 * ```
 */
import { pointerSize, registerMask } from '../../emu/registers.ts';
import type { Dump } from '../dumps/model.ts';
import { formatAddress, hex } from '../format.ts';
import type { CodeReader } from './code.ts';
import type { FaultSite } from './fault-site.ts';
import type { Transfer } from './transfers.ts';
import { exactSymbol } from '../dumps/exact-symbol.ts';

export interface PointerEvidence {
  /** Where the pointer is (`[80a5b020]`) or which register held the target. */
  source: string;
  value: string;
  state: 'intact' | 'one-bit-from-function' | 'null' | 'poison' | 'unexplained';
  /** The function the pointer should hold, when known. */
  intended?: string;
  intendedSymbol?: string;
  bit?: number;
  reasons: string[];
}

const POISON_32 = [0xbaadf00dn, 0xdeadbeefn, 0xfeeefeeen, 0xcdcdcdcdn, 0xddddddddn, 0xccccccccn, 0xababababn, 0x41414141n, 0xfdfdfdfdn, 0xbadb0d00n, 0xdeadc0den, 0xa5a5a5a5n, 0xefefefefn, 0xfefefefen, 0xbaadf00dn, 0xcdcdcdcdn];

/** True for null-page values and the fill patterns of debug heaps, exploit payloads and freed memory. */
export function isPoison(value: bigint, arch: Dump['arch']): 'null' | 'poison' | undefined {
  if (value < 0x10000n) return 'null';
  const low = value & 0xffff_ffffn;
  const high = (value >> 32n) & 0xffff_ffffn;
  if (POISON_32.includes(low) && (arch === 'x86' || high === 0n || high === low)) return 'poison';
  return undefined;
}


/** `_imp__Foo`, `_imp_Foo`, `__imp_Foo` → `Foo`. */
function importedName(symbol: string | undefined): string | undefined {
  const match = /(?:^|!)_{1,2}imp_{1,2}(.+)$/.exec(symbol ?? '');
  return match?.[1];
}

/** Looks like a function start: aligned, and the nearest known byte before it is padding. */
function plausibleStart(code: CodeReader, address: bigint, arch: Dump['arch']): boolean {
  const alignment = arch === 'x86' ? 4n : arch === 'x64' ? 16n : 4n;
  if (address % alignment !== 0n && arch !== 'x64') return false;
  const own = code.knownBytes(address, 1)[0];
  if (own === 0xcc || own === 0x90) return false; // inside the padding, not after it
  for (let back = 1n; back <= 16n; back++) {
    const byte = code.knownBytes(address - back, 1)[0];
    if (byte === undefined) continue;
    return byte === 0xcc || byte === 0x90 || byte === 0xc3;
  }
  return false;
}

export function pointerEvidence(dump: Dump, code: CodeReader, transfer: Transfer, site: FaultSite): PointerEvidence | undefined {
  const arch = dump.arch;
  const f = (v: bigint) => formatAddress(arch, v);
  // Only a target read from memory says anything about memory.
  const value = transfer.pointer?.value;
  if (value === undefined) return undefined;
  const slotSymbol = transfer.pointer ? dump.symbols.lookup(transfer.pointer.address) : undefined;
  const slotName = slotSymbol?.offset === 0n ? dump.symbols.format(transfer.pointer!.address) : undefined;
  const source = transfer.pointer ? `[${f(transfer.pointer.address)}]${slotName ? ` (${slotName})` : ''}` : `the operand of ${transfer.call.text}`;
  const evidence: PointerEvidence = { source, value: hex(value), state: 'unexplained', reasons: [] };
  const poison = isPoison(value, arch);
  if (poison) {
    evidence.state = poison;
    evidence.reasons.push(poison === 'null' ? `${f(value)} is in the null page` : `${f(value)} is a fill pattern, not an address`);
    return evidence;
  }
  const imported = importedName(slotName);
  const intendedByName = imported ? dump.symbols.resolve(imported) : undefined;
  const exact = exactSymbol(dump.symbols, value);
  if (intendedByName !== undefined && intendedByName !== value) {
    evidence.intended = hex(intendedByName);
    evidence.intendedSymbol = dump.symbols.format(intendedByName);
    const xor = intendedByName ^ value;
    if ((xor & (xor - 1n)) === 0n) {
      evidence.state = 'one-bit-from-function';
      evidence.bit = xor.toString(2).length - 1;
      evidence.reasons.push(`${source} holds ${f(value)}, but ${imported} is at ${f(intendedByName)}: one bit (bit ${evidence.bit}) apart`);
    } else {
      evidence.reasons.push(`${source} holds ${f(value)}, but ${imported} is at ${f(intendedByName)}`);
    }
    return evidence;
  }
  if (exact || intendedByName === value) {
    evidence.state = 'intact';
    evidence.reasons.push(`${f(value)} is the start of ${exact ?? imported}`);
    return evidence;
  }
  // One bit from a known function start?
  const width = pointerSize(arch) * 8;
  for (let bit = 0; bit < width; bit++) {
    const candidate = (value ^ (1n << BigInt(bit))) & registerMask(arch);
    const name = exactSymbol(dump.symbols, candidate);
    if (name && candidate !== site.pc) {
      evidence.state = 'one-bit-from-function';
      evidence.intended = hex(candidate);
      evidence.intendedSymbol = name;
      evidence.bit = bit;
      evidence.reasons.push(`${source} holds ${f(value)}, one bit (bit ${bit}) from the start of ${name} (${f(candidate)})`);
      return evidence;
    }
  }
  if (plausibleStart(code, value, arch)) {
    evidence.state = 'intact';
    evidence.reasons.push(`${f(value)} follows padding at an aligned address: a function start${imported ? ` (${imported}, by the slot's name)` : ''}`);
  } else {
    evidence.reasons.push(`nothing in the dump says what ${f(value)} is`);
  }
  return evidence;
}
