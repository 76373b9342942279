/**
 * The use: the real CPU against the emulator. A static gcc program
 * is recorded with `faultline record`; the same program, stopped by gdb at
 * `work` and written with `gcore`, is replayed by `faultline trace` from
 * that core; `faultline diff --align pc` finds where the replay starts in
 * the recording and compares every instruction after it. The loop uses
 * `imul` (SF ZF AF PF undefined) and `rol` (OF undefined, the others
 * untouched), which Unicorn and the CPU leave differently: those flags
 * must not count. Both runs have address randomisation off and the same
 * environment, so their stacks agree.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.ts';
import { lacks } from '../helpers/system.ts';

const PROGRAM = String.raw`
#include <stdio.h>
__attribute__((noinline)) unsigned long work(int n) {
  unsigned long h = 1469598103934665603ul;
  for (int i = 0; i < n; i++) { h ^= (unsigned)i * 2654435761u; h *= 1099511628211ul; h = (h << 7) | (h >> 57); }
  return h;
}
int main(int argc, char **argv) { (void)argv; printf("%lu\n", work(200 + argc)); return 0; }
`;
const COUNT = 1500;

describe.skipIf(process.platform !== 'linux' || process.arch !== 'x64' || lacks('gcc', 'gdb'))('the CPU against Unicorn', () => {
  let dir: string;
  let recorded: string;
  let replayed: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'faultline-replay-compare-'));
    writeFileSync(join(dir, 'w.c'), PROGRAM);
    const program = join(dir, 'w');
    execFileSync('gcc', ['-O1', '-static', '-o', program, join(dir, 'w.c')]);
    const core = join(dir, 'w.core');
    const gdb = execFileSync('gdb', ['-batch', '-nx', '-ex', 'set startup-with-shell off', '-ex', 'unset environment LINES', '-ex', 'unset environment COLUMNS',
      '-ex', 'break work', '-ex', 'run', '-ex', `gcore ${core}`, '-ex', 'printf "pc=%lx\\n", $pc', '--args', program], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const pc = /pc=([0-9a-f]+)/.exec(gdb)![1]!;
    replayed = join(dir, 'unicorn.fltrace');
    const trace = await runCli('trace', core, '--from', `0x${pc}`, '--count', String(COUNT), '--out', replayed);
    if (trace.code !== 0) throw new Error(trace.err);
    recorded = join(dir, 'cpu.fltrace');
    // --step: the CPU's own registers after every instruction, not Unicorn's between sync points.
    const record = await runCli('record', '--step', '--out', recorded, '--', program);
    if (record.code !== 0) throw new Error(record.err);
  }, 180_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`agrees on ${COUNT} instructions from the core's pc, undefined flags aside`, async () => {
    const diff = await runCli('diff', recorded, replayed, '--align', 'pc');
    expect(diff.out).toMatch(/aligned by pc: instruction \d+ of A with instruction 0 of B/);
    expect(diff.out).toContain(`no divergence in ${COUNT} instructions`);
    expect(diff.code).toBe(0);
  }, 60_000);

  it('the CPU and Unicorn do leave undefined flags differently here: the rule is what makes them agree', async () => {
    const json = JSON.parse((await runCli('diff', recorded, replayed, '--align', 'pc', '--json')).out) as { compared: number; ignoredFlags: number; commonRegisters: string[] };
    expect(json.compared).toBe(COUNT);
    expect(json.commonRegisters).toContain('efl');
    expect(json.ignoredFlags).toBeGreaterThan(0);
  }, 60_000);
});
