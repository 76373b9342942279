/**
 * Commands that list names: `x` (symbols matching a pattern), `ln` (the
 * symbols around an address) and `lm` (loaded modules).
 *
 * ```
 * 0:000> x app!main
 * 00007ff6`1a2b1210 app!main (int, char **)
 * 1: kd> ln 80a5d8fc
 * (80a5d830)   hal!HalpIpiHandler+0xcc   |  (80a5d900)   hal!HalpIpiHandler2
 * 1: kd> lm
 * start    end        module name
 * 804d7000 806cd280   nt         (pdb symbols)
 * ```
 *
 * In `ln` output the address in parentheses is where the symbol starts (the
 * `+0xcc` is the queried address's offset), and the next symbol bounds its
 * size when both are in one module.
 *
 * @example
 * ```ts
 * readSymbolListing(command, facts); // `ln 80a5d8fc` → hal!HalpIpiHandler at 80a5d830, 0xd0 bytes
 * ```
 */
import { parseHex } from '../hex.ts';
import { parseSymbolText } from '../symbol-table.ts';
import type { DumpModule } from '../model.ts';
import type { TranscriptFacts } from './facts.ts';
import { isAddressToken } from './listing.ts';
import type { TranscriptCommand, TranscriptLine } from './lexer.ts';

const LN_ENTRY = /\(([0-9a-f]{8}(?:`[0-9a-f]{8})?|[0-9a-f]{16})\)\s+(\S+)/gi;
/** `x /v` rows start with a scope and kind: `prv func   80a5d830   d0 hal!HalpIpiHandler (void)`. */
const X_VERBOSE = /^(?:prv|pub|loc|par|glo)\s/i;

function readX(command: TranscriptCommand, entry: TranscriptLine, facts: TranscriptFacts): boolean {
  const tokens = entry.text.trim().split(/\s+/);
  let at = 0;
  let size: bigint | undefined;
  if (X_VERBOSE.test(entry.text.trim())) {
    at = tokens.findIndex(isAddressToken);
    if (at < 0) return false;
    // `x /v` prints the size in hex between the address and the name.
    const sizeValue = parseHex(tokens[at + 1] ?? '');
    if (sizeValue !== undefined && tokens[at + 2] !== undefined) {
      size = sizeValue;
      tokens.splice(at + 1, 1);
    }
  }
  const addressToken = tokens[at];
  const symbol = tokens[at + 1] === undefined ? undefined : parseSymbolText(tokens[at + 1]!);
  if (addressToken === undefined || !isAddressToken(addressToken) || !symbol?.symbol || symbol.offset !== 0n) return false;
  facts.noteAddressToken(addressToken);
  facts.addSymbolAt(symbol, parseHex(addressToken)!, facts.provenance(command, entry.line), size || undefined);
  return true;
}

function readLn(command: TranscriptCommand, entry: TranscriptLine, facts: TranscriptFacts): boolean {
  const found = [...entry.text.matchAll(LN_ENTRY)].flatMap((m) => {
    const symbol = parseSymbolText(m[2]!);
    return symbol ? [{ symbol: { ...symbol, offset: 0n }, token: m[1]!, address: parseHex(m[1]!)! }] : [];
  });
  found.forEach((item, i) => {
    const next = found[i + 1];
    const size = next && next.symbol.module === item.symbol.module && next.address > item.address ? next.address - item.address : undefined;
    facts.noteAddressToken(item.token);
    facts.addSymbolAt(item.symbol, item.address, facts.provenance(command, entry.line), size);
  });
  // `Exact matches:` and the names under it repeat what the first line said.
  return found.length > 0 || /^(exact matches:|browse module|set bu breakpoint)/i.test(entry.text.trim()) || /^\s+\S+!\S+/.test(entry.text);
}

function readLm(command: TranscriptCommand, entry: TranscriptLine, facts: TranscriptFacts, last: DumpModule | undefined): DumpModule | 'known' | undefined {
  const text = entry.text.trim();
  const tokens = text.split(/\s+/);
  if (/^start\s+end\s+module name/i.test(text)) return 'known';
  const path = /^Image path:\s*(.+)$/i.exec(text);
  if (path && last) {
    last.path = path[1]!;
    return 'known';
  }
  if (last && /^[A-Z][A-Za-z ]+:/.test(text)) return 'known';
  if (tokens.length < 3 || !isAddressToken(tokens[0]!) || !isAddressToken(tokens[1]!)) return undefined;
  const base = parseHex(tokens[0]!)!;
  const end = parseHex(tokens[1]!)!;
  if (end <= base) return undefined;
  facts.noteAddressToken(tokens[0]!);
  const module: DumpModule = { name: tokens[2]!, base, size: end - base };
  facts.modules.push(module);
  return module;
}

/**
 * Reads `x`, `ln` or `lm` output into `facts`; lines it cannot read are
 * reported in one info note. `lm` stops at `Unloaded modules:`.
 *
 * @example
 * ```ts
 * readSymbolListing(command, facts); // `x hal!Halp*` → one symbol per line
 * ```
 */
export function readSymbolListing(command: TranscriptCommand, facts: TranscriptFacts): void {
  const unread: TranscriptLine[] = [];
  let lastModule: DumpModule | undefined;
  for (const entry of command.output) {
    if (entry.text.trim() === '') continue;
    if (command.verb.startsWith('lm')) {
      if (/^Unloaded modules:/i.test(entry.text.trim())) break;
      const result = readLm(command, entry, facts, lastModule);
      if (result === undefined) unread.push(entry);
      else if (result !== 'known') lastModule = result;
      continue;
    }
    const ok = command.verb === 'ln' ? readLn(command, entry, facts) : readX(command, entry, facts);
    if (!ok) unread.push(entry);
  }
  facts.noteUnread(command, unread);
}
