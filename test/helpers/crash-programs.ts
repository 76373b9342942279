/**
 * Real cores of small programs that crash the way a faulty machine would,
 * taken with `gdb -batch … gcore`. The program calls through a function
 * pointer (`call *slot`); `target` sits 4 bytes after a 16-byte boundary,
 * behind `int 3` padding, so clearing bit 2 of its address lands on the
 * padding and the crash is a deterministic SIGTRAP.
 *
 * - `cpu-target`: gdb steps into the call, then clears bit 2 of the pc: the
 *   CPU went elsewhere than the pointer says (memory intact).
 * - `memory`: gdb clears bit 2 of the pointer in memory before the call:
 *   the CPU follows the corrupt pointer faithfully.
 * - `software`: the program calls through a null pointer.
 *
 * @example
 * ```ts
 * const { core, binary } = makeCrashCore('x64', 'cpu-target', dir);
 * ```
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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

/** Builds the program for `arch` in `dir` (once) and returns its path. */
export function buildCrashProgram(arch: 'x64' | 'x86', dir: string): string {
  const binary = join(dir, `crash-${arch}`);
  if (existsSync(binary)) return binary;
  const sourcePath = join(dir, `crash-${arch}.c`);
  writeFileSync(sourcePath, source(arch));
  execFileSync('gcc', ['-O1', '-g', '-no-pie', ...(arch === 'x86' ? ['-m32'] : []), '-o', binary, sourcePath], { stdio: 'pipe' });
  return binary;
}

/** Runs the program under gdb, makes it crash as `kind` says, and saves the core. */
export function makeCrashCore(arch: 'x64' | 'x86', kind: CrashKind, dir: string): { core: string; binary: string } {
  const binary = buildCrashProgram(arch, dir);
  const core = join(dir, `core-${arch}-${kind}`);
  const pointer = arch === 'x64' ? 'long' : 'int';
  const steps: Record<CrashKind, string[]> = {
    'cpu-target': ['break callsite', 'run', 'stepi', `set $pc = (${pointer})$pc ^ 4`, 'continue'],
    memory: ['break callsite', 'run', `set var slot = (void(*)(void))((${pointer})slot ^ 4)`, 'continue'],
    software: ['run'],
  };
  const args = ['-batch', '-nx', ...steps[kind].flatMap((s) => ['-ex', s]), '-ex', `gcore ${core}`, '--args', binary, ...(kind === 'software' ? ['null'] : [])];
  execFileSync('gdb', args, { stdio: 'pipe', timeout: 60_000 });
  if (!existsSync(core)) throw new Error(`gdb did not write ${core}`);
  return { core, binary };
}
