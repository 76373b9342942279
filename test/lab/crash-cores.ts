/**
 * Real crashes for the lab writers' tests: lab/programs/bugs.c built for
 * an architecture and crashed with a core kept. x86-64 runs natively and
 * the kernel writes `core` (core_pattern is `core` here); i386 and AArch64
 * run under qemu-user, which writes qemu_<prog>_<date>-<time>_<pid>.core
 * itself (a directory named `core` stops the host kernel from also dumping
 * qemu's own ~150 MB core).
 *
 * @example
 * ```ts
 * const program = buildBugs(toolchain, dir);
 * const core = crashBugs(toolchain, program, ['null-vtable'], join(dir, 'null-vtable'));
 * ```
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Toolchain } from '../../lab/toolchain.ts';

const BUGS_C = new URL('../../lab/programs/bugs.c', import.meta.url).pathname;

/** Why native cores cannot be made here, or undefined when they can. */
export function nativeCoreProblem(): string | undefined {
  try {
    const pattern = readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim();
    return pattern.startsWith('|') ? `core_pattern pipes cores to ${pattern.slice(1).split(' ')[0]}` : undefined;
  } catch {
    return 'no /proc/sys/kernel/core_pattern';
  }
}

/** Builds bugs.c for the toolchain's architecture (once per `dir`); returns the program's path. */
export function buildBugs(toolchain: Toolchain, dir: string): string {
  const out = join(dir, `bugs-${toolchain.arch}`);
  if (!existsSync(out)) execFileSync(toolchain.cc, [...toolchain.ccFlags, '-O2', '-g', '-o', out, BUGS_C], { stdio: 'pipe' });
  return out;
}

/** Runs the program with `args` in `dir` until it crashes; returns the core's path. */
export function crashBugs(toolchain: Toolchain, program: string, args: string[], dir: string): string {
  mkdirSync(dir, { recursive: true });
  const quoted = args.map((a) => `'${a}'`).join(' ');
  if (toolchain.runner === 'native') {
    spawnSync('sh', ['-c', `ulimit -c unlimited; exec '${program}' ${quoted}`], { cwd: dir, stdio: 'ignore', timeout: 30_000 });
    // core_pattern `core`; with core_uses_pid set the kernel appends the pid.
    const core = readdirSync(dir).find((f) => f === 'core' || /^core\.\d+$/.test(f));
    if (!core) throw new Error(`${program} ${args.join(' ')} left no core in ${dir}`);
    return join(dir, core);
  }
  mkdirSync(join(dir, 'core'), { recursive: true });
  const runner = [toolchain.qemu!, ...toolchain.qemuArgs].map((a) => `'${a}'`).join(' ');
  spawnSync('sh', ['-c', `ulimit -c unlimited; exec ${runner} '${program}' ${quoted}`], { cwd: dir, stdio: 'ignore', timeout: 30_000 });
  const core = readdirSync(dir).find((f) => f.startsWith('qemu_') && f.endsWith('.core'));
  if (!core) throw new Error(`${toolchain.qemu} ${program} ${args.join(' ')} left no qemu_*.core in ${dir}`);
  return join(dir, core);
}
