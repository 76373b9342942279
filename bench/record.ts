/**
 * `npm run bench:record`: how fast `faultline record` records a real
 * program on this machine, against a gdb `stepi` loop on the same program
 * (test/record/gdb-steps.py, which logs the same registers after each step),
 * and what one debug trap per instruction costs on this machine: a program
 * that single-steps itself with the trap flag and a SIGTRAP handler (no
 * ptrace, no second process, nothing recorded).
 * The program is bench/workload.c as a static host build; the first
 * instructions of each run are the same (the C library's start-up, then the
 * workload).
 *
 * @example
 * ```sh
 * npm run bench:record                      # 200 000 recorded, 5 000 gdb steps
 * npm run bench:record -- --record 1000000 --gdb 10000
 * ```
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { recordProgram } from '../src/record/record.ts';
import { WORKLOAD_SOURCE } from './workload.ts';

const here = dirname(fileURLToPath(import.meta.url));
const TARGET = 300_000;

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

// Counts SIGTRAPs while the trap flag is set, for `steps` instructions of a loop.
const TRAP_FLOOR = String.raw`
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <ucontext.h>
static volatile long n, limit;
static void on_trap(int s, siginfo_t *i, void *c) { (void)s; (void)i; if (++n >= limit) ((ucontext_t *)c)->uc_mcontext.gregs[REG_EFL] &= ~0x100; }
int main(int argc, char **argv) {
  limit = atol(argv[1]);
  struct sigaction sa = {0}; sa.sa_sigaction = on_trap; sa.sa_flags = SA_SIGINFO; sigaction(SIGTRAP, &sa, 0);
  struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
  __asm__ volatile("pushf; orq $0x100,(%rsp); popf");
  volatile unsigned long s = 0; for (long i = 0; n < limit; i++) s += i;
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.6f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
}
`;

const recordCount = option('record', 200_000);
const gdbCount = option('gdb', 5_000);
const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-record-'));
try {
  const program = join(dir, 'workload');
  writeFileSync(join(dir, 'host.c'), `#define BENCH_HOST_CHECK\n#include "${WORKLOAD_SOURCE}"\n#include <stdio.h>\nint main(void) { printf("%lx\\n", workload(0x1234)); return 0; }\n`);
  execFileSync('gcc', ['-O2', '-static', '-o', program, join(dir, 'host.c')]);
  writeFileSync(join(dir, 'floor.c'), TRAP_FLOOR);
  execFileSync('gcc', ['-O1', '-o', join(dir, 'floor'), join(dir, 'floor.c')]);

  const recorded = await recordProgram({ program, args: [], out: join(dir, 'run.fltrace'), maxInstructions: recordCount, stdio: 'ignore' });
  const gdbStarted = performance.now();
  const log = execFileSync('gdb', ['-batch', '-nx', '-ex', `py STEPS=${gdbCount}; OUT=${JSON.stringify(join(dir, 'gdb.jsonl'))}`, '-x', join(here, '..', 'test', 'record', 'gdb-steps.py'), '--args', program], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const gdbWall = (performance.now() - gdbStarted) / 1000;
  const gdbLoop = /gdb-steps: (\d+) steps in ([\d.]+) s/.exec(log);
  const gdbRate = gdbLoop ? Number(gdbLoop[1]) / Number(gdbLoop[2]) : gdbCount / gdbWall;
  const floorSeconds = Number(execFileSync(join(dir, 'floor'), [String(recordCount)], { encoding: 'utf8' }));
  const floorRate = recordCount / floorSeconds;

  const k = (rate: number) => `${(rate / 1000).toFixed(1)} k`;
  console.log('| how | instructions | instructions/s | vs gdb stepi |');
  console.log('|---|---:|---:|---:|');
  console.log(`| gdb stepi loop (Python, registers read each step) | ${gdbLoop?.[1] ?? gdbCount} | ${k(gdbRate)} | 1.0× |`);
  console.log(`| faultline record (ptrace single-step, registers changed, bytes) | ${recorded.instructions} | ${k(recorded.rate)} | ${(recorded.rate / gdbRate).toFixed(1)}× |`);
  console.log(`| trap-flag stepping (in-process SIGTRAP handler, records nothing) | ${recordCount} | ${k(floorRate)} | ${(floorRate / gdbRate).toFixed(1)}× |`);
  console.log(`target ≥ ${TARGET / 1000} k instructions/s: ${recorded.rate >= TARGET ? 'met' : 'not met'} (record runs at ${(recorded.rate / floorRate).toFixed(2)}× trap-flag stepping, the cost of one debug trap per instruction here)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
