/**
 * Opens a WinDbg (kd or cdb) transcript — pasted text or a `.logopen` log —
 * as a `Dump`. Each command's output goes to the parser for its family:
 *
 * | commands                          | gives                                   |
 * |-----------------------------------|-----------------------------------------|
 * | `.bugcheck`, `.exr`               | the fault                               |
 * | `.trap`, `.cxr`, `.ecxr`, `r`     | register contexts, the pc's symbol      |
 * | `u`, `ub`, `uf`                   | code bytes (ARM64: instruction words), symbols |
 * | `db` `dw` `dd` `dq` `dc`, `dps` `dds` `dqs` | data bytes, symbols           |
 * | `x`, `ln`, `lm`                   | symbols, modules                        |
 * | `?`, `??`                         | nothing (evaluations)                   |
 * | anything else (`!ipi`, `k`, …)    | an info note "Skipped", output kept     |
 *
 * Every byte carries the command and 1-based line it came from; two lines
 * that disagree about a byte give a warning and the first value stays.
 * Registers a context does not show stay absent.
 *
 * @example
 * ```ts
 * const dump = loadTranscript('test/fixtures/transcripts/ipi-call-target-bitflip.txt');
 * dump.fault;                               // { kind: 'bugcheck', code: 0x8en, … }
 * dump.symbols.format(0x80a5d8fcn);         // 'hal!HalpIpiHandler+0xcc'
 * dump.memory.read(0x80a5b020n, 4);         // Uint8Array [0xe4, 0xe3, 0x82, 0x80]
 * ```
 */
import { closeSync, readSync } from 'node:fs';
import { openRegularFile } from '../binary/regular-file.ts';
import { DumpFormatError } from '../errors.ts';
import type { Dump } from '../model.ts';
import { transcriptArch } from './arch-evidence.ts';
import { assembleDump } from './assemble.ts';
import { readContextCommand } from './context-commands.ts';
import { TRANSCRIPT_FORMAT, TranscriptFacts } from './facts.ts';
import { readBugcheck, readExceptionRecord } from './fault-commands.ts';
import { lexTranscript, type TranscriptCommand, type TranscriptLine } from './lexer.ts';
import { readListing } from './listing.ts';
import { MEMORY_DISPLAY_VERBS, readMemoryDisplay } from './memory-commands.ts';
import { startsRegisterBlock } from './register-block.ts';
import { readStackListing, STACK_VERB } from './stack-commands.ts';
import { readSymbolListing } from './symbol-commands.ts';
import { shortText, quoteInput } from '../../quote.ts';

type Reader = (command: TranscriptCommand, facts: TranscriptFacts) => void;

const readListingCommand: Reader = (command, facts) => facts.noteUnread(command, readListing(command, command.output, 0, facts));

const READERS: Record<string, Reader> = {
  '.bugcheck': readBugcheck,
  '.exr': readExceptionRecord,
  '.trap': (command, facts) => readContextCommand(command, facts, 'trap-frame'),
  '.cxr': (command, facts) => readContextCommand(command, facts, 'context'),
  '.ecxr': (command, facts) => readContextCommand(command, facts, 'context'),
  r: (command, facts) => readContextCommand(command, facts, 'thread'),
  rm: (command, facts) => readContextCommand(command, facts, 'thread'),
  u: readListingCommand,
  ub: readListingCommand,
  uf: readListingCommand,
  x: readSymbolListing,
  ln: readSymbolListing,
  '?': () => {},
  '??': () => {},
  ...Object.fromEntries(MEMORY_DISPLAY_VERBS.map((verb) => [verb, readMemoryDisplay])),
};

/** Memory-editing commands: what later commands show may differ from the dump. */
const EDITS = /^e[abdfpqwu]?$|^ez[au]?$/;

function readerFor(verb: string): Reader | undefined {
  if (verb in READERS) return READERS[verb];
  if (/^lm[a-z]*$/.test(verb)) return readSymbolListing;
  if (STACK_VERB.test(verb)) return readStackListing;
  return undefined;
}

function readCommand(command: TranscriptCommand, facts: TranscriptFacts): void {
  const reader = readerFor(command.verb);
  if (reader) return reader(command, facts);
  if (command.verb === '.thread' || command.verb === '.process') facts.scope = undefined;
  if (EDITS.test(command.verb)) {
    facts.note('warning', `\`${shortText(command.text, 60)}\` edits memory: later output may not be what the dump holds`, facts.provenance(command, command.line));
  } else if (command.output.some((l) => l.text.trim() !== '')) {
    facts.noteSkipped(command, 'faultline does not read this command; its output is kept as text');
  }
}

function decode(bytes: Buffer): string {
  // `.logopen /u` writes UTF-16LE with a byte order mark.
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString('utf16le');
  return bytes.toString('utf8');
}

/**
 * The largest transcript read, 256 MiB: a pasted or logged session is a
 * few MiB at most, and the text is read whole (about four bytes of memory
 * per byte of file once split into lines).
 */
export const TRANSCRIPT_SIZE_LIMIT = 256 * 1024 * 1024;

function readText(path: string): string {
  const { fd, size } = openRegularFile(path, TRANSCRIPT_FORMAT);
  try {
    if (size > TRANSCRIPT_SIZE_LIMIT) {
      throw new DumpFormatError(TRANSCRIPT_FORMAT, path, `The file is ${size} bytes, more than a transcript is read (${TRANSCRIPT_SIZE_LIMIT} bytes = 256 MiB) and no dump format faultline knows`, { code: 'unsupported' });
    }
    // At most the size stat gave: a file that grows while being read cannot make this unbounded.
    const bytes = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, bytes, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    return decode(bytes.subarray(0, done));
  } catch (error) {
    if (error instanceof DumpFormatError) throw error;
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new DumpFormatError(TRANSCRIPT_FORMAT, path, `Cannot read transcript ${path}: ${reason}`, { code: 'io' });
  } finally {
    closeSync(fd);
  }
}

/** Without any prompt, a pasted register block (with its pc line) is still read, as `r` output. */
function readPromptless(preamble: TranscriptLine[], facts: TranscriptFacts): void {
  const first = preamble.find((l) => l.text.trim() !== '');
  if (!first) facts.fail(`${facts.path} is empty: a WinDbg transcript has prompts such as '1: kd>' or '0:000>'`, 1, 'bad-magic');
  const start = preamble.findIndex((l) => startsRegisterBlock(l.text));
  if (start < 0) {
    facts.fail(
      `${facts.path} is not a WinDbg transcript: no prompt such as '1: kd>' or '0:000>' and no register block; line ${first.line} reads ${quoteInput(first.text.trim(), 60)}`,
      first.line,
      'bad-magic',
    );
  }
  const line = preamble[start]!.line;
  facts.note('info', `No prompt in ${facts.path}: read the register block at line ${line} as \`r\` output`, { source: 'r', line });
  const command: TranscriptCommand = { text: 'r', verb: 'r', args: '', line, debugger: 'kd', thread: 0, output: preamble.slice(start) };
  readContextCommand(command, facts, 'thread');
}

/**
 * Reads the transcript at `path` (or `text`, when given, with `path` used in
 * messages) into a `Dump` of format 'windbg-transcript'. Throws
 * `DumpFormatError` for a file that cannot be read, one that is not a
 * transcript (no prompt and no register block), and malformed structured
 * output (a register line, a bugcheck code), naming the line.
 *
 * @example
 * ```ts
 * const dump = loadTranscript('paste.txt', '1: kd> .bugcheck\nBugcheck code 0000008E\nArguments 80000003 8082e3e0 f78aec38 00000000\n');
 * dump.fault?.kind; // 'bugcheck'
 * ```
 */
export function loadTranscript(path: string, text?: string): Dump {
  const source = text ?? readText(path);
  const lexed = lexTranscript(source);
  const facts = new TranscriptFacts(path);
  const arch = transcriptArch(lexed);
  if (arch) facts.archHint = arch;
  if (lexed.prompts === 0) {
    readPromptless(lexed.preamble, facts);
    return assembleDump(facts);
  }
  const preamble = lexed.preamble.filter((l) => l.text.trim() !== '');
  if (preamble.length > 0) {
    facts.note('info', `Skipped ${preamble.length} line(s) before the first prompt`, { source: 'preamble', line: preamble[0]!.line }, preamble.map((l) => l.text).join('\n'));
  }
  for (const command of lexed.commands) readCommand(command, facts);
  return assembleDump(facts);
}
