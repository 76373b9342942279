/**
 * What the command parsers learn from a transcript, gathered in one place
 * before the loader turns it into a `Dump`: memory with per-line provenance,
 * symbols, register contexts, modules, the fault, notes, and evidence of the
 * address width. Parsers write here and never build the `Dump` themselves.
 *
 * @example
 * ```ts
 * const facts = new TranscriptFacts('crash.txt');
 * facts.writeMemory(0x80a5b020n, new Uint8Array([0xe4, 0xe3, 0x82, 0x80]), { source: 'dd 80a5b020 l 1', line: 40 }, 'data');
 * facts.memory.read(0x80a5b020n, 4); // Uint8Array [0xe4, 0xe3, 0x82, 0x80]
 * ```
 */
import type { Arch } from '../../../emu/registers.ts';
import { DumpFormatError, type DumpErrorCode } from '../errors.ts';
import type { DumpModule, DumpNote, Fault, MemoryKind, Provenance, RegisterContext, RecordedStack } from '../model.ts';
import { SparseMemory } from '../sparse-memory.ts';
import type { SymbolText } from '../symbol-table.ts';
import { formatBytes, hexWidth, showAddress } from '../hex.ts';
import type { TranscriptCommand, TranscriptLine } from './lexer.ts';
import { shortText, quoteInput } from '../../quote.ts';

/** The format name transcript errors and dumps carry. */
export const TRANSCRIPT_FORMAT = 'windbg-transcript';

/** A register context and the thread (processor) it belongs to. */
export interface ContextFact {
  thread: number;
  context: RegisterContext;
  /** From the register names shown (`eax` → x86, `rax` → x64, `x0` → arm64), when they tell. */
  arch?: Arch;
}

/** A name seen at an address: `base` is where the symbol starts. */
export interface SymbolFact {
  module?: string;
  symbol?: string;
  base: bigint;
  size?: bigint;
  provenance: Provenance;
}

/**
 * Everything learnt from a transcript so far.
 *
 * @example
 * ```ts
 * const facts = new TranscriptFacts('crash.txt');
 * facts.addSymbolAt({ module: 'hal', symbol: 'HalpIpiHandler', offset: 0xccn }, 0x80a5d8fcn, { source: 'dps f78aecac', line: 22 });
 * facts.symbols[0].base; // 0x80a5d830n
 * ```
 */
export class TranscriptFacts {
  readonly path: string;
  readonly memory = new SparseMemory();
  readonly symbols: SymbolFact[] = [];
  readonly contexts: ContextFact[] = [];
  readonly modules: DumpModule[] = [];
  readonly notes: DumpNote[] = [];
  /** Stack listings (`kb`), with the thread they list. */
  readonly stacks: Array<{ thread: number; stack: RecordedStack }> = [];
  fault?: Fault;
  /** The context `r` output describes after `.trap ADDR` / `.cxr ADDR`, until reset. */
  scope?: ContextFact;
  /**
   * The architecture the whole transcript shows, found before any command
   * is read (see arch-evidence.ts): listings print ARM64 code as
   * instruction words, which only this tells from x86 bytes.
   */
  archHint?: Arch;
  /** Whether any address was printed 64-bit wide (16 digits or a backtick). */
  sawWideAddress = false;
  /** Whether any address was printed at all. */
  sawAddress = false;

  constructor(path: string) {
    this.path = path;
  }

  /** Throws a `DumpFormatError` for this transcript at `line` (its `describe()` shows `path:line:`). */
  fail(message: string, line: number, code: DumpErrorCode = 'bad-field'): never {
    throw new DumpFormatError(TRANSCRIPT_FORMAT, this.path, message, { line, code });
  }

  /** Provenance of something read from `command`'s output at `line`. */
  provenance(command: TranscriptCommand, line: number): Provenance {
    return { source: command.text, line };
  }

  /** Records the width an address token was printed with (64-bit evidence). */
  noteAddressToken(token: string): void {
    this.sawAddress = true;
    if (token.includes('`') || hexWidth(token) > 8) this.sawWideAddress = true;
  }

  /**
   * Stores bytes read from the transcript. A disagreement with bytes an
   * earlier line gave becomes a warning naming both lines; the earlier value
   * stays (see `SparseMemory`).
   */
  writeMemory(address: bigint, bytes: Uint8Array, provenance: Provenance, kind: MemoryKind): void {
    if (address + BigInt(bytes.length) > 1n << 64n) {
      this.fail(`${bytes.length} bytes at ${showAddress(address)} run past the end of the 64-bit address space`, provenance.line ?? 0);
    }
    for (const conflict of this.memory.write(address, bytes, provenance, kind)) {
      const before = conflict.existingProvenance;
      this.note(
        'warning',
        `Memory at ${showAddress(conflict.address)} disagrees: line ${before.line} (\`${shortText(before.source, 60)}\`) shows ${formatBytes(conflict.existing)}, ` +
          `line ${provenance.line} (\`${shortText(provenance.source, 60)}\`) shows ${formatBytes(conflict.incoming)}; keeping line ${before.line}'s`,
        provenance,
      );
    }
  }

  /**
   * Records a symbol from text that names `address`: for
   * `hal!HalpIpiHandler+0xcc` at 80a5d8fc the symbol starts at 80a5d830.
   */
  addSymbolAt(text: SymbolText, address: bigint, provenance: Provenance, size?: bigint): void {
    if (text.offset > address) {
      this.note('warning', `Symbol offset 0x${text.offset.toString(16)} exceeds the address ${showAddress(address)} it names; ignored`, provenance);
      return;
    }
    this.symbols.push({ module: text.module, symbol: text.symbol, base: address - text.offset, size, provenance });
  }

  /** One info note for the lines of `command`'s output a parser could not read (none: no note). */
  noteUnread(command: TranscriptCommand, unread: TranscriptLine[]): void {
    if (unread.length === 0) return;
    this.note(
      'info',
      `${unread.length} line(s) of \`${shortText(command.text, 60)}\` output not understood; first: ${quoteInput(unread[0]!.text.trim())}`,
      this.provenance(command, unread[0]!.line),
      unread.map((l) => l.text).join('\n'),
    );
  }

  /** An info note that `command`'s output was not read, keeping the output as the note's text. */
  noteSkipped(command: TranscriptCommand, reason: string): void {
    this.note('info', `Skipped \`${shortText(command.text, 60)}\`: ${reason}`, this.provenance(command, command.line), command.output.map((l) => l.text).join('\n'));
  }

  /** Adds a note for the user. */
  note(level: DumpNote['level'], message: string, provenance?: Provenance, text?: string): void {
    const note: DumpNote = { level, message };
    if (provenance) note.provenance = provenance;
    if (text !== undefined) note.text = text;
    this.notes.push(note);
  }
}
