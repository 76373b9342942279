/**
 * Real cores of a small C program built with the system's gcc, for the
 * stack walker's tests, and gdb's `bt` on each core. The program crashes
 * three ways a user meets: an assertion failure (abort through libc), a
 * divide by zero, and a call through a null function pointer (a virtual
 * call on a zeroed object), each two functions below `main`.
 *
 * The core is the one the kernel writes (`ulimit -c unlimited`, natively)
 * or qemu-user writes (i386 on a kernel without IA32 emulation, AArch64):
 * both keep every mapping as a `PT_LOAD`, as users' cores do. gdb's own
 * `gcore` leaves read-only file mappings out altogether.
 *
 * @example
 * ```ts
 * const run = await crashCore('x64', 'O2', 'assert', dir);
 * run.gdbFrames; // [{ index: 0, name: '__pthread_kill_implementation' }, …, { index: 9, pc: 0x5555…n, name: 'main' }]
 * ```
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toolchainFor, type LabArch, type Toolchain } from '../../lab/toolchain.ts';

export type CrashMode = 'assert' | 'divide' | 'null-call';
/** gcc optimisation, with or without frame pointers. */
export type BuildVariant = 'O0' | 'O0-nofp' | 'O2' | 'O2-fp' | 'O2-static';

const MODES: Record<CrashMode, number> = { assert: 0, divide: 1, 'null-call': 3 };

const SOURCE = String.raw`
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
struct shape { int (*area)(struct shape *); int w; };
__attribute__((noinline)) int check(int v) { assert(v < 3); return v; }
__attribute__((noinline)) int divide(int a, int b) { return a / b; }
__attribute__((noinline)) int call_area(struct shape *s) { return s->area(s) + 1; }
__attribute__((noinline)) int level2(int mode, int v) {
  volatile int pad[4] = {v, v, v, v};
  if (mode == 0) return check(v + pad[1]) + 1;
  if (mode == 1) return divide(v, v - pad[2]) + 1;
  struct shape *s = (struct shape *)calloc(1, sizeof *s);
  return call_area(s) + 1;
}
__attribute__((noinline)) int level1(int mode, int v) { return level2(mode, v) * 2 + v; }
int main(int argc, char **argv) {
  int mode = argc > 1 ? atoi(argv[1]) : 0;
  printf("%d\n", level1(mode, argc + 5));
  return 0;
}
`;

const FLAGS: Record<BuildVariant, string[]> = {
  O0: ['-O0'],
  'O0-nofp': ['-O0', '-fomit-frame-pointer'],
  O2: ['-O2', '-fomit-frame-pointer'],
  'O2-fp': ['-O2', '-fno-omit-frame-pointer'],
  // A static executable maps no PT_GNU_EH_FRAME: its CFI is found through the file's section headers.
  'O2-static': ['-O2', '-static'],
};

/** One frame of gdb's `bt`. */
export interface GdbFrame {
  index: number;
  /** Absent on frame 0 when gdb prints none. */
  pc?: bigint;
  name: string;
}

export interface CrashCore {
  core: string;
  binary: string;
  toolchain: Toolchain;
  gdbFrames: GdbFrame[];
  gdbOutput: string;
}

/** Why cores cannot be made here (a core_pattern that pipes them away), or undefined. */
export function coreDumpBlocked(): string | undefined {
  const pattern = readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim();
  return pattern.startsWith('|') || pattern.includes('/') ? `core_pattern is ${pattern}` : undefined;
}

function toolchain(arch: LabArch): Toolchain {
  const found = toolchainFor(arch);
  if ('missing' in found) throw new Error(`Cannot build ${arch} programs: install ${found.missing.join(' ')}`);
  return found;
}

/**
 * gdb's frames from `bt` output. gdb stops at `main` (backtrace past-main is off).
 *
 * @example
 * ```ts
 * parseBacktrace('#1  0x000055555555525b in level2 (mode=0) at prog.c:11'); // [{ index: 1, pc: 0x55555555525bn, name: 'level2' }]
 * ```
 */
export function parseBacktrace(output: string): GdbFrame[] {
  const frames: GdbFrame[] = [];
  for (const line of output.split('\n')) {
    const m = /^#(\d+)\s+(?:0x([0-9a-f]+) in )?(\S+)/.exec(line);
    // gdb prints frame 0 once when it loads the core, then again in `bt`.
    if (m?.[1] === '0') frames.length = 0;
    if (m) frames.push({ index: Number(m[1]), ...(m[2] ? { pc: BigInt(`0x${m[2]}`) } : {}), name: m[3]! });
  }
  return frames;
}

/** The ways the program can crash on `arch`: an AArch64 division by zero gives 0 and does not trap. */
export function crashModes(arch: LabArch): CrashMode[] {
  return arch === 'arm64' ? ['assert', 'null-call'] : ['assert', 'divide', 'null-call'];
}

/** Builds the program for `arch` and `variant` in `dir` (once), crashes it as `mode` says, and runs gdb's `bt` on the core. */
export function crashCore(arch: LabArch, variant: BuildVariant, mode: CrashMode, dir: string): CrashCore {
  const tc = toolchain(arch);
  const binary = join(dir, `bt-${arch}-${variant}`);
  if (!existsSync(binary)) {
    const source = join(dir, 'bt.c');
    writeFileSync(source, SOURCE);
    // Under qemu, gdb finds a PIE program's load address only from NT_FILE, which qemu's cores lack.
    execFileSync(tc.cc, [...FLAGS[variant], '-g', ...(tc.runner === 'qemu' ? ['-no-pie'] : []), ...tc.ccFlags, '-o', binary, source], { stdio: 'pipe' });
  }
  const core = join(dir, `core-${arch}-${variant}-${mode}`);
  const work = join(dir, `run-${arch}-${variant}-${mode}`);
  const nativeCore = join(work, 'core');
  // A directory named `core` keeps the kernel from also dumping qemu itself when the guest dies.
  execFileSync('mkdir', ['-p', tc.runner === 'qemu' ? nativeCore : work]);
  const command = tc.runner === 'native' ? `exec "${binary}" ${MODES[mode]}` : `exec ${tc.qemu} ${tc.qemuArgs.join(' ')} "${binary}" ${MODES[mode]}`;
  spawnSync('sh', ['-c', `ulimit -c unlimited; ${command}`], { cwd: work, stdio: 'ignore', timeout: 60_000 });
  const written = readdirSync(work).find((n) => tc.runner === 'qemu' ? n.startsWith('qemu_') && n.endsWith('.core') : n === 'core' || n.startsWith('core.'));
  if (!written) throw new Error(`${binary} ${MODES[mode]} left no core in ${work}`);
  renameSync(join(work, written), core);
  const gdbOutput = execFileSync(tc.gdb, ['-batch', '-nx', ...(tc.sysroot ? ['-ex', `set sysroot ${tc.sysroot}`] : []), '-ex', 'bt', binary, core], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { core, binary, toolchain: tc, gdbFrames: parseBacktrace(gdbOutput), gdbOutput };
}

/**
 * The registers gdb shows in each of `frames` of the core (`frame N` then
 * `info registers …`): name → value, without the ones gdb prints as
 * `<not saved>` or cannot read.
 *
 * @example
 * ```ts
 * gdbFrameRegisters(run, [1, 2], ['rbx', 'rsp']); // Map { 1 => { rbx: 0x…n, rsp: 0x…n }, 2 => … }
 * ```
 */
export function gdbFrameRegisters(run: CrashCore, frames: number[], names: string[]): Map<number, Record<string, bigint>> {
  const commands = frames.flatMap((n) => ['-ex', `echo @@frame ${n}\\n`, '-ex', `frame ${n}`, '-ex', `info registers ${names.join(' ')}`]);
  const output = execFileSync(run.toolchain.gdb, ['-batch', '-nx', ...(run.toolchain.sysroot ? ['-ex', `set sysroot ${run.toolchain.sysroot}`] : []), ...commands, run.binary, run.core], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const result = new Map<number, Record<string, bigint>>();
  let current: Record<string, bigint> | undefined;
  for (const line of output.split('\n')) {
    const marker = /^@@frame (\d+)/.exec(line);
    if (marker) result.set(Number(marker[1]), (current = {}));
    const value = /^(\w+)\s+(0x[0-9a-f]+)/.exec(line);
    if (current && value && names.includes(value[1]!)) current[value[1]!] = BigInt(value[2]!);
  }
  return result;
}
