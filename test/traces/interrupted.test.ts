/** An interrupted run leaves a prefix: the reader returns what is complete, says `truncated`, never throws. */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readTrace, TraceFollower } from '../../traces/reader.ts';
import { TraceWriter, writeTraceFile } from '../../traces/writer.ts';
import { X64_HEADER, X86_HEADER, x64Run, x86Run } from './fixtures.ts';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'faultline-trace-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function completeTrace(): { path: string; bytes: Buffer } {
  const path = join(dir, 'full.fltrace');
  writeTraceFile(path, X64_HEADER, [...x64Run(), ...x64Run().map((b) => ({ ...b, first: b.first + 3 }))], { stopReason: 'trap' });
  return { path, bytes: readFileSync(path) };
}

describe('interrupted traces', () => {
  it('reads every cut of a file as a valid prefix, without throwing', () => {
    const { bytes } = completeTrace();
    const full = readTrace(bytes);
    let previousCount = 0;
    for (let n = 0; n <= bytes.length; n++) {
      const cut = readTrace(bytes.subarray(0, n));
      expect(cut.truncated).toBe(n < bytes.length);
      expect(cut.batches).toEqual(full.batches.slice(0, cut.batches.length));
      expect(cut.batches.length).toBeGreaterThanOrEqual(previousCount);
      previousCount = cut.batches.length;
      if (n >= 8 && cut.header === undefined) expect(cut.trailingBytes).toBe(n - 8);
    }
    expect(previousCount).toBe(4);
  });

  it('reads a file truncated on disk at several lengths', () => {
    const { path, bytes } = completeTrace();
    const full = readTrace(bytes);
    const cuts = [0, 3, 8, 20, bytes.length - 1, Math.floor(bytes.length / 2), bytes.length - 5];
    for (const n of cuts.sort((a, b) => b - a)) {
      truncateSync(path, n);
      const cut = readTrace(path);
      expect(cut.truncated).toBe(true);
      expect(cut.batches).toEqual(full.batches.slice(0, cut.batches.length));
    }
    // The header ends well before half the file; the whole of it survives there.
    writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
    expect(readTrace(path).header).toEqual(X64_HEADER);
  });

  it('reads the file of a writer that died without closing', () => {
    const path = join(dir, 'crashed.fltrace');
    const writer = TraceWriter.open(path);
    writer.writeHeader(X86_HEADER);
    const [a, b] = x86Run();
    writer.writeBatch(a!);
    writer.writeBatch(b!);
    // No close(): as if the process was killed here.
    const trace = readTrace(path);
    expect(trace).toMatchObject({ truncated: true, trailingBytes: 0 });
    expect(trace.batches.map((x) => x.count)).toEqual([3, 2]);
    expect(trace.stopReason).toBeUndefined();
    writer.close();
  });
});

describe('following a trace being written', () => {
  it('returns new complete messages on each call, holding back a half-written one', () => {
    const path = join(dir, 'live.fltrace');
    const follower = new TraceFollower(path);
    expect(follower.readAvailable()).toEqual([]); // not created yet
    const writer = TraceWriter.open(path);
    writer.writeHeader(X86_HEADER);
    const first = follower.readAvailable();
    expect(first.map((m) => m.type)).toEqual(['header']);
    expect(follower.header).toEqual(X86_HEADER);
    expect(follower.readAvailable()).toEqual([]);
    const [a, b, c] = x86Run();
    writer.writeBatch(a!);
    writer.writeBatch(b!);
    const next = follower.readAvailable();
    expect(next.map((m) => (m.type === 'batch' ? m.batch.first : m.type))).toEqual([0, 3]);
    writer.writeBatch(c!);
    writer.close('trap');
    expect(follower.readAvailable().map((m) => m.type)).toEqual(['batch', 'end']);
    expect(follower.ended).toBe(true);
    follower.close();
  });

  it('sees the same messages however the bytes arrive', () => {
    const { bytes } = completeTrace();
    const whole = readTrace(bytes);
    const path = join(dir, 'dribble.fltrace');
    writeFileSync(path, '');
    const follower = new TraceFollower(path);
    const batches = [];
    for (let at = 0; at < bytes.length; at += 7) {
      appendFileSync(path, bytes.subarray(at, at + 7));
      for (const message of follower.readAvailable()) if (message.type === 'batch') batches.push(message.batch);
    }
    expect(batches).toEqual(whole.batches);
    expect(follower.ended).toBe(true);
    follower.close();
  });
});
