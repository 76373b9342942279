/**
 * The GNU build id of a mapped file as the core itself holds it: kernels
 * dump the first page of every ELF mapping (`coredump_filter` bit 4), which
 * holds the file's ELF header, program headers and, in the files linkers
 * write today, its `.note.gnu.build-id`. Everything is read from the core's
 * memory through the file's `NT_FILE` mappings, nothing from a local file,
 * so the id says which build the crashed process ran.
 *
 * @example
 * ```ts
 * heldBuildId((at, n) => coreMemory.read(at, n), mappings, '/usr/lib/x86_64-linux-gnu/libc.so.6');
 * // '5f1c…' (lower-case hex), or undefined when the core lacks the page or the file has no id
 * ```
 */
import { ByteReader } from '../binary/byte-reader.ts';
import { readElfHeader } from './elf-header.ts';
import { gnuBuildId, walkNotes } from './notes.ts';
import { PT_NOTE, readProgramHeader } from './program-headers.ts';
import type { FileMapping } from './process-notes.ts';

/** Program headers and note bytes read at most (bounded reads of untrusted memory). */
const MAX_TABLE = 0x10000;

/**
 * The bytes at `offset` of `path` from the first of its mappings that
 * covers them and whose bytes the core holds (a file page can be mapped
 * twice: QEMU leaves out the code mapping but dumps the data mapping of the
 * same first page).
 */
function readMapped(read: (address: bigint, length: number) => Uint8Array | undefined, mappings: FileMapping[], path: string, offset: bigint, length: number): Uint8Array | undefined {
  for (const m of mappings) {
    if (m.path !== path || m.fileOffset > offset || offset + BigInt(length) > m.fileOffset + (m.end - m.start)) continue;
    const bytes = read(m.start + (offset - m.fileOffset), length);
    if (bytes) return bytes;
  }
  return undefined;
}

/**
 * The build id the core holds for `path`, or undefined when the core lacks
 * its ELF header, program headers or notes, or they name none.
 */
export function heldBuildId(read: (address: bigint, length: number) => Uint8Array | undefined, mappings: FileMapping[], path: string): string | undefined {
  const origin = (what: string, base: bigint) => ({ path, format: 'elf', base, what });
  try {
    const head = readMapped(read, mappings, path, 0n, 0x40);
    if (!head) return undefined;
    const header = readElfHeader(new ByteReader(head, origin('ELF header in the core', 0n)), 0);
    const size = header.phentsize;
    const tableLength = header.phnum * size;
    if (header.phnum === 0 || header.phnum === 0xffff || tableLength > MAX_TABLE) return undefined;
    const table = readMapped(read, mappings, path, header.phoff, tableLength);
    if (!table) return undefined;
    const reader = new ByteReader(table, origin('program header table in the core', header.phoff));
    for (let i = 0; i < header.phnum; i++) {
      const ph = readProgramHeader(reader, i * size, header.bits, i);
      if (ph.type !== PT_NOTE || ph.filesz === 0n || ph.filesz > BigInt(MAX_TABLE)) continue;
      const bytes = readMapped(read, mappings, path, ph.offset, Number(ph.filesz));
      if (!bytes) continue;
      try {
        const id = gnuBuildId(walkNotes(new ByteReader(bytes, origin(`PT_NOTE #${i} in the core`, ph.offset)), `PT_NOTE #${i}`, ph.align === 8n ? 8 : 4).notes);
        if (id !== undefined) return id;
      } catch {
        // A note segment that does not parse holds no id; the next may.
      }
    }
  } catch {
    // Bytes that do not parse hold no id the core can vouch for.
  }
  return undefined;
}
