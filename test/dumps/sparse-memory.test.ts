import { describe, expect, it } from 'vitest';
import { SparseMemory } from '../../src/dumps/sparse-memory.ts';

const first = { source: 'ub 80a5d8fc', line: 34 };
const second = { source: 'ub 80a5d8fc l10', line: 57 };

describe('SparseMemory', () => {
  it('reads back what was written, and nothing else', () => {
    const memory = new SparseMemory();
    expect(memory.write(0x80a5b020n, Uint8Array.of(0xe4, 0xe3, 0x82, 0x80), first, 'data')).toEqual([]);
    expect(memory.read(0x80a5b020n, 4)).toEqual(Uint8Array.of(0xe4, 0xe3, 0x82, 0x80));
    expect(memory.read(0x80a5b021n, 2)).toEqual(Uint8Array.of(0xe3, 0x82));
    expect(memory.read(0x80a5b01fn, 2)).toBeUndefined();
    expect(memory.read(0x80a5b020n, 0)).toEqual(new Uint8Array(0));
    expect(memory.provenanceOf(0x80a5b023n)).toBe(first);
    expect(memory.provenanceOf(0x80a5b024n)).toBeUndefined();
    expect(memory.byteCount).toBe(4);
  });

  it('keeps the first value and reports each differing run once', () => {
    const memory = new SparseMemory();
    memory.write(0x1000n, Uint8Array.of(1, 2, 3, 4, 5, 6), first, 'code');
    const conflicts = memory.write(0x0ffen, Uint8Array.of(9, 9, 1, 7, 7, 4, 5, 0), second, 'code');
    expect(conflicts).toEqual([
      { address: 0x1001n, existing: Uint8Array.of(2, 3), incoming: Uint8Array.of(7, 7), existingProvenance: first, incomingProvenance: second },
      { address: 0x1005n, existing: Uint8Array.of(6), incoming: Uint8Array.of(0), existingProvenance: first, incomingProvenance: second },
    ]);
    expect(memory.read(0x0ffen, 8)).toEqual(Uint8Array.of(9, 9, 1, 2, 3, 4, 5, 6));
    // Bytes the second write supplied first are its own.
    expect(memory.provenanceOf(0x0ffen)).toBe(second);
    expect(memory.provenanceOf(0x1000n)).toBe(first);
  });

  it('lets code override data but not the reverse', () => {
    const memory = new SparseMemory();
    memory.write(0x2000n, Uint8Array.of(0xcc), first, 'data');
    memory.write(0x2000n, Uint8Array.of(0xcc), second, 'code');
    memory.write(0x2001n, Uint8Array.of(0x90), first, 'code');
    memory.write(0x2001n, Uint8Array.of(0x90), second, 'data');
    memory.write(0x2002n, Uint8Array.of(0x90), first);
    expect([memory.kindOf(0x2000n), memory.kindOf(0x2001n), memory.kindOf(0x2002n), memory.kindOf(0x2003n)]).toEqual(['code', 'code', undefined, undefined]);
  });

  it('lists ranges sorted, split by provenance and kind, joined across pages', () => {
    const memory = new SparseMemory();
    memory.write(0x5002n, Uint8Array.of(5), second, 'data');
    memory.write(0x4ffen, Uint8Array.of(1, 2, 3, 4), first, 'code');
    memory.write(0x10n, Uint8Array.of(0), first);
    memory.write(0x11n, Uint8Array.of(0), first, 'data');
    expect(memory.ranges()).toEqual([
      { start: 0x10n, end: 0x11n, provenance: first },
      { start: 0x11n, end: 0x12n, kind: 'data', provenance: first },
      { start: 0x4ffen, end: 0x5002n, kind: 'code', provenance: first },
      { start: 0x5002n, end: 0x5003n, kind: 'data', provenance: second },
    ]);
  });

  it('holds bytes at the top of the 64-bit space and refuses to pass it', () => {
    const memory = new SparseMemory();
    const top = 0xffff_ffff_ffff_fffen;
    memory.write(top, Uint8Array.of(0xaa, 0xbb), first);
    expect(memory.read(top, 2)).toEqual(Uint8Array.of(0xaa, 0xbb));
    expect(() => memory.write(top, Uint8Array.of(1, 2, 3), first)).toThrow(/0xfffffffffffffffe\+3/);
    expect(() => memory.read(-1n, 1)).toThrow(RangeError);
    // A read running past the top holds nothing there (a wild sp just above zero, less a word, is such a span).
    expect(memory.read(top, 3)).toBeUndefined();
    expect(memory.readPartial(top, 3)).toEqual({ bytes: Uint8Array.of(0xaa, 0xbb, 0), known: Uint8Array.of(1, 1, 0) });
  });

  it('reads partially known spans with a mask', () => {
    const memory = new SparseMemory();
    memory.write(0x3001n, Uint8Array.of(7), first);
    expect(memory.readPartial(0x3000n, 3)).toEqual({ bytes: Uint8Array.of(0, 7, 0), known: Uint8Array.of(0, 1, 0) });
  });
});
