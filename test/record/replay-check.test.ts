/**
 * `faultline record` then `faultline replay-check` end to end on small static
 * glibc programs built here: Unicorn, started from the recorded image and
 * registers and fed the sync points' results and the kernel's memory
 * changes, agrees with the CPU on every instruction of the whole run (the
 * C library's start-up, a file read into a buffer, malloc, cpuid, rdtsc, a
 * fault delivered to a handler); a recording edited in one register is
 * caught at that instruction, real against emulated.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.ts';
import { lacks } from '../helpers/system.ts';
import { readTrace, instructionsOf } from '../../traces/reader.ts';
import { writeTraceFile } from '../../traces/writer.ts';

const native = process.platform === 'linux' && process.arch === 'x64';

// A file read into a buffer (the kernel writes it), malloc (brk grows the heap), cpuid and rdtsc, then write(2).
const PROGRAM = String.raw`
#include <cpuid.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <x86intrin.h>
int main(int argc, char **argv) {
  char buffer[64];
  int fd = open(argv[1], O_RDONLY);
  long n = read(fd, buffer, sizeof buffer);
  unsigned long s = 0;
  for (long i = 0; i < n; i++) s = s * 31 + (unsigned char)buffer[i];
  unsigned char *heap = malloc(200000);
  for (int i = 0; i < 200000; i += 4096) heap[i] = (unsigned char)(s >> (i & 31));
  unsigned a, b, c, d;
  __cpuid(0, a, b, c, d);
  s += heap[8192] + a + (__rdtsc() & 1);
  char out[2] = { (char)('a' + s % 26), '\n' };
  write(1, out, 2);
  return 3;
}
`;

const SEGV = String.raw`
#include <signal.h>
#include <unistd.h>
static void on_segv(int s) { (void)s; write(1, "caught\n", 7); _exit(5); }
int main(void) { signal(SIGSEGV, on_segv); volatile int *p = 0; return *p; }
`;

describe.skipIf(!native || lacks('gcc'))('record then replay-check', () => {
  let dir: string;
  let recorded: string;
  let count: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'faultline-replay-check-'));
    writeFileSync(join(dir, 'program.c'), PROGRAM);
    execFileSync('gcc', ['-O1', '-static', '-o', join(dir, 'program'), join(dir, 'program.c')]);
    writeFileSync(join(dir, 'input.txt'), 'what the kernel reads into the buffer is in the recording\n');
    recorded = join(dir, 'program.fltrace');
    // --step: every instruction the CPU's, so that the replay checks Unicorn against the CPU (not against itself, as --fast would).
    const record = await runCli('record', '--step', '--mask-cpuid', '--out', recorded, '--', join(dir, 'program'), join(dir, 'input.txt'));
    expect(record.err).toMatch(/exited with status 3; \d+ instructions recorded/);
    count = Number(/; (\d+) instructions recorded/.exec(record.err)![1]);
  }, 180_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('replays the whole run with no divergence', async () => {
    const trace = readTrace(recorded);
    const memory = trace.events.filter((e) => e.kind === 'memory');
    expect(memory.some((e) => e.kind === 'memory' && e.start)).toBe(true);
    // The 59 bytes read(2) put into the buffer are in a kernel write after the start.
    expect(memory.some((e) => e.kind === 'memory' && !e.start && e.action === 'write' && Buffer.from(e.bytes!).includes('the kernel reads'))).toBe(true);
    const check = await runCli('replay-check', recorded);
    expect(check.err).toBe('');
    expect(check.out).toContain(`no divergence in ${count} instructions (registers compared: efl fs_base gs_base r10 r11 r12 r13 r14 r15 r8 r9 rax rbp rbx rcx rdi rdx rsi rsp)`);
    expect(check.out).toMatch(/\(\d+ instructions emulated, \d+ sync points and \d+ memory events fed from the recording\)/);
    expect(check.code).toBe(0);
  }, 180_000);

  it('replays a --fast recording of the same run, and says whose registers it holds between sync points', async () => {
    const fast = join(dir, 'fast.fltrace');
    const record = await runCli('record', '--fast', '--mask-cpuid', '--out', fast, '--', join(dir, 'program'), join(dir, 'input.txt'));
    expect(record.err).toContain(`exited with status 3; ${count} instructions recorded`);
    expect(readTrace(fast).header!.engine).toBe('cpu+unicorn');
    const check = await runCli('replay-check', fast);
    expect(check.out).toContain('recorded with --fast: between sync points the recording is Unicorn\'s own');
    expect(check.out).toContain(`no divergence in ${count} instructions`);
    expect(check.code).toBe(0);
  }, 120_000);

  it('catches a register edited in the recording at that instruction', async () => {
    const trace = readTrace(recorded);
    const insns = [...instructionsOf(trace.header!, trace.batches, trace.events)];
    const raxIndex = trace.header!.registers.indexOf('rax');
    // The first instruction from 5000 on that changes rax and is not a sync point.
    const at = insns.findIndex((i, k) => k >= 5000 && i.events.length === 0 && i.changed.some(([name]) => name === 'rax'));
    const batch = trace.batches.find((b) => b.first <= at && at < b.first + b.count)!;
    const local = at - batch.first;
    let original = 0n;
    for (let r = batch.regStart[local]!; r < batch.regStart[local + 1]!; r++) {
      if (batch.regIndex[r] === raxIndex) {
        original = batch.regValue[r]!;
        batch.regValue[r] = original ^ 0x10n;
      }
    }
    const edited = join(dir, 'edited.fltrace');
    writeTraceFile(edited, trace.header!, trace.batches, { stopReason: trace.stopReason });
    const check = await runCli('replay-check', edited, '--context', '3');
    expect(check.code).toBe(1);
    expect(check.out).toContain(`first divergence at instruction ${at} (after ${at} matching): rax`);
    const hex16 = (v: bigint) => v.toString(16).padStart(16, '0');
    expect(check.out).toContain(`rax  real=${hex16(original ^ 0x10n)}  emulated=${hex16(original)}  (xor 0x10)`);
    // Three instructions before it, then the instruction itself.
    const lines = check.out.split('\n');
    const marker = lines.findIndex((l) => l.startsWith('>  '));
    expect(lines.slice(marker - 3, marker).every((l) => /^ {3}[0-9a-f]{8}`[0-9a-f]{8} /.test(l))).toBe(true);
    expect(lines[marker]).toContain(insns[at]!.pc.toString(16).padStart(16, '0').slice(8));
  }, 180_000);

  it('replays a fault delivered to its handler (the registers and the frame the kernel wrote)', async () => {
    writeFileSync(join(dir, 'segv.c'), SEGV);
    execFileSync('gcc', ['-O1', '-static', '-o', join(dir, 'segv'), join(dir, 'segv.c')]);
    const out = join(dir, 'segv.fltrace');
    const record = await runCli('record', '--step', '--mask-cpuid', '--out', out, '--', join(dir, 'segv'));
    expect(record.err).toMatch(/exited with status 5/);
    const n = Number(/; (\d+) instructions recorded/.exec(record.err)![1]);
    const check = await runCli('replay-check', out);
    expect(check.out).toContain(`no divergence in ${n} instructions`);
    expect(check.code).toBe(0);
  }, 180_000);

  it('refuses what it cannot replay with one line and exit 2', async () => {
    const junk = join(dir, 'junk.txt');
    writeFileSync(junk, 'hello\n');
    const bad = await runCli('replay-check', junk);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^faultline: .*junk.txt: not a trace faultline reads[^\n]*\n$/);
    const jsonl = join(dir, 'program.jsonl');
    writeFileSync(jsonl, (await runCli('show', recorded, '--format', 'jsonl')).out);
    const other = await runCli('replay-check', jsonl);
    expect(other.code).toBe(2);
    expect(other.err).toMatch(/^faultline: .*program\.jsonl: replay-check needs a \.fltrace written by faultline record \(this is jsonl\)\n$/);
    const missing = await runCli('replay-check', join(dir, 'none.fltrace'));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^faultline: Cannot open trace .*none\.fltrace: no such file\n$/);
  }, 60_000);
});
