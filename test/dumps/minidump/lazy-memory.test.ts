/**
 * Memory is read lazily: a 3 GiB sparse file whose Memory64List describes
 * all of it opens after reading a few hundred bytes, and a read at its far
 * end reads just the bytes asked for.
 */
import { closeSync, openSync, truncateSync, writeSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FileSource } from '../../../src/dumps/binary/file-source.ts';
import { openMinidump } from '../../../src/dumps/minidump/open-minidump.ts';
import { MinidumpBuilder } from './builder.ts';
import { tempFiles } from './temp-files.ts';

const temp = tempFiles();
const GIB = 1n << 30n;

afterEach(() => vi.restoreAllMocks());

describe('a 3 GiB Memory64List dump', () => {
  it('opens without reading its memory, and reads only what is asked', () => {
    const base = 0x1000n;
    const start = 0x7ff0_0000_0000n;
    const b = new MinidumpBuilder();
    b.systemInfo({ ProcessorArchitecture: 9, PlatformId: 2 });
    b.memory64List([{ start, size: 2n * GIB }, { start: start + 2n * GIB + 0x10000n, size: GIB }], { baseRva: base });
    const path = temp.write('sparse.dmp', b.build());
    const size = base + 3n * GIB;
    truncateSync(path, Number(size)); // sparse: no blocks are written
    const fd = openSync(path, 'r+');
    writeSync(fd, Uint8Array.of(0xde, 0xad, 0xbe, 0xef), 0, 4, Number(size - 4n));
    closeSync(fd);

    const read = vi.spyOn(FileSource.prototype, 'read');
    const bytesRead = () => read.mock.calls.reduce((sum, [, length]) => sum + (length as number), 0);
    const dump = openMinidump(path);
    expect(bytesRead()).toBeLessThan(1024);
    expect(dump.memory.ranges().map((r) => r.end - r.start)).toEqual([2n * GIB, GIB]);

    read.mockClear();
    const end = start + 2n * GIB + 0x10000n + GIB;
    expect(dump.memory.read(end - 4n, 4)).toEqual(Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
    expect(dump.memory.read(start + GIB, 16)).toEqual(new Uint8Array(16));
    expect(dump.memory.read(start + 2n * GIB, 1)).toBeUndefined(); // the gap between the ranges
    expect(bytesRead()).toBe(20);
    expect(dump.memory.provenanceOf(end - 1n)).toEqual({ source: 'Memory64ListStream[1]', offset: size - 1n });
    dump.close();
  });
});
