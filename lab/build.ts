/**
 * Builds the lab's programs for an architecture in each variant a real
 * crash comes from: position-independent or not, dynamic or static,
 * unoptimised or optimised. Builds are cached in the output directory by a
 * hash of the source and the command line.
 *
 * @example
 * ```ts
 * const path = await buildProgram(tc, 'shapes', { opt: 'O2', link: 'pie' }, '/tmp/lab/bin');
 * ```
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { runProcess } from './proc.ts';
import type { Toolchain } from './toolchain.ts';

export type LabProgram = 'shapes' | 'bugs';
export type Optimisation = 'O0' | 'O2';
export type Linkage = 'pie' | 'nopie' | 'static';

export interface BuildVariant {
  opt: Optimisation;
  link: Linkage;
}

export const VARIANTS: readonly BuildVariant[] = (['O0', 'O2'] as const).flatMap((opt) => (['pie', 'nopie', 'static'] as const).map((link) => ({ opt, link })));

const LINK_FLAGS: Record<Linkage, string[]> = {
  pie: ['-fPIE', '-pie'],
  nopie: ['-fno-pie', '-no-pie'],
  static: ['-static'],
};

export function variantName(variant: BuildVariant): string {
  return `${variant.opt}-${variant.link}`;
}

export function programSource(program: LabProgram): string {
  return new URL(`./programs/${program}.c`, import.meta.url).pathname;
}

/** Thrown when the compiler refuses a lab program: the toolchain is broken, not the case. */
export class BuildError extends Error {}

/** The built program (built now, or earlier with the same source and flags). */
export async function buildProgram(tc: Toolchain, program: LabProgram, variant: BuildVariant, binDir: string): Promise<string> {
  const source = programSource(program);
  const args = [...tc.ccFlags, `-${variant.opt}`, '-g', ...LINK_FLAGS[variant.link]];
  const hash = createHash('sha256').update(readFileSync(source)).update(tc.cc).update(args.join(' ')).digest('hex').slice(0, 12);
  const dir = join(binDir, tc.arch);
  const path = join(dir, `${program}-${variantName(variant)}-${hash}`);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  const partial = `${path}.partial`;
  const r = await runProcess(tc.cc, [...args, '-o', partial, source], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new BuildError(`${tc.cc} ${args.join(' ')} ${program}.c failed: ${(r.error ?? r.stderr).trim().split('\n')[0]}`);
  renameSync(partial, path);
  return path;
}
