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
 * 0:000> lmv m libc_so
 * Browse full module list
 * start             end                 module name
 * 00007f21`cf652000 00007f21`cf827000   libc_so    (deferred)
 *     Image path: /usr/lib/x86_64-linux-gnu/libc.so.6
 * ```
 *
 * Every `lm` form is read into modules (start, end, name): `(deferred)`,
 * `C (private pdb symbols)` with the PDB's path, `lmf` with the image's path,
 * `lmv` with `Image path:` and the other detail lines under each module.
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

/** `lm` row: start, end, name, then flags (`C`, `M`, `#`), the symbol state in parentheses, a path (`lmf`: the image's). */
const LM_ROW = /^(\S+)\s+(\S+)\s+(\S+)\s*(.*)$/;
/** `lmv` lines under a module that name its file. */
const LM_IMAGE = /^(Image path|Image name|Loaded symbol image file|Mapped memory image file):\s*(.+)$/i;
/** Lines `lm` prints that say nothing faultline keeps: DML links, `lmv` details. */
const LM_CHATTER = /^(?:Browse\b|[A-Z][A-Za-z ]+:)/;

function imagePath(rest: string): string | undefined {
  const path = rest.replace(/^[A-Z#]{1,3}\s+/, '').trim();
  return path !== '' && !path.startsWith('(') && /[\\/]|\.[a-z0-9]+$/i.test(path) ? path : undefined;
}

function readLm(command: TranscriptCommand, entry: TranscriptLine, facts: TranscriptFacts, last: DumpModule | undefined): DumpModule | 'known' | undefined {
  const text = entry.text.trim();
  if (/^start\s+end\s+module name/i.test(text)) return 'known';
  const image = LM_IMAGE.exec(text);
  if (image && last) {
    // `Image path` is the file the debugger mapped; the others stand in when it is not shown.
    if (image[1]!.toLowerCase() === 'image path' || last.path === undefined) last.path = image[2]!.trim();
    return 'known';
  }
  if (LM_CHATTER.test(text)) return 'known';
  // `lm` wraps a long symbol path onto an indented line of its own.
  if (last && /^\s/.test(entry.text) && /^(?:[A-Za-z]:\\|\\|\/)/.test(text)) return 'known';
  const row = LM_ROW.exec(text);
  if (!row || !isAddressToken(row[1]!) || !isAddressToken(row[2]!)) return undefined;
  const base = parseHex(row[1]!)!;
  const end = parseHex(row[2]!)!;
  if (end <= base) return undefined;
  facts.noteAddressToken(row[1]!);
  const module: DumpModule = { name: row[3]!, base, size: end - base };
  const path = imagePath(row[4]!);
  if (path) module.path = path;
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
