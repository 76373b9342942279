/**
 * Disassembly listings as `u`, `ub`, `uf` print them, and the instruction
 * line that follows a register block:
 *
 * ```
 * hal!HalpIpiHandler+0xb1:
 * 80a5d8e1 e8d82b0000      call    hal!HalBeginSystemInterrupt (80a604be)
 * 80a5d8f6 ff1520b0a580    call    dword ptr [hal!_imp__KiIpiServiceRoutine (80a5b020)]
 * fffff800`02a8c5d0 48894c2408 mov qword ptr [rsp+8],rcx ss:0018:fffff880`03836e10=000000000000000a
 * 00000055`00000da4 f9400042 ldr         x2,[x2]
 * ```
 *
 * What each line gives:
 * - a `module!symbol+0xoff:` header names the next instruction's address,
 *   so the symbol starts at that address minus the offset;
 * - an instruction's bytes are memory of kind `code` at its address (an
 *   ARM64 listing shows each instruction as its 32-bit word, `f9400042`,
 *   which is 42 00 40 f9 in memory);
 * - `name (address)` references in the operands are symbols at `address`;
 * - the `seg:sel:address=value` note WinDbg appends to the current
 *   instruction is `value` read from memory at `address` (kind `data`), as
 *   wide as the digits shown.
 *
 * @example
 * ```ts
 * const unread = readListing(command, command.output, 0, facts);
 * facts.memory.read(0x80a5d8f6n, 6); // Uint8Array [0xff, 0x15, 0x20, 0xb0, 0xa5, 0x80]
 * ```
 */
import { hexWidth, isUnreadable, littleEndian, parseHex, parseHexBytes } from '../hex.ts';
import { parseSymbolText, type SymbolText } from '../symbol-table.ts';
import type { TranscriptFacts } from './facts.ts';
import type { TranscriptCommand, TranscriptLine } from './lexer.ts';

/** The `(address)` that follows a referenced name: `(80a604be)`, `(fffff800`02a8c5d0)`. */
const REFERENCE_ADDRESS = /^\(([0-9a-f]{8}(?:`[0-9a-f]{8})?|[0-9a-f]{16})\)/i;
/** Characters of the module part of `module!symbol`. */
const MODULE_CHAR = /[A-Za-z0-9_.$@-]/;
/** `ds:0023:80a5b020=8082e3e4`, `ss:0018:fffff880`03836e10=000000000000000a`. */
const EFFECTIVE_ADDRESS = /\b[a-z]{2}:(?:[0-9a-f]{4}:)?([0-9a-f]{8}(?:`[0-9a-f]{8})?|[0-9a-f]{16})=([0-9a-f?]+(?:`[0-9a-f?]+)?)(?:\s|$)/i;
/** `hal!HalpIpiHandler+0xb1:` or with source: `app!main+0x12 [c:\src\main.c @ 40]:`. */
const HEADER = /^(\S+?)(?:\s+\[[^\]]*\])?:$/;

/**
 * True for an address as WinDbg prints it in listings and memory dumps:
 * 8 hex digits, or 16 with or without the backtick.
 *
 * @example
 * ```ts
 * isAddressToken('80a5d8e1');          // true
 * isAddressToken('fffff800`02a8c5d0'); // true
 * isAddressToken('0ac0');              // false
 * ```
 */
export function isAddressToken(token: string): boolean {
  const width = hexWidth(token);
  return (width === 8 || width === 16) && !token.startsWith('0x') && parseHex(token) !== undefined;
}

/**
 * Records the symbols `text` names with `(address)` after them.
 *
 * @example
 * ```ts
 * readReferences('jne hal!HalpIpiHandler+0xc3 (80a5d8f3)', provenance, facts); // hal!HalpIpiHandler at 80a5d830
 * ```
 */
export function readReferences(text: string, provenance: { source: string; line?: number }, facts: TranscriptFacts): void {
  for (const reference of referencesIn(text)) {
    const symbol = parseSymbolText(reference.name);
    if (symbol) facts.addSymbolAt(symbol, parseHex(reference.address)!, provenance);
  }
}

/**
 * The `name (address)` pairs in `text`, in order, in one pass over its
 * tokens (a regular expression over the whole line backtracks
 * quadratically on long tokens).
 *
 * @example
 * ```ts
 * referencesIn('call hal!HalBeginSystemInterrupt (80a604be)'); // [{ name: 'hal!HalBeginSystemInterrupt', address: '80a604be' }]
 * ```
 */
export function referencesIn(text: string): { name: string; address: string }[] {
  const found: { name: string; address: string }[] = [];
  const tokens = text.split(/\s+/);
  for (let i = 0; i + 1 < tokens.length; i++) {
    const address = REFERENCE_ADDRESS.exec(tokens[i + 1]!);
    const name = address ? referencedName(tokens[i]!) : undefined;
    if (name !== undefined) found.push({ name, address: address![1]! });
  }
  return found;
}

/**
 * The `module!symbol` a token ends with, as WinDbg prints it before
 * `(address)`: after the last parenthesis, from the first run of module
 * characters followed by `!` and at least one more character.
 */
function referencedName(token: string): string | undefined {
  const text = token.slice(Math.max(token.lastIndexOf('('), token.lastIndexOf(')')) + 1);
  let runStart = 0;
  for (let j = 0; j < text.length; j++) {
    const c = text[j]!;
    if (c === '!' && j > runStart && j < text.length - 1) return text.slice(runStart);
    if (!MODULE_CHAR.test(c)) runStart = j + 1;
  }
  return undefined;
}

function readEffectiveAddress(text: string, command: TranscriptCommand, line: number, facts: TranscriptFacts): void {
  const match = EFFECTIVE_ADDRESS.exec(text);
  if (!match || isUnreadable(match[2]!)) return;
  const value = parseHex(match[2]!);
  const size = hexWidth(match[2]!) / 2;
  if (value === undefined || ![1, 2, 4, 8].includes(size)) return;
  facts.noteAddressToken(match[1]!);
  facts.writeMemory(parseHex(match[1]!)!, littleEndian(value, size), facts.provenance(command, line), 'data');
}

/**
 * The code bytes an instruction line's second token shows: x86 and x64
 * listings print the bytes in memory order; ARM64 listings print the
 * 32-bit instruction word, little-endian in memory. Undefined for a token
 * that is neither.
 *
 * @example
 * ```ts
 * codeBytes('ff1520b0a580', false); // Uint8Array [0xff, 0x15, 0x20, 0xb0, 0xa5, 0x80]
 * codeBytes('f9400042', true);      // Uint8Array [0x42, 0x00, 0x40, 0xf9]
 * ```
 */
export function codeBytes(token: string, instructionWords: boolean): Uint8Array | undefined {
  if (!instructionWords) return parseHexBytes(token);
  if (!/^[0-9a-f]{8}$/i.test(token)) return undefined;
  return littleEndian(BigInt(`0x${token}`), 4);
}

/** Options for `readListing`. */
export interface ListingOptions {
  /** Where a trailing header with no instruction after it points (the pc, after a register block). */
  headerFallback?: bigint;
}

/**
 * Reads listing lines from `lines[start]` on into `facts`; returns the lines
 * it could not read (blank lines excepted) for the caller to report.
 *
 * @example
 * ```ts
 * const unread = readListing(command, command.output, 0, facts);
 * if (unread.length > 0) facts.note('info', `${unread.length} lines not understood`);
 * ```
 */
export function readListing(
  command: TranscriptCommand,
  lines: TranscriptLine[],
  start: number,
  facts: TranscriptFacts,
  options: ListingOptions = {},
): TranscriptLine[] {
  const unread: TranscriptLine[] = [];
  let header: { symbol: SymbolText; line: number } | undefined;
  for (const entry of lines.slice(start)) {
    const text = entry.text.trim();
    if (text === '') continue;
    const headerMatch = HEADER.exec(text);
    const headerSymbol = headerMatch ? parseSymbolText(headerMatch[1]!) : undefined;
    if (headerSymbol) {
      header = { symbol: headerSymbol, line: entry.line };
      continue;
    }
    const tokens = text.split(/\s+/);
    // `uf` with line numbers on prints the source line first: `  120 80a5d8e1 e8d82b0000 call …`.
    if (tokens.length > 2 && !isAddressToken(tokens[0]!) && /^\d+$/.test(tokens[0]!) && isAddressToken(tokens[1]!)) tokens.shift();
    const provenance = facts.provenance(command, entry.line);
    if (tokens.length < 2 || !isAddressToken(tokens[0]!)) {
      readReferences(text, provenance, facts);
      unread.push(entry);
      continue;
    }
    const address = parseHex(tokens[0]!)!;
    facts.noteAddressToken(tokens[0]!);
    if (header) {
      facts.addSymbolAt(header.symbol, address, facts.provenance(command, header.line));
      header = undefined;
    }
    const bytes = codeBytes(tokens[1]!, facts.archHint === 'arm64');
    if (bytes) facts.writeMemory(address, bytes, provenance, 'code');
    else if (!isUnreadable(tokens[1]!)) {
      unread.push(entry);
      continue;
    }
    const operands = tokens.slice(2).join(' ');
    readReferences(operands, provenance, facts);
    readEffectiveAddress(operands, command, entry.line, facts);
  }
  if (header && options.headerFallback !== undefined) {
    facts.addSymbolAt(header.symbol, options.headerFallback, facts.provenance(command, header.line));
  }
  return unread;
}
