/**
 * Many real crashes, quickly: lab/programs/bugs.c built for x86-64 and run
 * natively with its genuine bugs and varying arguments, one core each
 * (distinct pids, stacks and values). For the fleet tests and the batch
 * benchmark, which need hundreds of small dumps, not labelled faults.
 *
 * @example
 * ```ts
 * const cores = makeLabCores(dir, 200); // ['/tmp/…/c000/core', …]
 * ```
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { toolchainFor } from '../../lab/toolchain.ts';
import { buildBugs, crashBugs, nativeCoreProblem } from '../lab/crash-cores.ts';

/** Bugs that crash at once with a small core (not the stack overflow: its core holds the whole stack). */
const BUGS: [bug: string, value: (i: number) => string][] = [
  ['null-vtable', () => '0'],
  ['null-fnptr', () => '0'],
  ['wild-pointer', (i) => `0x${(0x41414141 + i * 0x1000).toString(16)}`],
  ['wild-write', (i) => `0x${(0x5a5a0000 + i * 0x100).toString(16)}`],
  ['noncanonical', () => '0'],
  ['divide-by-zero', (i) => String(i)],
  ['trap', (i) => String(i)],
  ['uninit-fnptr', (i) => String(i)],
];

/** Why lab cores cannot be made here, or undefined when they can. */
export function labCoresProblem(): string | undefined {
  const toolchain = toolchainFor('x64');
  if ('missing' in toolchain) return `x64 lab toolchain lacks ${toolchain.missing.join(', ')}`;
  if (toolchain.runner !== 'native') return 'x64 programs do not run natively here';
  return nativeCoreProblem();
}

/** Makes `count` cores under `dir`; returns their paths. */
export function makeLabCores(dir: string, count: number): string[] {
  const toolchain = toolchainFor('x64');
  if ('missing' in toolchain) throw new Error(labCoresProblem());
  mkdirSync(dir, { recursive: true });
  const program = buildBugs(toolchain, dir);
  const cores: string[] = [];
  for (let i = 0; i < count; i++) {
    const [bug, value] = BUGS[i % BUGS.length]!;
    cores.push(crashBugs(toolchain, program, [bug, value(i)], join(dir, `c${String(i).padStart(4, '0')}`)));
  }
  return cores;
}
