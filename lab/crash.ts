/**
 * Turns a planned case into a real core: a genuine bug runs to its crash;
 * an injected fault runs under gdb (lab/gdb/inject.py) natively, or under
 * qemu-user through its gdbstub. The kernel writes native cores; qemu writes
 * the guest's. Either way the core is then checked with gdb: it must show
 * the signal and pc the run says, or the case does not count.
 *
 * @example
 * ```ts
 * const outcome = await crashCase(tc, plan, '/lab/bin/x64/shapes-O2-pie-…', '/lab/cases/0000-x64-…');
 * if (outcome.ok) outcome.crash.core; // '/lab/cases/0000-x64-…/core'
 * ```
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, killGroup, runProcess, type ProcessResult } from './proc.ts';
import { BUGS, type CasePlan } from './plan.ts';
import type { Toolchain } from './toolchain.ts';
import { spawn } from 'node:child_process';

/** Linux signal numbers (the same on x86, x86-64 and AArch64). */
export const SIGNALS: Record<string, number> = { SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGSEGV: 11 };

/** What lab/gdb/inject.py recorded of the injection (values as hex strings). */
export interface InjectionRecord {
  model: string;
  site: { address: string; length: number; text: string; bytes: string };
  bit?: number;
  expected?: string;
  observed?: string;
  register?: string;
  address?: string;
  size?: number;
  byteIndex?: number;
}

export interface CrashRecord {
  core: string;
  signal: string;
  signo: number;
  pc: bigint;
  /** The fault address and si_code, when the run could read them (native gdb). */
  siAddr?: bigint;
  siCode?: number;
  /** Injected cases: where and what, and how many instructions ran from the fault to the signal. */
  injection?: InjectionRecord;
  function?: string;
  instance?: number;
  steps?: number;
}

export type CrashOutcome = { ok: true; crash: CrashRecord } | { ok: false; reason: string };

export interface CrashOptions {
  /** Instructions the injector single-steps after the fault before giving up on a crash. */
  maxSteps: number;
  timeoutMs: number;
}

const INJECTOR = new URL('./gdb/inject.py', import.meta.url).pathname;

/** `sh -c` that raises the core limit, then execs the command (core files are off by default). */
function withCores(command: string[]): [string, string[]] {
  return ['sh', ['-c', 'ulimit -c unlimited; exec "$@"', 'sh', ...command]];
}

function describe(r: ProcessResult): string {
  if (r.error) return r.error;
  if (r.timedOut) return 'timed out';
  const last = (r.stderr || r.stdout).trim().split('\n').filter(Boolean).pop() ?? '';
  return `exit ${r.code ?? r.signal}${last ? `: ${last.slice(0, 160)}` : ''}`;
}

/**
 * qemu 7.2 lets the host kernel dump qemu's own core after it writes the
 * guest's; a directory where that core would go stops the kernel.
 */
function blockHostCore(dir: string): void {
  mkdirSync(join(dir, 'core'), { recursive: true });
}

/** Moves the core the run left in `dir` to `dir/core`, or returns undefined. */
function collectCore(tc: Toolchain, dir: string): string | undefined {
  const path = join(dir, 'core');
  if (tc.runner === 'native') return existsSync(path) ? path : undefined;
  const guest = readdirSync(dir).find((name) => name.startsWith('qemu_') && name.endsWith('.core'));
  rmSync(path, { recursive: true, force: true });
  if (!guest) return undefined;
  renameSync(join(dir, guest), path);
  return path;
}

function programCommand(tc: Toolchain, program: string, args: string[], gdbPort?: number): string[] {
  if (tc.runner === 'qemu') return [tc.qemu!, ...tc.qemuArgs, ...(gdbPort ? ['-g', String(gdbPort)] : []), program, ...args];
  // The kernel randomises addresses; a fixed layout keeps a seed's corpus the same from run to run.
  return ['setarch', '-R', program, ...args];
}

/** Runs a genuine bug to its crash. */
async function runBug(tc: Toolchain, plan: CasePlan, program: string, dir: string, options: CrashOptions): Promise<CrashOutcome> {
  if (tc.runner === 'qemu') blockHostCore(dir);
  const [cmd, args] = withCores(programCommand(tc, program, plan.args));
  const r = await runProcess(cmd, args, { cwd: dir, env: { ...process.env, ...plan.env }, timeoutMs: options.timeoutMs });
  const core = collectCore(tc, dir);
  if (!core) return { ok: false, reason: `no core (${describe(r)})` };
  return { ok: true, crash: { core, signal: '', signo: 0, pc: 0n } };
}

interface InjectorResult {
  ok: boolean;
  reason?: string;
  function?: string;
  instance?: number;
  injection?: InjectionRecord;
  crash?: { signal: string; pc: string; siAddr?: string; siCode?: number; steps: number };
}

/** Runs an injected fault under gdb. */
async function runInjected(tc: Toolchain, plan: CasePlan, program: string, dir: string, options: CrashOptions): Promise<CrashOutcome> {
  const resultPath = join(dir, 'injector.json');
  const spec = {
    arch: plan.arch, seed: plan.injectorSeed, function: plan.function, repeated: plan.repeated, model: plan.model,
    instance: plan.instance, args: plan.args, maxSteps: options.maxSteps, result: resultPath, sysroot: tc.sysroot,
  };
  const gdbArgs = (specPath: string) => ['-batch', '-nx', '-iex', 'set auto-load off', '-ex', `python SPEC=${JSON.stringify(specPath)}`, '-x', INJECTOR];
  let r: ProcessResult | undefined;
  if (tc.runner === 'native') {
    const specPath = join(dir, 'injector-spec.json');
    writeFileSync(specPath, JSON.stringify(spec));
    const [cmd, args] = withCores([tc.gdb, ...gdbArgs(specPath), '--args', program]);
    r = await runProcess(cmd, args, { cwd: dir, env: { ...process.env, ...plan.env }, timeoutMs: options.timeoutMs });
  } else {
    blockHostCore(dir);
    for (let attempt = 0; attempt < 3 && !existsSync(resultPath); attempt++) {
      const port = await freePort();
      const specPath = join(dir, 'injector-spec.json');
      writeFileSync(specPath, JSON.stringify({ ...spec, remote: `127.0.0.1:${port}` }));
      const [qcmd, qargs] = withCores(programCommand(tc, program, plan.args, port));
      const qemu = spawn(qcmd, qargs, { cwd: dir, env: { ...process.env, ...plan.env }, detached: true, stdio: 'ignore' });
      const qemuExit = new Promise<void>((resolve) => qemu.on('close', () => resolve()));
      r = await runProcess(tc.gdb, [...gdbArgs(specPath), program], { cwd: dir, timeoutMs: options.timeoutMs });
      // The guest dies of its signal once gdb passes it; give qemu a moment to write the core.
      await Promise.race([qemuExit, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      killGroup(qemu.pid);
    }
  }
  if (!existsSync(resultPath)) return { ok: false, reason: `the injector wrote no result (${r ? describe(r) : 'not run'})` };
  const result = JSON.parse(readFileSync(resultPath, 'utf8')) as InjectorResult;
  const core = collectCore(tc, dir);
  if (!result.ok || !result.crash || !result.injection) return { ok: false, reason: result.reason ?? 'the injector gave up' };
  if (!core) return { ok: false, reason: `no core after ${result.crash.signal} (${r ? describe(r) : ''})` };
  const c = result.crash;
  return {
    ok: true,
    crash: {
      core, signal: c.signal, signo: SIGNALS[c.signal] ?? 0, pc: BigInt(c.pc),
      siAddr: c.siAddr === undefined ? undefined : BigInt(c.siAddr), siCode: c.siCode,
      injection: result.injection, function: result.function, instance: result.instance, steps: c.steps,
    },
  };
}

/** The signal and pc gdb reads from `core`. */
export async function readCoreWithGdb(tc: Toolchain, program: string, core: string): Promise<{ signal: string; pc: bigint } | { error: string }> {
  const args = ['-batch', '-nx', '-iex', 'set auto-load off', ...(tc.sysroot ? ['-ex', `set sysroot ${tc.sysroot}`] : []), '-ex', 'p/x $pc', program, core];
  const r = await runProcess(tc.gdb, args, { timeoutMs: 60_000 });
  const signal = /Program terminated with signal (SIG[A-Z]+)/.exec(r.stdout)?.[1];
  const pc = /^\$1 = (0x[0-9a-f]+)/m.exec(r.stdout)?.[1];
  if (!signal || !pc) return { error: `gdb cannot read the core (${describe(r)})` };
  return { signal, pc: BigInt(pc) };
}

/** Runs the case to a core and checks the core with gdb. */
export async function crashCase(tc: Toolchain, plan: CasePlan, program: string, dir: string, options: CrashOptions): Promise<CrashOutcome> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const outcome = plan.model ? await runInjected(tc, plan, program, dir, options) : await runBug(tc, plan, program, dir, options);
  if (!outcome.ok) return outcome;
  const seen = await readCoreWithGdb(tc, program, outcome.crash.core);
  if ('error' in seen) return { ok: false, reason: seen.error };
  const crash = outcome.crash;
  if (plan.bug) {
    const expected = BUGS[plan.bug]!.signals;
    if (!expected.includes(seen.signal)) return { ok: false, reason: `died of ${seen.signal}, not ${expected.join('/')}` };
    return { ok: true, crash: { ...crash, signal: seen.signal, signo: SIGNALS[seen.signal] ?? 0, pc: seen.pc } };
  }
  if (seen.signal !== crash.signal) return { ok: false, reason: `the core says ${seen.signal}, the run ${crash.signal}` };
  if (seen.pc !== crash.pc) return { ok: false, reason: `the core's pc is 0x${seen.pc.toString(16)}, the run's 0x${crash.pc.toString(16)}` };
  return outcome;
}
