/**
 * Turns any error into the one line the CLI prints and its exit code: 2 for
 * bad input (arguments, files, dumps), 1 for everything else. The stack is
 * shown only with `--debug`.
 *
 * @example
 * ```ts
 * const { line, code } = describeError(new InputError("Unknown register 'exx' for x86"));
 * ```
 */
import { CommanderError } from 'commander';
import { InputError } from '../errors.ts';
import { escapeControl } from '../quote.ts';
import { DumpFormatError } from '../dumps/errors.ts';
import { EmulationError, UnicornUnavailableError } from '../../emu/errors.ts';
import { TraceFormatError } from '../../traces/errors.ts';

export const EXIT_BAD_INPUT = 2;

/** Thrown by a command that printed its answer and exits with `code` (`diff` at a divergence: 1); prints nothing more. */
export class ExitStatus extends Error {
  override readonly name = 'ExitStatus';
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}
export const EXIT_FAILURE = 1;

/** Longest error line printed; a longer one keeps its start and end (parsers quote input short already: this is the last guard). */
const MAX_LINE = 300;

/** `line` escaped (no control character reaches the terminal) and cut in the middle past MAX_LINE. */
function oneLine(line: string): string {
  const escaped = escapeControl(line);
  return escaped.length <= MAX_LINE ? escaped : `${escaped.slice(0, MAX_LINE - 81)}…${escaped.slice(-80)}`;
}

export function describeError(error: unknown): { line: string; code: number } {
  const { line, code } = describeRaw(error);
  return { line: oneLine(line), code };
}

function describeRaw(error: unknown): { line: string; code: number } {
  if (error instanceof InputError) return { line: error.message, code: EXIT_BAD_INPUT };
  if (error instanceof DumpFormatError) return { line: error.describe(), code: EXIT_BAD_INPUT };
  if (error instanceof TraceFormatError) return { line: error.message, code: EXIT_BAD_INPUT };
  if (error instanceof CommanderError) return { line: error.message.replace(/^error: /, ''), code: EXIT_BAD_INPUT };
  if (error instanceof UnicornUnavailableError) return { line: error.message, code: EXIT_FAILURE };
  if (error instanceof EmulationError) return { line: `Emulation failed: ${error.message}`, code: EXIT_FAILURE };
  if (error instanceof Error && error.name === 'WorkerError') return { line: error.message, code: (error as Error & { code: number }).code };
  const e = error as NodeJS.ErrnoException;
  if (e && typeof e === 'object' && typeof e.code === 'string' && e.path) {
    return { line: `Cannot access ${e.path}: ${e.code}`, code: EXIT_BAD_INPUT };
  }
  return { line: `Internal error: ${(error as Error)?.message ?? String(error)} (run with --debug for details)`, code: EXIT_FAILURE };
}
