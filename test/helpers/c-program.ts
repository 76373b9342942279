/**
 * A small C program built with gcc for a test that crashes it under gdb:
 * in a temporary directory removed when the suite ends, with its objdump
 * listing to find the instructions gdb plays a fault at. Call inside a
 * `describe` (it registers the clean-up with `afterAll`).
 *
 * @example
 * ```ts
 * describe.skipIf(!nativeX64)('…', () => {
 *   const { dir, binary, listing } = buildCProgram(nativeX64!, 'loop', SOURCE, ['-O2', '-no-pie']);
 * });
 * ```
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { toolchainFor, type Toolchain } from '../../lab/toolchain.ts';

/** The x86-64 toolchain when this machine runs its programs natively (gdb's gcore writes the core), else undefined. */
export const nativeX64: Toolchain | undefined = (() => {
  const toolchain = toolchainFor('x64');
  return !('missing' in toolchain) && toolchain.runner === 'native' ? toolchain : undefined;
})();

/** The i386 toolchain (gcc -m32; run natively or under qemu-i386), else undefined. */
export const x86: Toolchain | undefined = (() => {
  const toolchain = toolchainFor('x86');
  return 'missing' in toolchain ? undefined : toolchain;
})();

export interface CProgram {
  /** The temporary directory: cores go there too. */
  dir: string;
  binary: string;
  /** `objdump -d --no-show-raw-insn` of the binary. */
  listing: string;
}

/** Builds `source` as `name` with `flags` (optimisation, -no-pie …). */
export function buildCProgram(toolchain: Toolchain, name: string, source: string, flags: string[]): CProgram {
  const dir = mkdtempSync(join(tmpdir(), `faultline-${name}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const binary = join(dir, name);
  writeFileSync(`${binary}.c`, source);
  execFileSync(toolchain.cc, [...toolchain.ccFlags, ...flags, '-o', binary, `${binary}.c`], { stdio: 'pipe' });
  const listing = execFileSync('objdump', ['-d', '--no-show-raw-insn', binary], { encoding: 'utf8' });
  return { dir, binary, listing };
}
