/**
 * Note walking: the quirks real cores have (zero runs after NT_FILE, empty
 * notes) and the malformed notes that must be one error naming the note and
 * the offset.
 */
import { describe, expect, it } from 'vitest';
import { ByteReader } from '../../../src/dumps/binary/byte-reader.ts';
import { noteTypeName, walkNotes } from '../../../src/dumps/elf/notes.ts';
import { DumpFormatError } from '../../../src/dumps/errors.ts';
import { concat, emptyNote, fileNote, noteBytes, prstatusX64 } from './core-builder.ts';

const BASE = 0x510n; // where the segment starts in the file

function segment(bytes: Uint8Array): ByteReader {
  return new ByteReader(bytes, { path: 'core', format: 'elf-core', base: BASE, what: 'PT_NOTE #0' });
}

function header(namesz: number, descsz: number, type: number): Uint8Array {
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  view.setUint32(0, namesz, true);
  view.setUint32(4, descsz, true);
  view.setUint32(8, type, true);
  return out;
}

describe('walkNotes', () => {
  it('puts an 8-aligned descriptor at the boundary after header and name (.note.gnu.property, as gcc writes it)', () => {
    // readelf -n on a gcc 12 x86-64 binary: PT_NOTE align 8, size 0x20: 12-byte header, "GNU\0", then the 16-byte
    // NT_GNU_PROPERTY_TYPE_0 (5) descriptor at 0x10; a build id note follows in a second, 4-aligned segment.
    const desc = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
    const bytes = concat([header(4, 16, 5), Uint8Array.of(0x47, 0x4e, 0x55, 0), desc]);
    expect(bytes.length).toBe(0x20);
    const { notes } = walkNotes(segment(bytes), 'PT_NOTE #4', 8);
    expect(notes.map((n) => [n.name, n.type, n.descOffset])).toEqual([['GNU', 5, BASE + 0x10n]]);
    expect(notes[0]!.desc.bytes).toEqual(desc);
  });

  it('walks notes with their names, types and descriptor offsets', () => {
    const first = noteBytes(prstatusX64({ pid: 1, regs: {} }));
    const bytes = concat([first, noteBytes(emptyNote('LINUX', 0x202, 0x340))]);
    const { notes, padding } = walkNotes(segment(bytes), 'PT_NOTE #0');
    expect(notes.map((n) => [n.name, noteTypeName(n), n.offset, n.descOffset, n.desc.length])).toEqual([
      ['CORE', 'NT_PRSTATUS', BASE, BASE + 20n, 0x150],
      ['LINUX', 'NT_X86_XSTATE', BASE + BigInt(first.length), BASE + BigInt(first.length) + 20n, 0x340],
    ]);
    expect(padding).toEqual([]);
  });

  it('skips a run of zeros after an NT_FILE whose size is not a multiple of 4 (rizin core-linux-x86_64: 52 bytes at 0xbfc)', () => {
    const file = fileNote(64, 0x1000n, [{ start: 0x1000n, end: 0x2000n, pageOffset: 0n, path: '/bin/odd' }]);
    expect(file.desc.length % 4).not.toBe(0);
    const bytes = concat([noteBytes({ ...file, gapAfter: 52 }), noteBytes(emptyNote('CORE', 2, 0x200))]);
    const { notes, padding } = walkNotes(segment(bytes), 'PT_NOTE #0');
    expect(notes.map((n) => noteTypeName(n))).toEqual(['NT_FILE', 'NT_FPREGSET']);
    expect(padding).toEqual([{ offset: BASE + BigInt(noteBytes(file).length), length: 52 }]);
  });

  it('takes empty (0, 0, 0) notes and trailing zeros as padding (rizin core-linux-arm64)', () => {
    const bytes = concat([noteBytes(emptyNote('CORE', 6, 16)), new Uint8Array(12), noteBytes(emptyNote('LINUX', 0x401, 8)), new Uint8Array(8)]);
    const { notes, padding } = walkNotes(segment(bytes), 'PT_NOTE #0');
    expect(notes.map((n) => noteTypeName(n))).toEqual(['NT_AUXV', 'NT_ARM_TLS']);
    expect(padding.map((p) => p.length)).toEqual([12, 8]);
  });

  it('rejects a descriptor past the segment, naming the note and offset', () => {
    const bytes = concat([noteBytes(emptyNote('CORE', 6, 16)), header(5, 0x7fff_ffff, 0x46494c45), new TextEncoder().encode('CORE\0\0\0\0')]);
    const error = (() => {
      try {
        walkNotes(segment(bytes), 'PT_NOTE #0');
      } catch (e) {
        return e as DumpFormatError;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(DumpFormatError);
    expect(error!.message).toMatch(/^Note #1 \(type 0x46494c45\): its descriptor \(n_descsz 0x7fffffff\) runs past the end of PT_NOTE #0 \(0 bytes left\)/);
    expect(error!.offset).toBe(BASE + BigInt(noteBytes(emptyNote('CORE', 6, 16)).length));
  });

  it('rejects a name past the segment and a partial header', () => {
    expect(() => walkNotes(segment(concat([header(0xffff_fff0, 0, 1), new Uint8Array(4)])), 'PT_NOTE #0')).toThrow(/its name \(n_namesz 4294967280\) runs past the end of PT_NOTE #0 .*offset 0x510/);
    expect(() => walkNotes(segment(concat([noteBytes(emptyNote('CORE', 6, 4)), Uint8Array.of(5, 0, 0, 0, 1, 0)])), 'PT_NOTE #0')).toThrow(/ends with 6 bytes that are too few for a note header/);
  });

  it('walks a large run of notes in bounded time', () => {
    const many = concat(Array.from({ length: 20_000 }, () => noteBytes(emptyNote('CORE', 2, 4))));
    const started = performance.now();
    expect(walkNotes(segment(many), 'PT_NOTE #0').notes).toHaveLength(20_000);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
