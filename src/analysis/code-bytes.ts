/**
 * Code corruption: the code bytes the dump holds differ from the module
 * file by one bit (like WinDbg's `!chkimg`), and the changed instruction
 * explains the trap: the replay of the code as it is in memory reproduces
 * the fault, and the replay with the file's byte does not.
 *
 * @example
 * ```ts
 * codeByteHypotheses(ctx, moduleFiles(dump, ['./crash']));
 * // [{ class: 'code-corruption', location: 'code', address: '0x401003', bit: 6, expected: '0x85', observed: '0xc5', … }]
 * ```
 */
import type { ModuleFiles } from '../dumps/module-files.ts';
import { formatAddress, hex } from '../format.ts';
import { compareOutcome, summarize, type Check } from './checks.ts';
import { popcount } from './bits.ts';
import { SWEEP_LIMIT } from './flow.ts';
import type { SearchContext } from './families.ts';
import { executable } from './values.ts';
import { entryStackCheck, stackPointerLive } from './entry-check.ts';
import { spRegister } from '../../emu/registers.ts';
import type { Hypothesis } from './hypothesis.ts';

/** Evidence weights (log10). */
const ONE_BIT_FROM_FILE = 5;
const FILE_BYTE_DOES_NOT_TRAP = 2;
const FILE_BYTE_TRAPS_TOO = -3;
/** Bytes compared around each executed instruction and in the faulting function, at most. */
const FUNCTION_SPAN = 0x4000n;

/** Byte ranges worth comparing: the function of the fault, and every instruction the window ran. */
function spans(ctx: SearchContext): Array<{ start: bigint; end: bigint }> {
  const out: Array<{ start: bigint; end: bigint }> = [];
  const location = ctx.dump.symbols.lookup(ctx.site.pc);
  if (location?.symbol && location.offset < FUNCTION_SPAN) out.push({ start: location.base, end: ctx.site.pc + 16n });
  else out.push({ start: ctx.site.pc > 64n ? ctx.site.pc - 64n : 0n, end: ctx.site.pc + 16n });
  for (const pc of new Set(ctx.window.faithful.path)) out.push({ start: pc, end: pc + 16n });
  for (const insn of ctx.window.instructions) out.push({ start: insn.address, end: insn.address + BigInt(insn.size) });
  return out;
}

/** Bytes where the dump's code and the module file differ, within the spans: address, file byte, dump byte. */
export function codeDifferences(ctx: SearchContext, files: ModuleFiles): Array<{ address: bigint; file: number; dump: number }> {
  const seen = new Set<bigint>();
  const out: Array<{ address: bigint; file: number; dump: number }> = [];
  // Only code: data the file also holds (a GOT the loader filled in, a pointer relocated) differs from it by design.
  const pages = new Map<bigint, boolean>();
  const isCode = (at: bigint) => {
    const page = at >> 12n;
    if (!pages.has(page)) pages.set(page, executable(ctx.dump, ctx.code, at));
    return pages.get(page)!;
  };
  for (const span of spans(ctx)) {
    for (let at = span.start; at < span.end; at++) {
      if (seen.has(at)) continue;
      seen.add(at);
      if (!isCode(at)) continue;
      const held = ctx.dump.memory.read(at, 1);
      const file = files.read(at, 1);
      if (!held || !file || held[0] === file[0]) continue;
      out.push({ address: at, file: file[0]!, dump: held[0]! });
    }
  }
  return out.sort((a, b) => (a.address < b.address ? -1 : 1));
}

/**
 * Whether the code that says how control could reach the window's start (its
 * function, decoded from the start: see flow.ts) runs across `address`: a
 * different byte there decodes the instructions after it differently, and
 * with them the branches into the window.
 */
function decodedAcross(ctx: SearchContext, address: bigint): boolean {
  const location = ctx.dump.symbols.lookup(ctx.window.start);
  if (location?.symbol) return address >= location.base && address < location.base + SWEEP_LIMIT;
  return address + 64n >= ctx.window.start && address < ctx.window.start + 64n;
}

/**
 * The code-byte accounts of a window; `within`: only differences in these bytes (the faulting instruction, when
 * the window is that instruction alone). `asFile` is a check for the window's other accounts, which replay the
 * code as the dump holds it: where the window ran a byte one bit from the module file's and the file's byte does
 * not fault as the dump recorded (a mismatch), or ends on values the dump lacks (unknown), the code as written
 * (the file's) does not reproduce the trap: none of them explains it.
 */
export function codeByteHypotheses(ctx: SearchContext, files: ModuleFiles, within?: { start: bigint; end: bigint }): { hypotheses: Hypothesis[]; asFile?: Check } {
  const f = (v: bigint) => formatAddress(ctx.dump.arch, v);
  const differences = codeDifferences(ctx, files).filter((d) => !within || (d.address >= within.start && d.address < within.end));
  const out: Hypothesis[] = [];
  let asFileCheck: Check | undefined;
  const faithful = compareOutcome(ctx.dump, ctx.site, ctx.window.faithful.outcome, ctx.checkContext);
  for (const d of differences) {
    const xor = BigInt(d.file ^ d.dump);
    if (popcount(xor) !== 1) continue;
    const bit = xor.toString(2).length - 1;
    // Whether the file's byte would have avoided the trap says something only if the window runs that code.
    const ran = ctx.window.faithful.path.some((pc) => pc <= d.address && d.address < pc + 16n && ctx.code.decodeAt(pc) !== undefined && d.address < pc + BigInt(ctx.code.decodeAt(pc)!.size));
    const asFile = ran ? ctx.window.replayer.run({ kind: 'bytes', address: d.address, bytes: Uint8Array.of(d.file) }) : undefined;
    const trapWithFile = asFile ? compareOutcome(ctx.dump, ctx.site, asFile, ctx.checkContext)[0]! : undefined;
    // The file's code must also have been entered with the window's start state: a function is not entered with its
    // stack pointer where nothing is mapped, unless its code sets the stack pointer before it reads it (as the
    // changed byte may have made it do).
    const entry = asFile && entryStackCheck(ctx.dump, ctx.window, stackPointerLive(ctx.effects, ctx.window.faithful.path, (pc) => fileBytes(pc, d), spRegister(ctx.dump.arch)));
    const withFile = entry ? { ...entry, actual: entry.note } : trapWithFile;
    // The code as written is the file's: a replay of the code as memory holds it shows what the changed byte did.
    if (withFile && withFile.status !== 'match') {
      asFileCheck ??= {
        what: 'code', expected: d.file.toString(16).padStart(2, '0'), actual: d.dump.toString(16).padStart(2, '0'), status: withFile.status, basis: 'computed',
        note: `the replay ran the byte at ${f(d.address)} as memory holds it; with ${owner(d.address)}'s, the code as written ${entry
          ? `cannot have started as the window does: ${entry.note}`
          : withFile.status === 'mismatch' ? `ends otherwise: ${withFile.actual ?? 'another way'}` : 'ends on values the dump does not hold'}`,
      };
    }
    const checks = faithful.map((c) => (c.what === 'arrival' && c.status === 'mismatch' && decodedAcross(ctx, d.address)
      ? { ...c, status: 'unknown' as const, note: `${c.note ?? ''}; but the ways in were decoded across ${f(d.address)}, whose byte this account says was another` }
      : c));
    const summary = summarize(checks);
    out.push({
      id: `code@${d.address.toString(16)}:${bit}`, class: 'code-corruption', location: 'code', family: 'code-byte', window: ctx.windowId,
      description: `the code byte at ${f(d.address)} is ${d.dump.toString(16).padStart(2, '0')} in memory and ${d.file.toString(16).padStart(2, '0')} in ${owner(d.address)}: bit ${bit} flipped`,
      bit, expected: hex(BigInt(d.file)), observed: hex(BigInt(d.dump)), address: hex(d.address),
      explains: checks[0]!.status === 'match' && summary.mismatch === 0, summary, checks,
      evidence: [
        { text: `the code in memory differs from ${owner(d.address)} by one bit at ${f(d.address)}`, weight: ONE_BIT_FROM_FILE },
        // A replay with the file's byte that only comes to the trap on an address it cannot compute does not show
        // the recorded fault: like one whose end is unknown, it leaves the changed byte as what made it.
        ...(withFile === undefined ? []
          : withFile.status === 'match' && !withFile.reached
            ? [{ text: `with the file's byte the code still faults the same way: the changed byte is not why`, weight: FILE_BYTE_TRAPS_TOO }]
            : [{ text: `with the file's byte the code does not fault here as recorded (${withFile.status === 'mismatch' ? withFile.actual ?? 'another end' : 'its end depends on values the dump does not hold'})`, weight: FILE_BYTE_DOES_NOT_TRAP }]),
      ],
      tried: 1, score: 0,
    });
  }
  return { hypotheses: out, ...(asFileCheck ? { asFile: asFileCheck } : {}) };

  /** The bytes of the instruction at `pc` as the file has them, where `d` is one of them. */
  function fileBytes(pc: bigint, d: { address: bigint; file: number }): Uint8Array | undefined {
    const bytes = ctx.code.decodeAt(pc)?.bytes;
    if (!bytes || d.address < pc || d.address >= pc + BigInt(bytes.length)) return bytes;
    const out = Uint8Array.from(bytes);
    out[Number(d.address - pc)] = d.file;
    return out;
  }

  function owner(address: bigint): string {
    return files.fileAt(address) ?? 'the module file';
  }
}
