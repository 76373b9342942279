/** Writing a trace and reading it back: every column, 64-bit values, code stored once, the on-disk layout. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unpackMultiple } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TraceFormatError } from '../../traces/errors.ts';
import { instructionsOf, readTrace } from '../../traces/reader.ts';
import { TraceWriter, writeTraceFile } from '../../traces/writer.ts';
import { X64_HEADER, X86_HEADER, batchOf, x64Run, x86Run } from './fixtures.ts';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'faultline-trace-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('trace round trip', () => {
  it('reads back the header, every batch column, events and the stop reason', () => {
    const path = join(dir, 'x86.fltrace');
    const batches = x86Run();
    writeTraceFile(path, X86_HEADER, batches, { stopReason: 'trapped: int 3' });
    const trace = readTrace(path);
    expect(trace.truncated).toBe(false);
    expect(trace.trailingBytes).toBe(0);
    expect(trace.stopReason).toBe('trapped: int 3');
    expect(trace.header).toEqual(X86_HEADER);
    expect(trace.batches).toEqual(batches);
    expect(trace.events).toEqual([{ kind: 'trap', index: 4, vector: 3, pc: 0x80a5d8fcn }]);
  });

  it('keeps 64-bit values above 2^53 exact', () => {
    const path = join(dir, 'x64.fltrace');
    writeTraceFile(path, X64_HEADER, x64Run());
    const trace = readTrace(path);
    expect(trace.header!.startRegisters.r15).toBe(0x8000000000000001n);
    expect(trace.header!.startRegisters.rax).toBe(0xfffffa8003b5c060n);
    const [a] = trace.batches;
    expect(a!.pc[0]).toBe(0xfffff8803836e110n);
    expect(a!.regValue[0]).toBe(0xfffff88003a1f780n);
    expect(a!.memAddress[0]).toBe(0xfffff88003a1f780n);
    expect(a!.memValue[0]).toBe(0xfffffa8003b5c060n);
    expect(trace.events[0]).toEqual({ kind: 'trap', index: 2, vector: 3, pc: 0xfffff8803836e118n });
  });

  it('stores the bytes of an address once, yet every instruction there gets them', () => {
    const path = join(dir, 'loop.fltrace');
    const loop = (first: number) => batchOf(first, [{ pc: 0x401000n, bytes: [0x40] }, { pc: 0x401001n, bytes: [0xeb, 0xfd] }]);
    const writer = TraceWriter.open(path);
    writer.writeHeader(X86_HEADER);
    writer.onBatch(loop(0));
    writer.onBatch(loop(2));
    writer.close('budget');
    expect(writer.instructions).toBe(4);
    const trace = readTrace(path);
    expect([...trace.batches[0]!.code.keys()]).toEqual([0x401000n, 0x401001n]);
    expect(trace.batches[1]!.code.size).toBe(0);
    const bytes = [...instructionsOf(trace.header!, trace.batches)].map((i) => Buffer.from(i.bytes!).toString('hex'));
    expect(bytes).toEqual(['40', 'ebfd', '40', 'ebfd']);
  });

  it('stores changed bytes again (self-modifying code) and uses the newer ones from then on', () => {
    const path = join(dir, 'smc.fltrace');
    writeTraceFile(path, X86_HEADER, [
      batchOf(0, [{ pc: 0x401000n, bytes: [0x90] }]),
      batchOf(1, [{ pc: 0x401000n, bytes: [0xcc] }]),
    ]);
    const trace = readTrace(path);
    expect([...instructionsOf(trace.header!, trace.batches)].map((i) => i.bytes![0])).toEqual([0x90, 0xcc]);
  });

  it('lays the file out as FORMAT.md says: magic, then msgpack maps with little-endian columns', () => {
    const path = join(dir, 'layout.fltrace');
    writeTraceFile(path, X64_HEADER, x64Run(), { stopReason: 'trap' });
    const file = readFileSync(path);
    expect(file.subarray(0, 8).toString('hex')).toBe('464c545241434501'); // "FLTRACE", version 1
    const messages = unpackMultiple(file.subarray(8)) as Array<Record<string, unknown>>;
    expect(messages.map((m) => m.type)).toEqual(['header', 'batch', 'batch', 'end']);
    expect(messages[0]).toMatchObject({ version: 1, arch: 'x64', mode: 64 });
    const batch = messages[1] as Record<string, Uint8Array>;
    // fffff880`3836e110 as a little-endian u64, then fffff880`3836e114.
    expect(Buffer.from(batch.pc!).toString('hex')).toBe('10e1363880f8ffff14e1363880f8ffff');
    expect(Buffer.from(batch.regStart!).toString('hex')).toBe('000000000200000002000000');
    expect(Buffer.from(batch.memSize!).toString('hex')).toBe('08');
    expect(messages[3]).toEqual({ type: 'end', reason: 'trap', instructions: 3 });
  });

  it('writes the same bytes to a stream as to a descriptor', () => {
    const path = join(dir, 'fd.fltrace');
    writeTraceFile(path, X86_HEADER, x86Run(), { stopReason: 'trap' });
    const chunks: Uint8Array[] = [];
    const writer = new TraceWriter({ write: (chunk: Uint8Array) => chunks.push(chunk) });
    writer.writeHeader(X86_HEADER);
    for (const batch of x86Run()) writer.writeBatch(batch);
    writer.close('trap');
    expect(Buffer.concat(chunks).equals(readFileSync(path))).toBe(true);
  });

  it('writes whole or not at all: a failed write leaves the old file and no temporary', () => {
    const path = join(dir, 'keep.fltrace');
    writeFileSync(path, 'previous');
    const tooLong = batchOf(0, [{ pc: 0x1000n, bytes: new Array(300).fill(0x90) }]);
    expect(() => writeTraceFile(path, X86_HEADER, [tooLong])).toThrow(/0x1000 are 300 long/);
    expect(readFileSync(path, 'utf8')).toBe('previous');
    expect(readdirSync(dir)).toEqual(['keep.fltrace']);
    writeTraceFile(path, X86_HEADER, x86Run());
    expect(readTrace(path).batches).toHaveLength(3);
    expect(existsSync(`${path}.tmp-${process.pid}`)).toBe(false);
  });

  it('refuses calls out of order, naming them', () => {
    const writer = new TraceWriter({ write: () => undefined }, { name: 'out.fltrace' });
    expect(() => writer.writeBatch(x86Run()[0]!)).toThrow('Trace writer for out.fltrace: writeBatch() called before writeHeader()');
    writer.writeHeader(X86_HEADER);
    expect(() => writer.writeHeader(X86_HEADER)).toThrow(/writeHeader\(\) called when the writer is past its header/);
    writer.close();
    expect(() => writer.writeEvent({ kind: 'injected', index: 0, description: 'flip' })).toThrow(/writeEvent\(\) called after close\(\)/);
  });

  it('rejects a file that is not a trace, naming its first bytes', () => {
    const elf = Uint8Array.of(0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0);
    expect(() => readTrace(elf)).toThrow(TraceFormatError);
    expect(() => readTrace(elf)).toThrow('Not a faultline trace: it starts with 7f454c4602010100, expected 464c5452414345 ("FLTRACE")');
    const future = Uint8Array.of(0x46, 0x4c, 0x54, 0x52, 0x41, 0x43, 0x45, 9);
    expect(() => readTrace(future)).toThrow('Trace format version 9 is not supported; this reader knows 1 to 2');
  });

  it('reports a malformed message with its byte offset', () => {
    const path = join(dir, 'bad.fltrace');
    writeTraceFile(path, X86_HEADER, x86Run());
    const file = new Uint8Array(readFileSync(path));
    const bytes = Buffer.concat([file.subarray(0, 8), Buffer.from([0x2a]), file.subarray(8)]); // the number 42 where a map should be
    expect(() => readTrace(bytes)).toThrow('Message at byte 8: A trace message should be a map, got 42');
  });

  it('carries memory events (a recording\'s image and kernel writes) and the engine, as FORMAT.md lays them out', () => {
    const path = join(dir, 'memory.fltrace');
    const header = { ...X64_HEADER, engine: 'cpu' };
    const image = { kind: 'memory' as const, index: 0, start: true, action: 'map' as const, address: 0x7ffff000n, size: 0x1000n, protection: 'rw-' };
    const written = { kind: 'memory' as const, index: 1, action: 'write' as const, address: 0x7ffff010n, size: 3n, bytes: Uint8Array.of(0xaa, 0xbb, 0xcc) };
    writeTraceFile(path, header, x64Run(), { events: [image, written] });
    const trace = readTrace(path);
    expect(trace.header).toEqual(header);
    const memory = trace.events.flatMap((e) => (e.kind === 'memory' ? [{ ...e, ...(e.bytes ? { bytes: Uint8Array.from(e.bytes) } : {}) }] : []));
    expect(memory).toEqual([image, written]);
    const messages = unpackMultiple(readFileSync(path).subarray(8)) as Array<Record<string, unknown>>;
    expect(messages[0]).toMatchObject({ engine: 'cpu' });
    const message = messages.find((m) => m.kind === 'memory' && m.action === 'write')!;
    expect(message).toMatchObject({ type: 'event', index: 1, address: 0x7ffff010, size: 3 });
    expect(Buffer.from(message.bytes as Uint8Array).toString('hex')).toBe('aabbcc');
  });

  it('refuses a memory event whose bytes disagree with its size', () => {
    const path = join(dir, 'bad-memory.fltrace');
    writeTraceFile(path, X64_HEADER, x64Run(), { events: [{ kind: 'memory', index: 1, action: 'write', address: 0x1000n, size: 4n, bytes: Uint8Array.of(1, 2, 3) }] });
    expect(() => readTrace(path)).toThrow('Memory event at index 1 holds 3 bytes but says size 4');
  });

  it('ignores bytes after the end message', () => {
    const path = join(dir, 'tail.fltrace');
    writeTraceFile(path, X86_HEADER, x86Run(), { stopReason: 'trap' });
    const bytes = Buffer.concat([readFileSync(path), Buffer.from([0xc1, 0xc1, 0x91])]); // 0xc1 is never valid msgpack
    expect(readTrace(bytes)).toMatchObject({ truncated: false, stopReason: 'trap', trailingBytes: 0 });
  });
});
