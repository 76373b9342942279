/**
 * Real cores of small programs that crash the way a faulty machine would,
 * run under gdb (test/helpers/run-to-core.ts: natively with `gcore`, or
 * under qemu-user with qemu's own core when the kernel cannot run i386
 * programs). The program calls through a function pointer (`call *slot`);
 * `target` sits 4 bytes after a 16-byte boundary, behind `int 3` padding, so
 * clearing bit 2 of its address lands on the padding and the crash is a
 * deterministic SIGTRAP.
 *
 * - `cpu-target`: gdb steps into the call, then clears bit 2 of the pc: the
 *   CPU went elsewhere than the pointer says (memory intact).
 * - `memory`: gdb clears bit 2 of the pointer in memory before the call:
 *   the CPU follows the corrupt pointer faithfully.
 * - `software`: the program calls through a null pointer.
 *
 * @example
 * ```ts
 * const { core, binary, writer } = await makeCrashCore('x86', 'cpu-target', dir); // writer: 'qemu' on a kernel without IA32 emulation
 * ```
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toolchainFor, type Toolchain } from '../../lab/toolchain.ts';
import { runToCore, type CoreRunResult } from './run-to-core.ts';

export type CrashKind = 'cpu-target' | 'memory' | 'software';

/** The program, with the stack pointer, a callee-saved register and the call operand for `arch`. */
function source(arch: 'x64' | 'x86'): string {
  const [sp, saved, call] = arch === 'x64' ? ['%rsp', '%rbx', '*slot(%rip)'] : ['%esp', '%ebx', '*slot'];
  return String.raw`
#include <stdio.h>
void (*volatile slot)(void);
extern void target(void);
extern void caller(void);
__asm__(
  ".text\n.p2align 4\n.fill 20,1,0xcc\n"
  ".globl target\n.type target,@function\ntarget:\n  mov $7, %eax\n  ret\n.size target, .-target\n"
  ".p2align 4\n.globl caller\n.type caller,@function\n"
  "caller:\n  push ${saved}\n  mov $0x1234, %ebx\n  lea 8(${sp}), %edx\n"
  ".globl callsite\ncallsite:\n  call ${call}\n  pop ${saved}\n  ret\n.size caller, .-caller\n");
int main(int argc, char **argv) { slot = argc > 1 ? 0 : target; caller(); puts("ok"); return 0; }
`;
}

/** The lab toolchain for `arch`; an error naming the packages it lacks (tests skip on `toolchainMissing(arch)` first). */
function toolchain(arch: 'x64' | 'x86'): Toolchain {
  const found = toolchainFor(arch);
  if ('missing' in found) throw new Error(`Cannot build and run ${arch} crash programs: install ${found.missing.join(' ')}`);
  return found;
}

/** Builds the program for `arch` in `dir` (once) and returns its path. */
export function buildCrashProgram(arch: 'x64' | 'x86', dir: string): string {
  const binary = join(dir, `crash-${arch}`);
  if (existsSync(binary)) return binary;
  const sourcePath = join(dir, `crash-${arch}.c`);
  writeFileSync(sourcePath, source(arch));
  const { cc, ccFlags } = toolchain(arch);
  execFileSync(cc, ['-O1', '-g', '-no-pie', ...ccFlags, '-o', binary, sourcePath], { stdio: 'pipe' });
  return binary;
}

/** Runs the program under gdb, makes it crash as `kind` says, and saves the core. */
export async function makeCrashCore(arch: 'x64' | 'x86', kind: CrashKind, dir: string): Promise<CoreRunResult & { binary: string }> {
  const binary = buildCrashProgram(arch, dir);
  const pointer = arch === 'x64' ? 'long' : 'int';
  const commands: Record<CrashKind, string[]> = {
    'cpu-target': ['break callsite', 'continue', 'stepi', `set $pc = (${pointer})$pc ^ 4`, 'continue'],
    memory: ['break callsite', 'continue', `set var slot = (void(*)(void))((${pointer})slot ^ 4)`, 'continue'],
    software: ['continue'],
  };
  const result = await runToCore(toolchain(arch), {
    program: binary,
    args: kind === 'software' ? ['null'] : [],
    commands: commands[kind],
    signal: kind === 'software' ? 'SIGSEGV' : 'SIGTRAP',
    core: join(dir, `core-${arch}-${kind}`),
  });
  return { ...result, binary };
}
