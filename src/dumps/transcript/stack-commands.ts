/**
 * Stack listings: `k` and its forms (`kb`, `kv`, `kp`, `kP`, `kn`, `kc`),
 * read as recorded frames. WinDbg prints, after `.ecxr`/`.trap`:
 *
 * ```
 *   *** Stack trace for last set context - .thread/.cxr resets it
 *  # Child-SP          RetAddr               : Args to Child                                                           : Call Site
 * 00 000000ed`c39ed138 00007ffa`11d6af5f     : 00007ff8`a55dda02 000000ed`c39ed1a0 00000000`00000000 0000fff4`15d360e1 : ntdll!NtWaitForAlertByThreadId+0x14
 *  # ChildEBP RetAddr  Args to Child
 * 00 0019f1d4 100aa414 06700ff8 0019fcd4 0019f30c FreeImaged!FreeImage_HasPixels+0x15
 * 00 0019f1d4 100aa414 FreeImaged!FreeImage_HasPixels+0x15
 * ```
 *
 * Frame i's call site is at frame i−1's return address, so each named site
 * after the first also names that address (a symbol fact, like `ln`'s).
 * `kv`'s trailing `(FPO: …)` / `(Trap @ …)` and `kp`'s argument lists are
 * not part of the site.
 *
 * @example
 * ```ts
 * readStackListing(command, facts); // facts.stacks[0].stack.frames[1].site === 'app!main+0x25'
 * ```
 */
import { parseHex } from '../hex.ts';
import type { RecordedFrame } from '../model.ts';
import { parseSymbolText } from '../symbol-table.ts';
import type { TranscriptFacts } from './facts.ts';
import type { TranscriptCommand, TranscriptLine } from './lexer.ts';

/** The verbs read as stack listings. */
export const STACK_VERB = /^k[bvpnPcfLM]*$/;

const ADDRESS = String.raw`(?:[0-9a-f]{8}\`[0-9a-f]{8}|[0-9a-f]{8,16})`;
const ROW = new RegExp(String.raw`^\s*(?:([0-9a-f]{1,4})\s+)?(${ADDRESS})\s+(${ADDRESS})\s+(.*)$`, 'i');

/** The call site in the text after RetAddr: after the last ` : ` (x64 kb), else after `args` words (x86 kb), without kv/kp trailers. */
function siteOf(rest: string, args: number): string | undefined {
  let text = rest.trim();
  const colon = text.lastIndexOf(' : ');
  if (colon >= 0) text = text.slice(colon + 3).trim();
  else if (text.startsWith(': ')) text = text.slice(2).trim();
  else if (args > 0) text = text.split(/\s+/).slice(args).join(' ');
  const site = text.split(/\s+|\(/)[0];
  return site ? site : undefined;
}

/** Reads a `k`-family command's rows into `facts` (the context it lists is the thread's current one). */
export function readStackListing(command: TranscriptCommand, facts: TranscriptFacts): void {
  const frames: RecordedFrame[] = [];
  const unread: TranscriptLine[] = [];
  let args = 0;
  for (const line of command.output) {
    const text = line.text;
    if (text.trim() === '' || /^\s*\*\*\*/.test(text)) continue;
    if (/^\s*#?\s*(Child-SP|ChildEBP)/i.test(text)) {
      // x86 `kb` prints three argument words between RetAddr and the site, with no colons.
      args = /ChildEBP/i.test(text) && /Args to Child/i.test(text) ? 3 : 0;
      continue;
    }
    const row = ROW.exec(text);
    const frameAddress = row && parseHex(row[2]!);
    const returnAddress = row && parseHex(row[3]!);
    const site = row ? siteOf(row[4]!, args) : undefined;
    if (!row || frameAddress === undefined || frameAddress === null || returnAddress === undefined || returnAddress === null || !site) {
      unread.push(line);
      continue;
    }
    facts.noteAddressToken(row[2]!);
    const provenance = facts.provenance(command, line.line);
    const index = row[1] !== undefined ? Number.parseInt(row[1], 16) : frames.length;
    frames.push({ index, frameAddress, returnAddress, site, provenance });
  }
  facts.noteUnread(command, unread);
  if (frames.length === 0) return;
  // Each site after the first is at the previous frame's return address.
  for (let i = 1; i < frames.length; i++) {
    const text = parseSymbolText(frames[i]!.site);
    const at = frames[i - 1]!.returnAddress;
    if (text && at !== 0n) facts.addSymbolAt(text, at, frames[i]!.provenance);
  }
  const thread = facts.scope?.thread ?? command.thread;
  facts.stacks.push({ thread, stack: { command: command.text, frames, provenance: facts.provenance(command, command.line) } });
}
