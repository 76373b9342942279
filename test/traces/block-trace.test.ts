/**
 * The block recorder's traces (format version 2), read back through the
 * replay, against the per-instruction recorder on the same programs:
 * instruction by instruction the same pc, bytes, registers changed and
 * memory accesses, across batch boundaries, a fault, a trap and an
 * instruction-limit stop inside a block.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { openRawImages, parseImageSpec } from '../../src/dumps/raw/images.ts';
import { traceRun } from '../../src/analysis/trace-run.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BlockRecorder } from '../../emu/block-recorder.ts';
import { Emulator, type RunOptions } from '../../emu/emulator.ts';
import { nativeBlockRecorder } from '../../emu/native.ts';
import { Recorder } from '../../emu/recorder.ts';
import type { Arch } from '../../emu/registers.ts';
import { createSizeDecoder } from '../../src/disasm/disassembler.ts';
import { instructionsOf } from '../../traces/instructions.ts';
import type { TraceBatch, TraceInstruction } from '../../traces/model.ts';
import { readTrace, streamTrace } from '../../traces/reader.ts';
import { TraceWriter } from '../../traces/writer.ts';
import { assemble } from '../helpers/assemble.ts';
import { lacks } from '../helpers/system.ts';

const dir = mkdtempSync(join(tmpdir(), 'faultline-blocks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Program {
  arch: Arch;
  code: string;
  run: RunOptions;
}

/** A fresh engine: code at 0x1000, data at 0x2000 (0x80a5d8fc at its start), a stack page at 0x7000; 0x9000 is unmapped. */
function machine(arch: Arch, code: Uint8Array): Emulator {
  const emu = Emulator.open(arch);
  emu.mapBytes(0x1000n, code);
  emu.map(0x2000n, 0x1000);
  emu.map(0x7000n, 0x1000);
  emu.writeValue(0x2000n, 4, 0x80a5d8fcn);
  emu.writeRegisters(arch === 'arm64' ? { sp: 0x7800n, x1: 0x2000n } : arch === 'x64' ? { rsp: 0x7800n } : { esp: 0x7800n });
  return emu;
}

function text(insn: TraceInstruction | undefined): string {
  if (!insn) return 'none';
  const hex = (v: bigint) => v.toString(16);
  const bytes = insn.bytes ? Buffer.from(insn.bytes).toString('hex') : '-';
  const regs = insn.changed.map(([name, value]) => `${name}=${hex(value)}`).join(' ');
  const memory = insn.memory.map((m) => `${m.kind} ${hex(m.address)}:${m.size}=${hex(m.value)}`).join(' ');
  return `${insn.index} ${hex(insn.pc)} ${insn.size} ${bytes} | ${regs} | ${memory}`;
}

/** Runs `program` under both recorders; the block trace goes through a file and is read back. */
async function bothWays(name: string, program: Program, batchBlocks: number) {
  const code = assemble(program.arch, program.code);
  const reference = machine(program.arch, code);
  const batches: TraceBatch[] = [];
  const recorder = Recorder.attach(reference, { onBatch: (b) => batches.push(b) });
  const header = { version: 1, arch: program.arch, registers: recorder.registers, startRegisters: reference.readRegisters() };
  const expected = reference.run(program.run);
  recorder.detach();
  reference.dispose();

  const emu = machine(program.arch, code);
  const path = join(dir, `${name}.fltrace`);
  const writer = TraceWriter.open(path);
  const blocks = BlockRecorder.attach(emu, { decode: await createSizeDecoder(program.arch), sink: writer, batchBlocks })!;
  writer.writeHeader({ version: 2, arch: program.arch, registers: blocks.registers.slice(0, -1), checkpoint: blocks.registers, startRegisters: emu.readRegisters() });
  const result = emu.run(program.run);
  blocks.detach();
  emu.dispose();
  writer.close('done');
  return {
    expected, result, path,
    want: [...instructionsOf(header, batches)].map(text),
    got: [...instructionsOf(readTrace(path).header!, readTrace(path).batches)].map(text),
  };
}

const LOOP_X86 = 'mov ecx, 40\nl: add eax, [0x2000]\npush eax\npop ebx\ndec ecx\njnz l\nint3';
const CASES: Array<[string, Program]> = [
  ['x86 trap', { arch: 'x86', code: 'mov eax, [0x2000]\npush eax\ninc eax\nint3', run: { from: 0x1000n } }],
  ['x86 read fault inside a block', { arch: 'x86', code: 'mov eax, [0x2000]\npush eax\ninc eax\nmov ebx, [0x9000]\nnop\nint3', run: { from: 0x1000n } }],
  ['x86 write fault inside a block', { arch: 'x86', code: 'mov eax, [0x2000]\npush eax\ninc eax\nmov [0x9000], eax\nnop\nint3', run: { from: 0x1000n } }],
  ['x86 count stop inside a block', { arch: 'x86', code: LOOP_X86, run: { from: 0x1000n, count: 123 } }],
  ['x86 instruction budget', { arch: 'x86', code: LOOP_X86, run: { from: 0x1000n, maxInstructions: 77 } }],
  ['x86 invalid instruction', { arch: 'x86', code: 'inc eax\nud2\nnop', run: { from: 0x1000n } }],
  // Unicorn lacks the XSAVE family: a run steps over them (emu/unicorn-quirks.ts), a counted run ends there as #UD.
  ['x64 XSAVE-family stepped over', {
    arch: 'x64', code: 'mov ecx, 5\nl: mov eax, [0x2000]\nxsavec [rsp-0x100]\npush rax\nxrstor [rsp-0x100]\npop rbx\ndec ecx\njnz l\nint3', run: { from: 0x1000n },
  }],
  ['x64 XSAVE-family ends a counted run', {
    arch: 'x64', code: 'mov ecx, 5\nl: mov eax, [0x2000]\nxsavec [rsp-0x100]\npop rbx\ndec ecx\njnz l\nint3', run: { from: 0x1000n, count: 12 },
  }],
  ['x64 calls, loads and stores', {
    arch: 'x64',
    code: 'mov ecx, 30\nl: call f\nadd [0x2000], rax\ndec ecx\njnz l\nmov rax, [0x9000]\nf: mov rax, [0x2000]\nimul rax, rax, 3\nret',
    run: { from: 0x1000n },
  }],
  ['arm64 loop with loads and stores', {
    arch: 'arm64',
    code: 'mov x2, #25\nl: ldr w0, [x1]\nadd w0, w0, #1\nstr w0, [x1, #4]\nstp x0, x2, [sp, #-16]!\nldp x3, x4, [sp], #16\nsubs x2, x2, #1\nb.ne l\nbrk #0',
    run: { from: 0x1000n, count: 150 },
  }],
];

describe.skipIf(lacks('binutils') || lacks('gcc') || !nativeBlockRecorder())('block traces read back as the per-instruction recorder records', () => {
  for (const [name, program] of CASES) {
    it.skipIf(program.arch === 'arm64' && lacks('binutils-aarch64-linux-gnu'))(name, async () => {
      const { expected, result, want, got } = await bothWays(name.replace(/\W+/g, '-'), program, 3);
      expect(result.kind).toBe(expected.kind);
      expect(result.pc).toBe(expected.pc);
      expect(result.instructions).toBe(expected.instructions);
      expect(want.length).toBe(expected.instructions);
      expect(got).toEqual(want);
    });
  }

  it('writes version 2 with a block table, and streams the same batches as a whole read', async () => {
    const { path, got } = await bothWays('stream', CASES[3]![1], 2);
    const bytes = readFileSync(path);
    expect(bytes[7]).toBe(2);
    const stream = streamTrace(path);
    expect(stream.instructions).toBe(123);
    expect(stream.range).toEqual({ first: 0, last: 122 });
    const streamed = [...instructionsOf(stream.header!, { [Symbol.iterator]: () => stream.batches() }, stream.events, stream.range)].map(text);
    expect(streamed).toEqual(got);
  });

  it('writes the same bytes to a stream (one buffer per message) as to a descriptor (writev of parts)', async () => {
    const { path } = await bothWays('descriptor', CASES[3]![1], 2);
    const program = CASES[3]![1];
    const emu = machine(program.arch, assemble(program.arch, program.code));
    const chunks: Uint8Array[] = [];
    const writer = new TraceWriter({ write: (chunk) => chunks.push(chunk) });
    const blocks = BlockRecorder.attach(emu, { decode: await createSizeDecoder(program.arch), sink: writer, batchBlocks: 2 })!;
    writer.writeHeader({ version: 2, arch: program.arch, registers: blocks.registers.slice(0, -1), checkpoint: blocks.registers, startRegisters: emu.readRegisters() });
    emu.run(program.run);
    blocks.detach();
    emu.dispose();
    writer.close('done');
    expect(Buffer.concat(chunks).equals(readFileSync(path))).toBe(true);
  });

  it('writes the same bytes through the background writer thread, in chunks of whole messages', async () => {
    const { path } = await bothWays('background-reference', CASES[3]![1], 2);
    const program = CASES[3]![1];
    const emu = machine(program.arch, assemble(program.arch, program.code));
    const target = join(dir, 'background.fltrace');
    const writer = TraceWriter.open(target, { background: true });
    const blocks = BlockRecorder.attach(emu, { decode: await createSizeDecoder(program.arch), sink: writer, batchBlocks: 2 })!;
    writer.writeHeader({ version: 2, arch: program.arch, registers: blocks.registers.slice(0, -1), checkpoint: blocks.registers, startRegisters: emu.readRegisters() });
    emu.run(program.run);
    blocks.detach();
    emu.dispose();
    writer.close('done');
    expect(readFileSync(target).equals(readFileSync(path))).toBe(true);
  });

  it.skipIf(!existsSync('/dev/full'))('reports a failed background write at close, with its errno name', () => {
    const writer = TraceWriter.open('/dev/full', { background: true });
    writer.writeHeader({ version: 2, arch: 'x86', registers: ['eax'], checkpoint: ['eax', 'eip'], startRegisters: {} });
    expect(() => writer.close('done')).toThrow(/^Cannot write trace to \/dev\/full: ENOSPC$/);
  });

  it('stops at the count inside a block over lazily paged images (the pc in a block hook lags)', async () => {
    const image = join(dir, 'loop.bin');
    writeFileSync(image, assemble('x86', LOOP_X86));
    const stack = join(dir, 'stack.bin');
    writeFileSync(stack, new Uint8Array(0x1000));
    const registers = { esp: 0x7800n, eax: 0n };
    const run = (blocks: boolean) => {
      const dump = openRawImages('x86', [parseImageSpec(`${image}@0x1000`), parseImageSpec(`${stack}@0x7000`), parseImageSpec(`${stack}@0x2000`)], registers);
      return traceRun({ dump, registers, from: 0x1000n, count: 123, onBatch: () => {}, ...(blocks && { blocks: { decode, sink: { onBlocks: () => {} } } }) }).result;
    };
    const decode = await createSizeDecoder('x86');
    const expected = run(false);
    expect(expected).toMatchObject({ kind: 'reached', instructions: 123 });
    expect(run(true)).toEqual(expected);
  });

  it('stops at a count inside the block whose fetch paged in its code (first block, and one reached mid-run)', async () => {
    const first = join(dir, 'page1.bin');
    writeFileSync(first, new Uint8Array(0x1000).fill(0x90)); // falls through into the next image's page
    const second = join(dir, 'page2.bin');
    writeFileSync(second, Uint8Array.of(0x90, 0x90, 0x90, 0xcc));
    const decode = await createSizeDecoder('x64');
    const run = (blocks: boolean, from: bigint, count: number) => {
      const dump = openRawImages('x64', [parseImageSpec(`${first}@0x1000`), parseImageSpec(`${second}@0x2000`)], {});
      return traceRun({ dump, registers: {}, from, count, onBatch: () => {}, ...(blocks && { blocks: { decode, sink: { onBlocks: () => {} } } }) }).result;
    };
    for (const [from, count] of [[0x2000n, 2], [0x1ff0n, 0x12]] as const) {
      const expected = run(false, from, count);
      expect(expected).toMatchObject({ kind: 'reached', reason: 'count', pc: 0x2002n, instructions: count });
      expect(run(true, from, count)).toEqual(expected);
    }
  });

  it('refuses a blocks message whose replay does not match its recorded memory', async () => {
    const { path } = await bothWays('tampered', CASES[0]![1], 8);
    const bytes = readFileSync(path);
    // The access column: read 4 bytes at 0x2000 (head 08, address delta 0x4000 as a varint, 0x80a5d8fc as a varint),
    // then the write of the same value at 0x77fc; flip a bit of the value written.
    const access = Buffer.from([0x08, 0x80, 0x80, 0x01, 0xfc, 0xb1, 0x97, 0x85, 0x08, 0x09]);
    const at = bytes.indexOf(access);
    expect(at).toBeGreaterThan(0);
    const written = at + access.length + 3; // its head byte and the 2-byte address delta 0x57fc * 2
    expect(bytes[written]).toBe(0xfc);
    bytes[written] ^= 2;
    expect(() => readTrace(new Uint8Array(bytes))).toThrow(/Blocks message at instruction 0: the replay's memory access 1 \(0x77fc\) differs from the recorded one/);
  });
});
