/**
 * `faultline record --fast` against `record --step` on a program that does
 * the same thing in every run: a static x86-64 program without a C library
 * (a loop, `cpuid` leaf 0, `rdtsc` with its result dropped, write(2) and
 * exit(2)), built here with gcc. The CPU single-stepped and Unicorn between
 * native sync points must give the same instructions: pc, size and every
 * register after each one (only `rdtsc`'s own outputs, the time, differ,
 * and the flags an instruction leaves architecturally undefined, where
 * Unicorn and the CPU may leave different values until a later instruction
 * defines them).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisterName } from '../../emu/registers.ts';
import { definedFlags, undefinedFlags } from '../../src/analysis/undefined-flags.ts';
import { createDisassembler } from '../../src/disasm/disassembler.ts';
import { instructionsOf, readTrace } from '../../traces/reader.ts';
import { runCli } from '../cli/run-cli.ts';
import { lacks } from '../helpers/system.ts';

const native = process.platform === 'linux' && process.arch === 'x64';

// No C library: nothing reads the auxiliary vector's random bytes, the clock or the process id.
const PROGRAM = String.raw`
static long sys(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}
static char out[] = "fast and step agree\n";
void _start(void) {
  unsigned long s = 1;
  for (int i = 0; i < 3000; i++) s = s * 31 + ((unsigned long)i ^ (s >> 7));
  unsigned a, b, c, d;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
  /* The time is read and dropped: rax and rdx are the same in every run from the next instruction on. */
  __asm__ volatile("rdtsc\n\txor %%eax, %%eax\n\txor %%edx, %%edx" ::: "rax", "rdx", "cc");
  for (int i = 0; i < 300; i++) s ^= s << 13, s ^= s >> 7, s ^= (unsigned long)b << (i & 7);
  out[0] = (char)('a' + s % 26);
  sys(1, 1, (long)out, sizeof out - 1);
  sys(60, (long)(s & 0x3f), 0, 0);
  for (;;) {}
}
`;

// An AVX instruction (Unicorn 2 has none) after a loop: the fast mode single-steps from there on.
const AVX_PROGRAM = String.raw`
void _start(void) {
  unsigned long s = 1;
  for (int i = 0; i < 500; i++) s = s * 31 + (unsigned long)i;
  __asm__ volatile("vpxor %%ymm0, %%ymm0, %%ymm0" ::: "xmm0");
  for (int i = 0; i < 500; i++) s = s * 31 + (unsigned long)i;
  __asm__ volatile("syscall" :: "a"(60), "D"(s & 0x3f) : "rcx", "r11", "memory");
  for (;;) {}
}
`;

const hasAvx = native && /^flags\s*:.*\bavx\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));

interface Step {
  pc: bigint;
  size: number;
  bytes: string;
  changed: RegisterName[];
  registers: Partial<Record<RegisterName, bigint>>;
}

/** Every instruction of a recording with the whole register state after it. */
function steps(path: string): Step[] {
  const trace = readTrace(path);
  const state: Partial<Record<RegisterName, bigint>> = { ...trace.header!.startRegisters };
  const out: Step[] = [];
  for (const insn of instructionsOf(trace.header!, trace.batches, trace.events)) {
    for (const [name, value] of insn.changed) state[name] = value;
    out.push({ pc: insn.pc, size: insn.size, bytes: Buffer.from(insn.bytes ?? []).toString('hex'), changed: insn.changed.map(([name]) => name), registers: { ...state } });
  }
  return out;
}

describe.skipIf(!native || lacks('gcc'))('record --fast against record --step', () => {
  let dir: string;
  let program: string;
  const runs: Record<'step' | 'fast', { code: number; out: string; err: string }> = {} as never;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'faultline-fast-record-test-'));
    writeFileSync(join(dir, 'program.c'), PROGRAM);
    program = join(dir, 'program');
    execFileSync('gcc', ['-O1', '-static', '-nostdlib', '-fno-stack-protector', '-fno-pie', '-no-pie', '-o', program, join(dir, 'program.c')]);
    for (const mode of ['step', 'fast'] as const) runs[mode] = await runCli('record', `--${mode}`, '--out', join(dir, `${mode}.fltrace`), '--', program);
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('records the same instructions and registers in both modes', async () => {
    const exit = /exited with status (\d+); (\d+) instructions recorded/;
    expect(runs.step.code, runs.step.err).toBe(0);
    expect(runs.fast.code, runs.fast.err).toBe(0);
    const [, status, count] = exit.exec(runs.step.err)!;
    expect(exit.exec(runs.fast.err)?.slice(1)).toEqual([status, count]);
    expect(runs.fast.err).not.toContain('single-stepped from');

    const step = steps(join(dir, 'step.fltrace'));
    const fast = steps(join(dir, 'fast.fltrace'));
    // The loops alone run more than 3 000 iterations.
    expect(step.length).toBeGreaterThan(10_000);
    expect(fast.length).toBe(step.length);
    const rdtsc = step.findIndex((s) => s.bytes.startsWith('0f31'));
    expect(rdtsc).toBeGreaterThan(0);
    const disasm = await createDisassembler('x64');
    // Flags some instruction since the last that defined them left undefined (shl's AF, here).
    let loose = 0n;
    let looseSteps = 0;
    // rdtsc's outputs, the time, until an instruction overwrites them.
    const timed = new Set<RegisterName>();
    for (let i = 0; i < step.length; i++) {
      const a = step[i]!;
      const b = fast[i]!;
      const where = `instruction ${i} at 0x${a.pc.toString(16)}`;
      expect({ pc: b.pc, size: b.size, bytes: b.bytes }, where).toEqual({ pc: a.pc, size: a.size, bytes: a.bytes });
      const mnemonic = disasm.decode(Buffer.from(a.bytes, 'hex'), a.pc)?.mnemonic ?? '';
      loose = (loose & ~definedFlags('x64', mnemonic)) | undefinedFlags('x64', mnemonic);
      if ((a.registers.efl! ^ b.registers.efl!) & loose) looseSteps++;
      for (const name of a.changed) timed.delete(name);
      if (i === rdtsc) timed.add('rax').add('rdx');
      const registers = (s: Step) => {
        const kept: Partial<Record<RegisterName, bigint>> = { ...s.registers, efl: s.registers.efl! & ~loose };
        for (const name of timed) delete kept[name];
        return kept;
      };
      // toEqual on every step is slow; compare cheaply and let toEqual describe the first difference.
      if (JSON.stringify(registers(a), bigintText) !== JSON.stringify(registers(b), bigintText)) expect(registers(b), where).toEqual(registers(a));
    }
    disasm.close();
    expect([...timed]).toEqual([]);
    // What was left out is little: a few thousand shifts' AF, not whole stretches of the run.
    expect(looseSteps).toBeLessThan(step.length / 2);
  }, 60_000);

  it.skipIf(!hasAvx)('goes on single-stepped from an instruction Unicorn lacks, and stops at the budget there', async () => {
    writeFileSync(join(dir, 'avx.c'), AVX_PROGRAM);
    const avx = join(dir, 'avx');
    execFileSync('gcc', ['-O1', '-static', '-nostdlib', '-fno-stack-protector', '-fno-pie', '-no-pie', '-o', avx, join(dir, 'avx.c')]);
    const whole = await runCli('record', '--fast', '--out', join(dir, 'avx.fltrace'), '--', avx);
    expect(whole.code, whole.err).toBe(0);
    const from = Number(/Unicorn cannot execute `vpxor ymm0,ymm0,ymm0` at 0x[0-9a-f]+: single-stepped from instruction (\d+) on/.exec(whole.err)?.[1]);
    expect(from).toBeGreaterThan(500);
    const total = Number(/exited with status \d+; (\d+) instructions recorded/.exec(whole.err)?.[1]);
    expect(total).toBeGreaterThan(from + 500);
    // A budget that ends among the single-stepped instructions: the program is killed once, the trace written.
    const budget = await runCli('record', '--fast', '--max-instructions', String(from + 100), '--out', join(dir, 'avx-budget.fltrace'), '--', avx);
    expect(budget.code, budget.err).toBe(0);
    expect(budget.err).toContain(`instruction budget of ${from + 100} reached`);
    const trace = readTrace(join(dir, 'avx-budget.fltrace'));
    expect([...instructionsOf(trace.header!, trace.batches, trace.events)].length).toBe(from + 100);
  }, 60_000);
});

function bigintText(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString(16) : value;
}
