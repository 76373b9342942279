/**
 * Assembles a snippet with binutils (`as`, `aarch64-linux-gnu-as`) into raw
 * bytes, so tests state code as source with the bytes computed by an
 * independent assembler. x86 snippets are Intel syntax.
 *
 * @example
 * ```ts
 * const code = assemble('x86', 'mov eax, 1\nint3'); // b8 01 00 00 00 cc
 * ```
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Arch } from '../../emu/registers.ts';

const TOOLS: Record<Arch, { as: string; flags: string[]; objcopy: string; prologue: string }> = {
  x86: { as: 'as', flags: ['--32'], objcopy: 'objcopy', prologue: '.intel_syntax noprefix\n' },
  x64: { as: 'as', flags: ['--64'], objcopy: 'objcopy', prologue: '.intel_syntax noprefix\n' },
  arm64: { as: 'aarch64-linux-gnu-as', flags: [], objcopy: 'aarch64-linux-gnu-objcopy', prologue: '' },
};

/** The machine code of `source` for `arch`, as placed at address 0 (use position-independent code or `.org`). */
export function assemble(arch: Arch, source: string): Uint8Array {
  const tools = TOOLS[arch];
  const dir = mkdtempSync(join(tmpdir(), 'faultline-as-'));
  try {
    writeFileSync(join(dir, 'in.s'), `${tools.prologue}.text\n${source}\n`);
    execFileSync(tools.as, [...tools.flags, '-o', join(dir, 'in.o'), join(dir, 'in.s')], { stdio: 'pipe' });
    execFileSync(tools.objcopy, ['-O', 'binary', '-j', '.text', join(dir, 'in.o'), join(dir, 'out.bin')], { stdio: 'pipe' });
    return new Uint8Array(readFileSync(join(dir, 'out.bin')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
