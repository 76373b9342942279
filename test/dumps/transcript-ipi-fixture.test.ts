/**
 * The IPI fixture: an x86 kd session on a KERNEL_MODE_EXCEPTION_NOT_HANDLED
 * (0x8e): the call through hal!_imp__KiIpiServiceRoutine, whose slot now
 * reads 8082e3e4, hit the `int 3` at 8082e3e0. Expected values are copied
 * from the transcript text; line numbers are counted in the file.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadTranscript } from '../../src/dumps/transcript/loader.ts';

const FIXTURE = 'test/fixtures/transcripts/ipi-call-target-bitflip.txt';
const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

describe('ipi-call-target-bitflip.txt', () => {
  const dump = loadTranscript(FIXTURE);

  it('is an x86 windbg transcript', () => {
    expect(dump.format).toBe('windbg-transcript');
    expect(dump.path).toBe(FIXTURE);
    expect(dump.arch).toBe('x86');
  });

  it('reads the bugcheck code and its four arguments', () => {
    expect(dump.fault).toEqual({
      kind: 'bugcheck',
      code: 0x8en,
      parameters: [0x80000003n, 0x8082e3e0n, 0xf78aec38n, 0n],
      provenance: { source: '.bugcheck', line: 2 },
    });
  });

  it('puts the trap frame on processor 1, first, with exactly the registers shown', () => {
    expect(dump.threads.map((t) => t.id)).toEqual([1]);
    const [trap] = dump.threads[0]!.contexts;
    expect(trap).toEqual({
      kind: 'trap-frame',
      label: '.trap f78aec38',
      address: 0xf78aec38n,
      errorCode: 0n,
      provenance: { source: '.trap f78aec38', line: 6 },
      registers: {
        eax: 0x0e364a01n, ebx: 0xf78aed50n, ecx: 0xf78aecb8n, edx: 0x000000e1n, esi: 0xf7727ec0n, edi: 0xf75d9ca2n,
        eip: 0x8082e3e1n, esp: 0xf78aecacn, ebp: 0xf78aecc0n,
        cs: 0x0008n, ss: 0x0010n, ds: 0x0023n, es: 0x0023n, fs: 0x0030n, gs: 0x0000n, efl: 0x202n,
      },
    });
    expect(trap!.registers.fs_base).toBeUndefined();
  });

  it('holds the call instruction bytes as code, with the listing line as provenance', () => {
    expect(dump.memory.read(0x80a5d8f6n, 6)).toEqual(bytes(0xff, 0x15, 0x20, 0xb0, 0xa5, 0x80));
    expect(dump.memory.provenanceOf(0x80a5d8f6n)).toEqual({ source: 'ub 80a5d8fc', line: 40 });
    expect(dump.memory.provenanceOf(0x80a5d8fbn)).toEqual({ source: 'ub 80a5d8fc', line: 40 });
    const range = dump.memory.ranges().find((r) => r.start === 0x80a5d8f6n);
    expect(range).toMatchObject({ end: 0x80a5d8fcn, kind: 'code' });
  });

  it('holds the call target pointer from `dd 80a5b020 l 1` as data', () => {
    expect(dump.memory.read(0x80a5b020n, 4)).toEqual(bytes(0xe4, 0xe3, 0x82, 0x80));
    expect(dump.memory.provenanceOf(0x80a5b020n)).toEqual({ source: 'dd 80a5b020 l 1', line: 42 });
    expect(dump.memory.read(0x80a5b020n, 5)).toBeUndefined();
  });

  it('holds the stack from dps f78aecac through f78aeccc', () => {
    const expected = [0x80a5d8fc, 0xf78aecc0, 0, 2, 0xe1, 0xf78aed50, 0xf75d9ca2, 0xbadb0d00, 0x86a8];
    const stack = dump.memory.read(0xf78aecacn, 4 * expected.length)!;
    const view = new DataView(stack.buffer, stack.byteOffset, stack.byteLength);
    expect(expected.map((_, i) => view.getUint32(4 * i, true))).toEqual(expected);
    expect(dump.memory.provenanceOf(0xf78aecccn)).toEqual({ source: 'dps f78aecac', line: 30 });
    expect(dump.memory.read(0xf78aecd0n, 1)).toBeUndefined();
  });

  it('holds the trap-time instruction at eip and the int 3 padding before it', () => {
    expect(dump.memory.read(0x8082e3den, 4)).toEqual(bytes(0xcc, 0xcc, 0xcc, 0xcc));
    expect(dump.memory.provenanceOf(0x8082e3e1n)).toEqual({ source: '.trap f78aec38', line: 10 });
  });

  it('resolves symbols from headers, references and dps', () => {
    expect(dump.symbols.format(0x80a5d8fcn)).toBe('hal!HalpIpiHandler+0xcc');
    expect(dump.symbols.format(0x80a5d830n)).toBe('hal!HalpIpiHandler');
    expect(dump.symbols.resolve('hal!HalBeginSystemInterrupt')).toBe(0x80a604ben);
    expect(dump.symbols.resolve('hal!_imp__KiIpiServiceRoutine')).toBe(0x80a5b020n);
    expect(dump.symbols.resolve('nt!_imp_KfLowerIrql')).toBe(0x80801108n);
    expect(dump.symbols.lookup(0x8082e3e1n)).toEqual({ module: 'nt', symbol: 'KiCheckForKernelApcDelivery', base: 0x8082e3aan, offset: 0x37n });
    expect(dump.symbols.format(0x8082e3e1n)).toBe('nt!KiCheckForKernelApcDelivery+0x37');
    // A stack address is far from every symbol the transcript shows.
    expect(dump.symbols.format(0xf78aecc0n)).toBe('f78aecc0');
  });

  it('reports !ipi as skipped, keeping its output, and nothing as a warning', () => {
    const skipped = dump.notes.filter((n) => n.level === 'info' && /skipped/i.test(n.message));
    expect(skipped).toHaveLength(1);
    expect(skipped[0]!.message).toContain('!ipi');
    expect(skipped[0]!.provenance).toEqual({ source: '!ipi', line: 58 });
    expect(skipped[0]!.text).toContain('IPI State for Processor 1');
    // `ub 80a5d8fc l10` repeats 80a5d8e6 0ac0 exactly as `ub 80a5d8fc` showed it.
    expect(dump.notes.filter((n) => n.level === 'warning')).toEqual([]);
    expect(dump.memory.provenanceOf(0x80a5d8e6n)).toEqual({ source: 'ub 80a5d8fc', line: 34 });
  });

  it('warns, naming both lines, when two listings disagree about a byte', () => {
    const text = readFileSync(FIXTURE, 'utf8').replace('80a5d8e6 0ac0 or al,al <<<', '80a5d8e6 0ae0 or al,al <<<');
    const variant = loadTranscript('variant.txt', text);
    const warnings = variant.notes.filter((n) => n.level === 'warning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain('80a5d8e7');
    expect(warnings[0]!.message).toContain('line 34');
    expect(warnings[0]!.message).toContain('line 57');
    expect(warnings[0]!.provenance).toEqual({ source: 'ub 80a5d8fc l10', line: 57 });
    // The first value stays.
    expect(variant.memory.read(0x80a5d8e6n, 2)).toEqual(bytes(0x0a, 0xc0));
  });
});
