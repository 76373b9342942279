/**
 * Splits a WinDbg transcript (kd or cdb, pasted or logged) into commands:
 * each prompt line (`1: kd> ub 80a5d8fc`, `0:000> r`, `kd> .bugcheck`) starts
 * a command whose output runs to the next prompt. Annotations a user added
 * after `<<<` are stripped from every line.
 *
 * The prompt says where a command ran: `1: kd>` is processor 1; `0:002>` is
 * thread 2 of process 0; `0:000:x86>` also names the effective machine.
 *
 * @example
 * ```ts
 * const { commands } = lexTranscript('1: kd> dd 80a5b020 l 1\n80a5b020  8082e3e4\n');
 * commands[0].verb;            // 'dd'
 * commands[0].thread;          // 1
 * commands[0].output[0].line;  // 2
 * ```
 */

/** One line of the transcript, annotation stripped, with its 1-based number. */
export interface TranscriptLine {
  text: string;
  line: number;
}

/** A command and the output it printed. */
export interface TranscriptCommand {
  /** The command as typed: `ub 80a5d8fc l10`. */
  text: string;
  /** Its first word, lower-cased: `ub`, `.trap`, `!ipi`, `?`, `??`. */
  verb: string;
  /** The rest of the command, trimmed. */
  args: string;
  /** Line of the prompt. */
  line: number;
  debugger: 'kd' | 'cdb';
  /** Processor (kd) or thread index (cdb). */
  thread: number;
  /** The machine named in the prompt, as in `0:000:x86>`. */
  effectiveMachine?: string;
  output: TranscriptLine[];
}

/** A transcript split into commands, with whatever preceded the first prompt. */
export interface LexedTranscript {
  /** How many prompt lines there were, empty ones included. */
  prompts: number;
  preamble: TranscriptLine[];
  commands: TranscriptCommand[];
}

const KD_PROMPT = /^\s*(?:(\d+):\s*)?l?kd>\s?(.*)$/;
const CDB_PROMPT = /^\s*(\d+):(\d+)(?::([a-z0-9_]+))?>\s?(.*)$/i;
const VERB = /^(\?\??|![\w.:-]*|\.?[a-z_][a-z0-9_]*|~[^\s]*|\S+)/i;

/**
 * A line without the annotation a user added after `<<<`, and without
 * trailing whitespace.
 *
 * @example
 * ```ts
 * stripAnnotation('8082e3de cc int 3 <<< This is after the function.'); // '8082e3de cc int 3'
 * ```
 */
export function stripAnnotation(text: string): string {
  const at = text.indexOf('<<<');
  return (at >= 0 ? text.slice(0, at) : text).trimEnd();
}

/**
 * Splits a command line into its verb and arguments.
 *
 * @example
 * ```ts
 * splitCommand('?0y0100');        // { verb: '?', args: '0y0100' }
 * splitCommand('dd 80a5b020 l 1'); // { verb: 'dd', args: '80a5b020 l 1' }
 * ```
 */
export function splitCommand(text: string): { verb: string; args: string } {
  const trimmed = text.trim();
  const match = VERB.exec(trimmed);
  if (!match) return { verb: '', args: '' };
  return { verb: match[1]!.toLowerCase(), args: trimmed.slice(match[1]!.length).trim() };
}

interface Prompt {
  debugger: 'kd' | 'cdb';
  thread: number;
  effectiveMachine?: string;
  command: string;
}

function readPrompt(text: string): Prompt | undefined {
  const kd = KD_PROMPT.exec(text);
  if (kd) return { debugger: 'kd', thread: kd[1] ? Number(kd[1]) : 0, command: kd[2]! };
  const cdb = CDB_PROMPT.exec(text);
  if (cdb) return { debugger: 'cdb', thread: Number(cdb[2]), effectiveMachine: cdb[3]?.toLowerCase(), command: cdb[4]! };
  return undefined;
}

/**
 * Splits `text` into commands. Line endings may be LF or CRLF. A prompt with
 * no command (the user pressed Enter) yields no command; its output, if
 * any, joins the previous command's.
 *
 * @example
 * ```ts
 * lexTranscript('kd> .bugcheck\nBugcheck code 0000008E\n').commands[0].output.length; // 1
 * ```
 */
export function lexTranscript(text: string): LexedTranscript {
  const preamble: TranscriptLine[] = [];
  const commands: TranscriptCommand[] = [];
  let prompts = 0;
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, index) => {
    const line = index + 1;
    const clean = stripAnnotation(raw.replace(/^\uFEFF/, ''));
    const prompt = readPrompt(clean);
    if (prompt) prompts++;
    if (prompt && prompt.command.trim() !== '') {
      const { verb, args } = splitCommand(prompt.command);
      commands.push({
        text: prompt.command.trim(),
        verb,
        args,
        line,
        debugger: prompt.debugger,
        thread: prompt.thread,
        effectiveMachine: prompt.effectiveMachine,
        output: [],
      });
      return;
    }
    if (prompt) return;
    const target = commands.length > 0 ? commands[commands.length - 1]!.output : preamble;
    target.push({ text: clean, line });
  });
  return { prompts, preamble, commands };
}
