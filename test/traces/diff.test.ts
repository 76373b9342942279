/**
 * `faultline diff` between an emulator's trace and its own exports (Tenet,
 * JSON Lines), edited in one place each: a memory access, a register, a pc.
 * Each edit is caught at the instruction it was made in; an unedited export
 * agrees on every instruction.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assemble } from '../helpers/assemble.ts';
import { lacks } from '../helpers/system.ts';
import { runCli } from '../cli/run-cli.ts';

describe.skipIf(lacks('binutils'))('diff across formats', () => {
  let dir: string;
  let fltrace: string;
  const path = (name: string) => join(dir, name);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'faultline-diff-'));
    writeFileSync(path('code.bin'), assemble('x64', 'mov rax, [0x402000]\nadd rax, 1\nmov [0x402008], rax\nimul rax, rax\nint3'));
    writeFileSync(path('data.bin'), Uint8Array.of(0x10, 0x20, 0x30, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
    fltrace = path('run.fltrace');
    const run = await runCli('trace', '--arch', 'x64', '--image', `${path('code.bin')}@0x401000`, '--image', `${path('data.bin')}@0x402000`,
      '--regs', 'rsp=0x7000', '--from', '0x401000', '--count', '5', '--out', fltrace);
    if (run.code !== 0) throw new Error(run.err);
    for (const format of ['tenet', 'jsonl'] as const) writeFileSync(path(`run.${format}`), (await runCli('show', fltrace, '--format', format)).out);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('agrees with its own exports', async () => {
    const tenet = await runCli('diff', fltrace, path('run.tenet'));
    expect(tenet.out).toContain('no divergence in 5 instructions (registers compared: r10 r11 r12 r13 r14 r15 r8 r9 rax rbp rbx rcx rdi rdx rsi rsp)');
    const jsonl = await runCli('diff', path('run.jsonl'), fltrace);
    expect(jsonl.out).toMatch(/no divergence in 5 instructions \(registers compared: .*efl.*\)/);
    expect(jsonl.code).toBe(0);
  });

  it('catches a memory write edited in the Tenet trace', async () => {
    // Line 4 of the Tenet trace holds the effects of instruction 2, the store: mw=0x402008:<bytes>.
    const lines = readFileSync(path('run.tenet'), 'utf8').split('\n');
    const at = lines.findIndex((l) => l.includes('mw=0x402008:'));
    lines[at] = lines[at]!.replace(/mw=0x402008:(..)/, (_m, b: string) => `mw=0x402008:${(Number.parseInt(b, 16) ^ 1).toString(16).padStart(2, '0')}`);
    writeFileSync(path('edited.tenet'), lines.join('\n'));
    const diff = await runCli('diff', fltrace, path('edited.tenet'));
    expect(diff.code).toBe(1);
    expect(diff.out).toContain('first divergence at instruction 2 of A, 2 of B (after 2 matching): memory accessed');
    expect(diff.out).toMatch(/A:\n\s+\[00000000`00402008\] <- 0000000040302011 \(8\)\n\s+B:\n\s+\[00000000`00402008\] <- 0000000040302010 \(8\)/);
  });

  it('catches a pc edited in the JSON Lines trace, and ignores imul\'s undefined flags edited there', async () => {
    const lines = readFileSync(path('run.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const flags = structuredClone(lines);
    const imul = flags.find((l) => l.index === 3)!;
    // imul leaves SF ZF AF PF undefined: flipping ZF there is no divergence.
    const before = flags.filter((l) => typeof l.index === 'number' && l.index <= 3).map((l) => (l.registers as Record<string, string> | undefined)?.efl).filter(Boolean).at(-1)
      ?? ((flags[0]!.startRegisters as Record<string, string>).efl!);
    imul.registers = { ...(imul.registers as object), efl: `0x${(BigInt(before) ^ 0x40n).toString(16)}` };
    writeFileSync(path('flags.jsonl'), flags.map((l) => JSON.stringify(l)).join('\n'));
    const ignored = await runCli('diff', fltrace, path('flags.jsonl'));
    expect(ignored.out).toContain('no divergence in 5 instructions');
    expect(ignored.out).toContain('flags differed only where left architecturally undefined after 1 instructions');
    const pc = structuredClone(lines);
    pc.find((l) => l.index === 2)!.pc = '0x401010';
    writeFileSync(path('pc.jsonl'), pc.map((l) => JSON.stringify(l)).join('\n'));
    const diff = await runCli('diff', fltrace, path('pc.jsonl'));
    expect(diff.code).toBe(1);
    expect(diff.out).toContain('first divergence at instruction 2 of A, 2 of B (after 2 matching): the instruction executed');
    expect(diff.out).toContain('B continues at 0x401010');
  });

  it('refuses traces of different architectures or without a common pc, in one line', async () => {
    writeFileSync(path('x86.jsonl'), `${JSON.stringify({ type: 'header', arch: 'x86', startRegisters: {} })}\n${JSON.stringify({ type: 'instruction', index: 0, pc: '0x500000' })}\n`);
    const arch = await runCli('diff', fltrace, path('x86.jsonl'));
    expect(arch.code).toBe(2);
    expect(arch.err).toMatch(/^faultline: .*run\.fltrace is x64 and .*x86\.jsonl is x86: they cannot be traces of one run\n$/);
    writeFileSync(path('far.jsonl'), `${JSON.stringify({ type: 'header', arch: 'x64', startRegisters: {} })}\n${JSON.stringify({ type: 'instruction', index: 0, pc: '0x500000' })}\n`);
    const far = await runCli('diff', fltrace, path('far.jsonl'), '--align', 'pc');
    expect(far.code).toBe(2);
    expect(far.err).toMatch(/share no starting pc/);
    writeFileSync(path('bad.jsonl'), `${JSON.stringify({ type: 'header', arch: 'x64' })}\n{"type":"instruction","pc":"zz"}\n`);
    const bad = await runCli('diff', fltrace, path('bad.jsonl'));
    expect(bad.code).toBe(2);
    expect(bad.err).toBe(`faultline: ${path('bad.jsonl')} line 2: "pc" should be a hex string, got "zz"\n`);
  });
});
