/**
 * `npm run bench:record`: how fast `faultline record` records a real
 * program on this machine, in both modes, against a gdb `stepi` loop on the
 * same program (test/record/gdb-steps.py, which logs the same registers
 * after each step), all in one run so the ratios share the machine's load:
 * - `record --step`: every instruction single-stepped under ptrace;
 * - `record --fast`: the program runs natively to each sync point, Unicorn
 *   records the instructions between them; measured on the same first
 *   instructions as `--step` (start-up, where sync points are dense) and on
 *   the whole program;
 * - trap-flag stepping: a program that single-steps itself with the trap
 *   flag and a SIGTRAP handler (no ptrace, nothing recorded), what one debug
 *   trap per instruction costs here.
 * The program is bench/workload.c as a static glibc program; both record
 * modes answer `cpuid` masked (`--mask-cpuid`), so glibc takes code Unicorn
 * runs. Wall clock, start-up of the helper included.
 *
 * @example
 * ```sh
 * npm run bench:record                          # 100 000 stepped, 5 000 gdb steps, the whole program fast
 * npm run bench:record -- --step 200000 --gdb 10000 --json
 * ```
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { recordProgram, type RecordSummary } from '../src/record/record.ts';
import { WORKLOAD_SOURCE } from './workload.ts';

const here = dirname(fileURLToPath(import.meta.url));
const TARGET = 300_000;
/** More than the whole workload runs (about 19 M instructions with its start-up). */
const WHOLE = 100_000_000;

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isSafeInteger(value) || value <= 0) {
    console.error(`bench:record: --${name} needs a positive whole number, not ${process.argv[at + 1] ?? 'nothing'}`);
    process.exit(2);
  }
  return value;
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

interface Row {
  how: string;
  instructions: number;
  seconds: number;
  rate: number;
  vsGdb: number;
}

const stepCount = option('step', 100_000);
const gdbCount = option('gdb', 5_000);
const json = process.argv.includes('--json');
const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-record-'));
try {
  const program = join(dir, 'workload');
  writeFileSync(join(dir, 'host.c'), `#define BENCH_HOST_CHECK\n#include "${WORKLOAD_SOURCE}"\n#include <stdio.h>\nint main(void) { printf("%lx\\n", workload(0x1234)); return 0; }\n`);
  execFileSync('gcc', ['-O2', '-static', '-o', program, join(dir, 'host.c')]);
  writeFileSync(join(dir, 'floor.c'), TRAP_FLOOR);
  execFileSync('gcc', ['-O1', '-o', join(dir, 'floor'), join(dir, 'floor.c')]);
  const loadBefore = loadavg()[0]!;

  const record = (mode: 'fast' | 'step', maxInstructions: number): Promise<RecordSummary> =>
    recordProgram({ program, args: [], out: join(dir, `${mode}.fltrace`), maxInstructions, mode, maskCpuid: true, stdio: 'ignore' });
  const stepped = await record('step', stepCount);
  const fastSame = await record('fast', stepCount);
  const fastWhole = await record('fast', WHOLE);

  const gdbStarted = performance.now();
  const log = execFileSync('gdb', ['-batch', '-nx', '-ex', `py STEPS=${gdbCount}; OUT=${JSON.stringify(join(dir, 'gdb.jsonl'))}`, '-x', join(here, '..', 'test', 'record', 'gdb-steps.py'), '--args', program], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const gdbWall = (performance.now() - gdbStarted) / 1000;
  const gdbLoop = /gdb-steps: (\d+) steps in ([\d.]+) s/.exec(log);
  const gdbSteps = gdbLoop ? Number(gdbLoop[1]) : gdbCount;
  const gdbSeconds = gdbLoop ? Number(gdbLoop[2]) : gdbWall;
  const gdbRate = gdbSteps / gdbSeconds;
  const floorSeconds = Number(execFileSync(join(dir, 'floor'), [String(stepCount)], { encoding: 'utf8' }));
  const loadAfter = loadavg()[0]!;

  for (const [name, summary] of [['--step', stepped], ['--fast', fastSame], ['--fast (whole program)', fastWhole]] as const) {
    if (summary.note) console.error(`bench:record: ${name}: ${summary.note}`);
  }
  const row = (how: string, instructions: number, seconds: number): Row => ({ how, instructions, seconds, rate: instructions / seconds, vsGdb: instructions / seconds / gdbRate });
  const rows: Row[] = [
    row('gdb stepi loop (gdb Python, registers read after each step)', gdbSteps, gdbSeconds),
    row('faultline record --step (ptrace single-step of every instruction)', stepped.instructions, stepped.seconds),
    row('faultline record --fast, the same first instructions', fastSame.instructions, fastSame.seconds),
    row(`faultline record --fast, the whole program (${fastWhole.ending})`, fastWhole.instructions, fastWhole.seconds),
    row('trap-flag stepping (in-process SIGTRAP handler, records nothing)', stepCount, floorSeconds),
  ];
  const fastRate = fastWhole.rate;
  const summary = {
    target: TARGET,
    met: fastRate >= TARGET,
    fastOverStep: fastRate / stepped.rate,
    fastSameOverStep: fastSame.rate / stepped.rate,
    loadAverage: { before: loadBefore, after: loadAfter },
  };
  if (json) {
    console.log(JSON.stringify({ rows, ...summary }, null, 2));
  } else {
    const k = (rate: number) => `${(rate / 1000).toFixed(1)} k`;
    console.log('| how | instructions | seconds | instructions/s | vs gdb stepi |');
    console.log('|---|---:|---:|---:|---:|');
    for (const r of rows) console.log(`| ${r.how} | ${r.instructions} | ${r.seconds.toFixed(2)} | ${k(r.rate)} | ${r.vsGdb.toFixed(1)}× |`);
    console.log(`--fast over --step: ${summary.fastOverStep.toFixed(1)}× on the whole program, ${summary.fastSameOverStep.toFixed(1)}× on the same first ${stepped.instructions} instructions`);
    console.log(`target ≥ ${TARGET / 1000} k instructions/s: ${summary.met ? 'met' : 'not met'} (--fast, whole program: ${k(fastRate)}); load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
