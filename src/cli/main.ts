/**
 * The `faultline` command line: commander setup, the shared options, and
 * error handling (one line, exit code 2 for bad input). Each command lives
 * in its own file under `commands/`.
 *
 * @example
 * ```ts
 * process.exitCode = await main(['trace', '--help']);
 * ```
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { describeError, ExitStatus } from './errors.ts';
import { addDiffCommand } from './commands/diff.ts';
import { addDecodeCheckCommand } from './commands/decode-check.ts';
import { addReplayCheckCommand } from './commands/replay-check.ts';
import { addTraceCommand } from './commands/trace.ts';
import { addShowCommand } from './commands/show.ts';
import { addExplainCommands } from './commands/explain.ts';
import { addInfoCommand } from './commands/info.ts';
import { addRecordCommand } from './commands/record.ts';
import { addBatchCommand } from './commands/batch.ts';
import { addFleetCommand } from './commands/fleet.ts';
import { addWorkerCommand } from './commands/worker.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Output streams, replaceable in tests. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Builds the program; commands write through `io`. */
export function buildProgram(io: Io = processIo): Command {
  const program = new Command('faultline')
    .description('Re-execute the code before a crash from its dump, and tell whether a hardware fault explains it')
    .version(VERSION, '-V, --version')
    .option('--debug', 'show stack traces of internal errors')
    .showHelpAfterError(false)
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();
  addInfoCommand(program, io);
  addExplainCommands(program, io);
  addTraceCommand(program, io);
  addShowCommand(program, io);
  addRecordCommand(program, io);
  addDiffCommand(program, io);
  addReplayCheckCommand(program, io);
  addDecodeCheckCommand(program, io);
  addBatchCommand(program, io);
  addFleetCommand(program, io);
  addWorkerCommand(program, io);
  for (const command of program.commands) command.exitOverride().configureOutput({ writeOut: io.out, writeErr: () => {} });
  return program;
}

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError && (error.exitCode === 0 || error.code === 'commander.helpDisplayed' || error.code === 'commander.version')) {
      return 0;
    }
    if (error instanceof ExitStatus) return error.code;
    const { line, code } = describeError(error);
    io.err(`faultline: ${line}\n`);
    if (argv.includes('--debug') && error instanceof Error && error.stack) io.err(`${error.stack}\n`);
    return code;
  }
}
