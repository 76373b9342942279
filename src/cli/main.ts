/**
 * The `faultline` command line: commander setup, the shared options, and
 * error handling (one line, exit code 2 for bad input). Each command lives
 * in its own file under `commands/`, loaded only when it is the one asked
 * for (or for the list of commands in the help): start-up then costs the
 * modules of that command alone, and `--version` none.
 *
 * @example
 * ```ts
 * process.exitCode = await main(['trace', '--help']);
 * ```
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../emu/project-root.ts';
import { describeError, ExitStatus } from './errors.ts';

const VERSION = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Output streams, replaceable in tests. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

type AddCommands = (program: Command, io: Io) => void;

/** Each command module, in the order of the help's command list, with the commands it adds. */
const COMMAND_MODULES: Array<{ names: string[]; load: () => Promise<AddCommands> }> = [
  { names: ['info'], load: async () => (await import('./commands/info.ts')).addInfoCommand },
  { names: ['explain', 'check', 'demo', 'report'], load: async () => (await import('./commands/explain.ts')).addExplainCommands },
  { names: ['trace'], load: async () => (await import('./commands/trace.ts')).addTraceCommand },
  { names: ['show'], load: async () => (await import('./commands/show.ts')).addShowCommand },
  { names: ['record'], load: async () => (await import('./commands/record.ts')).addRecordCommand },
  { names: ['diff'], load: async () => (await import('./commands/diff.ts')).addDiffCommand },
  { names: ['replay-check'], load: async () => (await import('./commands/replay-check.ts')).addReplayCheckCommand },
  { names: ['decode-check'], load: async () => (await import('./commands/decode-check.ts')).addDecodeCheckCommand },
  { names: ['batch'], load: async () => (await import('./commands/batch.ts')).addBatchCommand },
  { names: ['fleet'], load: async () => (await import('./commands/fleet.ts')).addFleetCommand },
  { names: ['worker'], load: async () => (await import('./commands/worker.ts')).addWorkerCommand },
];

/**
 * The command modules `argv` needs: the named command's alone; none for
 * `--version` without a command; every one otherwise (the help, an unknown
 * command, so that commander lists or suggests them).
 */
function modulesFor(argv: string[]): typeof COMMAND_MODULES {
  const name = argv.find((arg) => !arg.startsWith('-'));
  if (name === undefined && (argv.includes('-V') || argv.includes('--version'))) return [];
  const named = COMMAND_MODULES.find((m) => name !== undefined && m.names.includes(name));
  return named ? [named] : COMMAND_MODULES;
}

/** Builds the program with the commands `argv` needs (all by default); commands write through `io`. */
export async function buildProgram(io: Io = processIo, argv?: string[]): Promise<Command> {
  const program = new Command('faultline')
    .description('Re-execute the code before a crash from its dump, and tell whether a hardware fault explains it')
    .version(VERSION, '-V, --version')
    .option('--debug', 'show stack traces of internal errors')
    .showHelpAfterError(false)
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();
  const modules = argv === undefined ? COMMAND_MODULES : modulesFor(argv);
  for (const add of await Promise.all(modules.map((m) => m.load()))) add(program, io);
  for (const command of program.commands) command.exitOverride().configureOutput({ writeOut: io.out, writeErr: () => {} });
  return program;
}

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  try {
    const program = await buildProgram(io, argv);
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
