/**
 * The lab writers' command line:
 *
 * ```
 * node --import tsx lab/writers/cli.ts minidump   --arch x64 --core core --binary bugs --sysroot / --signal 11 --memory small --out crash.dmp
 * node --import tsx lab/writers/cli.ts transcript --arch x86 --core qemu_bugs_….core --binary bugs --signal 11 --si-addr 0x12345678 --style kernel --out crash.txt
 * ```
 *
 * Notes about the crash (a library file not found, a faulting address
 * computed rather than given) go to stderr as `note: …`; an error is one
 * line, `lab-writers: …`, and exit code 1 (2 for bad arguments).
 *
 * @example
 * ```ts
 * process.exitCode = await runWritersCli(['minidump', '--arch', 'x64', '--core', 'core', '--binary', 'bugs', '--signal', '11', '--out', 'a.dmp']);
 * ```
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { pathToFileURL } from 'node:url';
import { writeMinidump, writeTranscript, type CrashInput } from './index.ts';

interface Options {
  arch: CrashInput['arch'];
  core: string;
  binary: string[];
  sysroot?: string;
  signal: number;
  siAddr?: bigint;
  siCode?: number;
  memory: 'full' | 'small';
  style: 'user' | 'kernel';
  out: string;
}

function integer(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value)) throw new InvalidArgumentError(`'${text}' is not an integer`);
  return value;
}

function address(text: string): bigint {
  if (!/^(0x)?[0-9a-f]{1,16}$/i.test(text.replace('`', ''))) throw new InvalidArgumentError(`'${text}' is not a hex address`);
  return BigInt(`0x${text.replace(/^0x/i, '').replace('`', '')}`);
}

function inputOf(options: Options): CrashInput {
  const input: CrashInput = { arch: options.arch, core: options.core, binaries: options.binary, signal: options.signal };
  if (options.sysroot !== undefined) input.sysroot = options.sysroot;
  if (options.siAddr !== undefined) input.siAddr = options.siAddr;
  if (options.siCode !== undefined) input.siCode = options.siCode;
  return input;
}

function addCrashOptions(command: Command): Command {
  return command
    .addOption(new Option('--arch <arch>', 'architecture of the core').choices(['x64', 'x86', 'arm64']).makeOptionMandatory())
    .requiredOption('--core <file>', 'the ELF core')
    .option('--binary <file...>', 'program and library files that supply code the core lacks', [])
    .option('--sysroot <dir>', "prefix for the paths the process saw ('/' on the machine that ran it)")
    .requiredOption('--signal <n>', 'the signal the program died of', integer)
    .option('--si-addr <hex>', 'si_addr, when known (qemu cores lack NT_SIGINFO)', address)
    .option('--si-code <n>', 'si_code, when known', integer)
    .requiredOption('--out <file>', 'where to write');
}

/**
 * Runs the CLI on `argv` (without node and the script); returns the exit code.
 *
 * @example
 * ```ts
 * await runWritersCli(['--help']); // 0, help on stdout
 * ```
 */
export async function runWritersCli(argv: string[], io = { out: (t: string) => process.stdout.write(t), err: (t: string) => process.stderr.write(t) }): Promise<number> {
  const program = new Command('lab-writers')
    .description('Write a crash from an ELF core as a Windows minidump or a WinDbg transcript')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();
  const onNote = (note: string) => io.err(`note: ${note}\n`);
  addCrashOptions(program.command('minidump').description('write a minidump'))
    .addOption(new Option('--memory <kind>', 'full: every known byte; small: stack and code near the pc and return addresses').choices(['full', 'small']).default('small'))
    .action(async (options: Options) => {
      await writeMinidump(inputOf(options), options.out, { memory: options.memory, onNote });
    });
  addCrashOptions(program.command('transcript').description('write a WinDbg session transcript'))
    .addOption(new Option('--style <style>', 'user: a cdb session; kernel: a kd session opening with .bugcheck and .trap').choices(['user', 'kernel']).default('user'))
    .action(async (options: Options) => {
      await writeTranscript(inputOf(options), options.out, { style: options.style, onNote });
    });
  for (const command of program.commands) command.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 || error.code === 'commander.helpDisplayed' ? 0 : 2;
    io.err(`lab-writers: ${(error as Error).message}\n`);
    return 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await runWritersCli(process.argv.slice(2));
}
