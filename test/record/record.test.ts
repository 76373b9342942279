/**
 * `faultline record` then `faultline diff` end to end on a small gcc-built
 * x86-64 program: the recording is checked against an independent trace of
 * the same program, gdb's `stepi` loop (test/record/gdb-steps.py writes it
 * as JSON Lines without faultline's code), instruction by instruction and
 * register by register; a copy of gdb's trace edited in one register is
 * caught at that instruction.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.ts';
import { lacks } from '../helpers/system.ts';
import { readTrace, instructionsOf } from '../../traces/reader.ts';

const native = process.platform === 'linux' && process.arch === 'x64';
const STEPS = 1500;

// A loop, a write(2), rdtsc and cpuid: sync points whose results only the CPU and kernel know.
const PROGRAM = String.raw`
#include <unistd.h>
#include <cpuid.h>
#include <x86intrin.h>
static volatile unsigned long sink;
int main(void) {
  unsigned long s = 0;
  for (int i = 0; i < 200; i++) s += (unsigned long)i * i ^ (s >> 3);
  unsigned a, b, c, d;
  __cpuid(0, a, b, c, d);
  sink = s + __rdtsc() + a;
  write(1, "recorded\n", 9);
  return 3;
}
`;

describe.skipIf(!native || lacks('gcc', 'gdb'))('record and diff against gdb stepi', () => {
  let dir: string;
  let program: string;
  let gdbTrace: string;
  let recorded: string;
  let record: { code: number; out: string; err: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'faultline-record-test-'));
    writeFileSync(join(dir, 'program.c'), PROGRAM);
    program = join(dir, 'program');
    execFileSync('gcc', ['-O1', '-static', '-o', program, join(dir, 'program.c')]);
    gdbTrace = join(dir, 'gdb.jsonl');
    execFileSync('gdb', ['-batch', '-nx', '-ex', `py STEPS=${STEPS}; OUT=${JSON.stringify(gdbTrace)}`, '-x', join(import.meta.dirname, 'gdb-steps.py'), '--args', program], { stdio: 'pipe' });
    recorded = join(dir, 'budget.fltrace');
    record = await runCli('record', '--out', recorded, '--max-instructions', String(STEPS), '--', program);
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('records the first instructions exactly as gdb steps them', async () => {
    expect(record.code, record.err).toBe(0);
    expect(record.err).toContain(`instruction budget of ${STEPS} reached`);
    const diff = await runCli('diff', recorded, gdbTrace);
    expect(diff.err).toBe('');
    expect(diff.out).toContain(`no divergence in ${STEPS} instructions`);
    expect(diff.out).toMatch(/registers compared: .*efl.*rax.*rsp/);
    expect(diff.code).toBe(0);
  }, 120_000);

  it('catches a register edited in the other trace at that instruction', async () => {
    const lines = readFileSync(gdbTrace, 'utf8').trim().split('\n');
    // The 1000th instruction or the first after it that changes rax, rcx or rdx.
    const at = lines.findIndex((line, i) => i > 1000 && /"(rax|rcx|rdx)"/.test(line));
    const insn = JSON.parse(lines[at]!) as { index: number; registers: Record<string, string> };
    const name = ['rax', 'rcx', 'rdx'].find((r) => insn.registers[r] !== undefined)!;
    insn.registers[name] = `0x${(BigInt(insn.registers[name]!) ^ 0x10n).toString(16)}`;
    lines[at] = JSON.stringify(insn);
    const edited = join(dir, 'edited.jsonl');
    writeFileSync(edited, `${lines.join('\n')}\n`);
    const diff = await runCli('diff', recorded, edited, '--context', '3');
    expect(diff.code).toBe(1);
    expect(diff.out).toContain(`first divergence at instruction ${insn.index} of A, ${insn.index} of B (after ${insn.index} matching): ${name}`);
    expect(diff.out).toMatch(new RegExp(`${name}\\s+A=[0-9a-f]{16}\\s+B=[0-9a-f]{16}\\s+\\(xor 0x10\\)`));
    const json = JSON.parse((await runCli('diff', recorded, edited, '--json')).out) as { divergence: { kind: string; indexA: number; registers: Array<{ name: string }> } };
    expect(json.divergence).toMatchObject({ kind: 'register', indexA: insn.index, registers: [{ name }] });
  }, 60_000);

  it('aligns by pc a trace that starts later in the run', async () => {
    const [headerLine, ...rest] = readFileSync(gdbTrace, 'utf8').trim().split('\n');
    const header = JSON.parse(headerLine!) as { startRegisters: Record<string, string> };
    const insns = rest.map((l) => JSON.parse(l) as { index: number; pc: string; registers?: Record<string, string> });
    // The first instruction from 500 on whose pc the run has not executed before: where alignment must land.
    const seen = new Set<string>();
    let k = 0;
    for (; k < insns.length; k++) {
      if (k >= 500 && !seen.has(insns[k]!.pc)) break;
      seen.add(insns[k]!.pc);
    }
    const state = { ...header.startRegisters };
    for (const insn of insns.slice(0, k)) Object.assign(state, insn.registers ?? {});
    state.rip = insns[k]!.pc;
    const later = join(dir, 'later.jsonl');
    writeFileSync(later, [JSON.stringify({ ...header, startRegisters: state }), ...insns.slice(k).map((i) => JSON.stringify(i))].join('\n') + '\n');
    const byIndex = await runCli('diff', recorded, later);
    expect(byIndex.code).toBe(1);
    const byPc = await runCli('diff', recorded, later, '--align', 'pc');
    expect(byPc.out).toContain(`aligned by pc: instruction ${k} of A with instruction 0 of B`);
    expect(byPc.out).toContain(`no divergence in ${STEPS - k} instructions`);
    expect(byPc.code).toBe(0);
  }, 60_000);

  it('decode-check: Capstone agrees with the CPU on every length; a plug-in one byte short is caught at its first execution', async () => {
    const capstone = JSON.parse((await runCli('decode-check', recorded, '--json')).out) as Array<{ checked: number; groups: Array<{ kind: string }> }>;
    expect(capstone[0]!.checked).toBe(STEPS);
    expect(capstone[0]!.groups.filter((g) => g.kind === 'length' || g.kind === 'target')).toEqual([]);
    const plugin = join(import.meta.dirname, 'wrong-length-decoder.mjs');
    // The first `mov r64,r64` (48 89 /r, register form) the program executed, from the recording's own bytes.
    const trace = readTrace(recorded);
    const insns = [...instructionsOf(trace.header!, trace.batches, trace.events)];
    const first = insns.find((i, k) => i.bytes?.[0] === 0x48 && i.bytes[1] === 0x89 && i.bytes[2]! >= 0xc0 && k + 1 < insns.length)!;
    const result = await runCli('decode-check', recorded, '--decoder', plugin);
    expect(result.code).toBe(1);
    const bytes = Buffer.from(first.bytes!).toString('hex');
    expect(result.out).toContain(`length ${bytes.slice(2)}: `);
    expect(result.out).toContain(`first at instruction ${first.index}: length 2, but the CPU went on at 0x${(first.pc + 3n).toString(16)} (3 bytes on)`);
    expect(result.out).toContain(`reproducer: bytes ${bytes} mode x86-64 address ${first.pc.toString(16).padStart(16, '0').replace(/^(.{8})/, '$1\`')}`);
    const bad = await runCli('decode-check', recorded, '--decoder', join(dir, 'missing.mjs'));
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^faultline: Cannot load decoder .*missing\.mjs: no such file\n$/);
  }, 60_000);

  it('compares with its own Tenet export on the general registers', async () => {
    const tenet = await runCli('show', recorded, '--format', 'tenet');
    const path = join(dir, 'recorded.tenet.log');
    writeFileSync(path, tenet.out);
    const diff = await runCli('diff', recorded, path);
    expect(diff.out).toContain(`no divergence in ${STEPS} instructions (registers compared: r10 r11 r12 r13 r14 r15 r8 r9 rax rbp rbx rcx rdi rdx rsi rsp)`);
  }, 60_000);

  it('records a whole run: sync points, and the exit the kernel reports', async () => {
    const whole = join(dir, 'whole.fltrace');
    const record = await runCli('record', '--out', whole, '--', program);
    expect(record.code, record.err).toBe(0);
    expect(record.err).toMatch(/exited with status 3; \d+ instructions recorded/);
    const trace = readTrace(whole);
    const names = trace.events.filter((e) => e.kind === 'sync').map((e) => (e as { name: string }).name);
    expect(names).toEqual(expect.arrayContaining(['syscall', 'rdtsc', 'cpuid']));
    const insns = [...instructionsOf(trace.header!, trace.batches, trace.events)];
    // The write(2) of 9 bytes: a syscall after which rax holds 9.
    const write = insns.find((i) => i.bytes?.[0] === 0x0f && i.bytes[1] === 0x05 && i.changed.some(([r, v]) => r === 'rax' && v === 9n));
    expect(write).toBeDefined();
    expect(trace.stopReason).toBe('exited with status 3');
  }, 120_000);

  it('records a fault, its delivery to the handler with the registers the kernel set, and the handler', async () => {
    writeFileSync(join(dir, 'segv.c'), String.raw`
#include <signal.h>
#include <unistd.h>
static void on_segv(int s) { (void)s; write(1, "caught\n", 7); _exit(5); }
int main(void) { signal(SIGSEGV, on_segv); volatile int *p = 0; return *p; }
`);
    const segv = join(dir, 'segv');
    execFileSync('gcc', ['-O1', '-static', '-o', segv, join(dir, 'segv.c')]);
    const handler = BigInt(`0x${/^([0-9a-f]+) t on_segv$/m.exec(execFileSync('nm', [segv], { encoding: 'utf8' }))![1]}`);
    const out = join(dir, 'segv.fltrace');
    const record = await runCli('record', '--out', out, '--', segv);
    expect(record.err).toMatch(/exited with status 5/);
    const trace = readTrace(out);
    const signals = trace.events.filter((e) => e.kind === 'signal');
    expect(signals.map((e) => e.name)).toEqual(['SIGSEGV', 'SIGSEGV delivered to its handler']);
    const delivered = signals[1]!;
    const set = new Map(delivered.kind === 'signal' ? delivered.registers : []);
    expect(set.get('rsp')).toBeDefined();
    const insns = [...instructionsOf(trace.header!, trace.batches, trace.events)];
    expect(insns[delivered.index + 1]!.pc).toBe(handler);
    // The handler's third argument (rdx) is the ucontext on the new stack: above the handler's rsp.
    expect(set.get('rdx')! > set.get('rsp')!).toBe(true);
  }, 60_000);

  it('refuses bad input with one line and exit 2', async () => {
    const missing = await runCli('record', '--out', join(dir, 'x.fltrace'), '--', join(dir, 'no-such-program'));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^faultline: record: cannot run .*no-such-program: No such file or directory\n$/);
    const junk = join(dir, 'junk.txt');
    writeFileSync(junk, 'hello\n');
    const diff = await runCli('diff', recorded, junk);
    expect(diff.code).toBe(2);
    expect(diff.err).toMatch(/^faultline: .*junk.txt: not a trace faultline reads/);
  }, 60_000);
});
