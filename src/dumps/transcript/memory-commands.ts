/**
 * Memory displays: `db`, `dw`, `dd`, `dq`, `dc` (values, with an ASCII
 * column in `db` and `dc`) and `dps`, `dds`, `dqs` (one pointer a line, with
 * the symbol it points into). Every line starts with its own address, so
 * the command's arguments (`l 1`, `L?0n20`, a range, an expression) are not
 * needed. Values are stored little-endian as memory of kind `data`; `??`
 * (unreadable) leaves bytes absent.
 *
 * ```
 * 80a5b020  8082e3e4
 * f78aecac  80a5d8fc hal!HalpIpiHandler+0xcc
 * 80a5b020  e4 e3 82 80 00 00 00 00-10 d8 a5 80 00 00 00 00  ................
 * ```
 *
 * @example
 * ```ts
 * readMemoryDisplay(command, facts); // `dd 80a5b020 l 1` → facts.memory holds e4 e3 82 80
 * ```
 */
import { hexWidth, isUnreadable, littleEndian, parseHex } from '../hex.ts';
import { parseSymbolText } from '../symbol-table.ts';
import type { TranscriptFacts } from './facts.ts';
import { isAddressToken } from './listing.ts';
import type { TranscriptCommand, TranscriptLine } from './lexer.ts';

interface Layout {
  /** Bytes per value; 0 = pointer-sized, read from the width of each value. */
  size: number;
  /** The line ends with the values as ASCII (`db`, `dc`). */
  ascii: boolean;
  /** One value a line, then a symbol (`dps`, `dds`, `dqs`). */
  pointers: boolean;
}

const LAYOUTS: Record<string, Layout> = {
  db: { size: 1, ascii: true, pointers: false },
  dw: { size: 2, ascii: false, pointers: false },
  dd: { size: 4, ascii: false, pointers: false },
  dq: { size: 8, ascii: false, pointers: false },
  dc: { size: 4, ascii: true, pointers: false },
  dps: { size: 0, ascii: false, pointers: true },
  dds: { size: 4, ascii: false, pointers: true },
  dqs: { size: 8, ascii: false, pointers: true },
};

/**
 * The memory-display verbs this module reads.
 *
 * @example
 * ```ts
 * MEMORY_DISPLAY_VERBS.includes('dps'); // true
 * ```
 */
export const MEMORY_DISPLAY_VERBS: readonly string[] = Object.keys(LAYOUTS);

/** A value token: `size` bytes of hex (a backtick allowed in 8-byte ones), or unreadable. */
function isValueToken(token: string, size: number): boolean {
  return hexWidth(token) === size * 2 && (parseHex(token) !== undefined || isUnreadable(token));
}

/** The ASCII column's characters for one value: printable bytes as themselves, others '.', unreadable '?'. */
function asciiChars(token: string, size: number): string {
  const value = parseHex(token);
  const bytes = value === undefined ? undefined : littleEndian(value, size);
  let text = '';
  for (let i = 0; i < size; i++) {
    const byte = bytes?.[i];
    text += byte === undefined ? '?' : byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.';
  }
  return text;
}

/**
 * How many of the value-looking tokens are values: in `db`/`dc` the ASCII
 * column may itself look like hex (`dc` of 'abcd'), so the split chosen is
 * the one whose remaining text is exactly the rendering of the values
 * (spaces collapsed and trimmed, as the line was split into tokens).
 *
 * Linear in the line: the remaining text shrinks with each value taken
 * while the rendering grows, so only a split whose lengths agree is
 * compared, and at most one does.
 */
function valueCount(candidates: string[], tokens: string[], layout: Layout): number {
  if (!layout.ascii) return candidates.length;
  const rest = tokens.slice(1).join(' ');
  // restStart[k]: where the text after k values starts in `rest`.
  const restStart = [0];
  for (let k = 0; k < candidates.length; k++) restStart.push(restStart[k]! + tokens[1 + k]!.length + 1);
  // rendering: the ASCII column of all candidates, spaces collapsed, leading ones dropped; shown[k]: its length for k values, trailing space dropped.
  const rendering: string[] = [];
  const shown = [0];
  for (const token of candidates) {
    for (const c of asciiChars(token, layout.size)) {
      if (c !== ' ') rendering.push(c);
      else if (rendering.length > 0 && rendering[rendering.length - 1] !== ' ') rendering.push(' ');
    }
    shown.push(rendering[rendering.length - 1] === ' ' ? rendering.length - 1 : rendering.length);
  }
  const text = rendering.join('');
  for (let k = candidates.length; k >= 0; k--) {
    const remaining = Math.max(0, rest.length - restStart[k]!);
    if (remaining === shown[k] && rest.slice(restStart[k]!) === text.slice(0, shown[k])) return k;
  }
  return candidates.length;
}

function readValueLine(command: TranscriptCommand, entry: TranscriptLine, tokens: string[], layout: Layout, facts: TranscriptFacts): boolean {
  const candidates: string[] = [];
  for (const token of tokens.slice(1)) {
    if (!isValueToken(token, layout.size)) break;
    candidates.push(token);
  }
  if (candidates.length === 0) return false;
  const count = valueCount(candidates, tokens, layout);
  const base = parseHex(tokens[0]!)!;
  const provenance = facts.provenance(command, entry.line);
  let run: number[] = [];
  let runStart = base;
  const flush = (): void => {
    if (run.length > 0) facts.writeMemory(runStart, Uint8Array.from(run), provenance, 'data');
    run = [];
  };
  for (let i = 0; i < count; i++) {
    const at = base + BigInt(i * layout.size);
    const value = parseHex(candidates[i]!);
    if (value === undefined) {
      flush();
      continue;
    }
    if (run.length === 0) runStart = at;
    run.push(...littleEndian(value, layout.size));
  }
  flush();
  return true;
}

function readPointerLine(command: TranscriptCommand, entry: TranscriptLine, tokens: string[], layout: Layout, facts: TranscriptFacts): boolean {
  const valueToken = tokens[1];
  if (valueToken === undefined) return false;
  if (isUnreadable(valueToken)) return true;
  const value = parseHex(valueToken);
  const size = layout.size || (hexWidth(valueToken) > 8 ? 8 : 4);
  if (value === undefined || hexWidth(valueToken) !== size * 2) return false;
  const provenance = facts.provenance(command, entry.line);
  facts.writeMemory(parseHex(tokens[0]!)!, littleEndian(value, size), provenance, 'data');
  const symbol = tokens[2] === undefined ? undefined : parseSymbolText(tokens[2]);
  if (symbol) facts.addSymbolAt(symbol, value, provenance);
  return true;
}

/**
 * Reads a memory display's output into `facts`; lines it cannot read are
 * reported in one info note.
 *
 * @example
 * ```ts
 * readMemoryDisplay(command, facts); // `dps f78aecac` → 4 bytes per line, plus symbols
 * ```
 */
export function readMemoryDisplay(command: TranscriptCommand, facts: TranscriptFacts): void {
  const layout = LAYOUTS[command.verb];
  if (!layout) throw new RangeError(`'${command.verb}' is not a memory display (expected one of ${MEMORY_DISPLAY_VERBS.join(', ')})`);
  const unread: TranscriptLine[] = [];
  for (const entry of command.output) {
    if (entry.text.trim() === '') continue;
    // db separates the 8th and 9th bytes with '-': `00-10`.
    const text = command.verb === 'db' ? entry.text.replace(/(\s[0-9a-f?]{2})-([0-9a-f?]{2}\s)/i, '$1 $2') : entry.text;
    const tokens = text.trim().split(/\s+/);
    const ok = isAddressToken(tokens[0]!) && (layout.pointers ? readPointerLine(command, entry, tokens, layout, facts) : readValueLine(command, entry, tokens, layout, facts));
    if (ok) facts.noteAddressToken(tokens[0]!);
    else unread.push(entry);
  }
  facts.noteUnread(command, unread);
}
