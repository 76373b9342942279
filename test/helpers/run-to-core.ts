/**
 * Runs a program under gdb until a signal kills it, and returns its core.
 *
 * - `native` toolchains: gdb starts the program (`starti`), runs the
 *   commands, and writes the core with `gcore` at the signal.
 * - `qemu` toolchains (a kernel that cannot run the program): qemu-user
 *   runs it behind its gdbstub and gdb drives it there; after the commands
 *   gdb delivers the signal, the guest dies of it, and qemu writes the
 *   guest's core itself. Such a core has no NT_FILE and no NT_SIGINFO (no
 *   fault address), and gdb cannot read `$_siginfo` through the stub nor
 *   write to code pages.
 *
 * Either way the commands start with the program stopped at its first
 * instruction and must leave it stopped at the signal that kills it.
 *
 * @example
 * ```ts
 * const toolchain = toolchainFor('x86') as Toolchain;
 * const { core, output } = await runToCore(toolchain, {
 *   program: '/tmp/crash32', commands: ['continue', 'info registers'], signal: 'SIGSEGV', core: '/tmp/crash32.core',
 * });
 * ```
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { freePort, runProcess, type ProcessResult } from '../../lab/proc.ts';
import type { Toolchain } from '../../lab/toolchain.ts';

export interface CoreRun {
  /** The program (an absolute path) and its arguments. */
  program: string;
  args?: string[];
  /** gdb commands, from the first instruction to the stop at the fatal signal. */
  commands: string[];
  /** The signal that kills the program; gdb does not pass SIGTRAP on by itself. */
  signal: 'SIGSEGV' | 'SIGTRAP';
  /** Where the core goes. */
  core: string;
}

export interface CoreRunResult {
  core: string;
  /** What gdb printed (stdout, then stderr). */
  output: string;
  /** Who wrote the core. */
  writer: 'gdb gcore' | 'qemu';
}

const TIMEOUT_MS = 60_000;

const ex = (commands: string[]) => commands.flatMap((c) => ['-ex', c]);

/** The last line a process printed, for an error message. */
const lastLine = (r: ProcessResult) => (r.error ?? (r.stderr || r.stdout)).trim().split('\n').at(-1);

async function runNative(toolchain: Toolchain, run: CoreRun): Promise<CoreRunResult> {
  const args = ['-batch', '-nx', ...ex(['starti', ...run.commands, `gcore ${run.core}`]), '--args', run.program, ...(run.args ?? [])];
  const gdb = await runProcess(toolchain.gdb, args, { cwd: dirname(run.core), timeoutMs: TIMEOUT_MS });
  if (!existsSync(run.core)) throw new Error(`gdb did not write ${run.core} (exit ${gdb.code ?? gdb.signal}): ${lastLine(gdb)}`);
  return { core: run.core, output: gdb.stdout + gdb.stderr, writer: 'gdb gcore' };
}

/** One attempt under qemu on `port`; undefined when qemu could not listen there. */
async function runQemuOnce(toolchain: Toolchain, run: CoreRun, port: number): Promise<CoreRunResult | undefined> {
  const work = mkdtempSync(join(dirname(run.core), 'qemu-'));
  try {
    // A directory named `core` keeps the host kernel (core_pattern `core`)
    // from also dumping qemu itself, ~150 MB, when the guest dies.
    mkdirSync(join(work, 'core'));
    const qemuArgs = [...toolchain.qemuArgs, '-g', String(port), run.program, ...(run.args ?? [])];
    const qemu = runProcess('sh', ['-c', 'ulimit -c unlimited; exec "$@"', 'sh', toolchain.qemu!, ...qemuArgs], { cwd: work, timeoutMs: TIMEOUT_MS });
    // gdb retries a refused connection until qemu listens (it starts at once).
    const gdbArgs = ['-batch', '-nx', ...ex([
      ...(toolchain.sysroot ? [`set sysroot ${toolchain.sysroot}`] : []),
      'set tcp connect-timeout 10', `target remote 127.0.0.1:${port}`, ...run.commands, `signal ${run.signal}`,
    ]), run.program];
    const [q, gdb] = await Promise.all([qemu, runProcess(toolchain.gdb, gdbArgs, { cwd: work, timeoutMs: TIMEOUT_MS })]);
    if (q.stderr.includes('could not open gdbserver')) return undefined;
    const name = readdirSync(work).find((n) => n.startsWith(`qemu_${basename(run.program)}_`) && n.endsWith('.core'));
    if (!name) throw new Error(`qemu wrote no core of ${run.program} (qemu: ${lastLine(q) || `exit ${q.code}`}; gdb: ${lastLine(gdb)})`);
    renameSync(join(work, name), run.core);
    return { core: run.core, output: gdb.stdout + gdb.stderr, writer: 'qemu' };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Runs `run.program` under gdb to its fatal signal and returns the core (see the module comment). */
export async function runToCore(toolchain: Toolchain, run: CoreRun): Promise<CoreRunResult> {
  if (toolchain.runner === 'native') return runNative(toolchain, run);
  for (let attempt = 0; attempt < 3; attempt++) {
    const result = await runQemuOnce(toolchain, run, await freePort());
    if (result) return result;
  }
  throw new Error(`${toolchain.qemu} could not open its gdbserver on a free port in 3 attempts`);
}
