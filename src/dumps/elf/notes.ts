/**
 * Walks the notes of a `PT_NOTE` segment: each is an `Elf_Nhdr`
 * (`n_namesz`, `n_descsz`, `n_type`, 4 bytes each in both classes) followed
 * by the name and the descriptor, each padded to the segment's alignment
 * (4 in Linux cores, whatever the class).
 *
 * Real cores are not always tidy: some kernels leave a run of zero bytes
 * after `NT_FILE` (its descriptor size is not a multiple of 4 and the next
 * note starts on a later boundary), and some write empty (0, 0, 0) notes.
 * An all-zero header is therefore taken as padding: the walk skips zero
 * words until the next note starts. Names and descriptors that run past the
 * segment are a DumpFormatError naming the note and its offset.
 *
 * @example
 * ```ts
 * const reader = file.reader(segment.offset, Number(segment.filesz), 'PT_NOTE #0');
 * for (const note of walkNotes(reader, 'PT_NOTE #0')) console.log(note.name, noteTypeName(note));
 * ```
 */
import type { ByteReader } from '../binary/byte-reader.ts';

export const NT_PRSTATUS = 1;
export const NT_PRFPREG = 2;
export const NT_PRPSINFO = 3;
export const NT_AUXV = 6;
export const NT_SIGINFO = 0x53494749;
export const NT_FILE = 0x46494c45;
export const NT_PRXFPREG = 0x46e62b7f;
export const NT_386_TLS = 0x200;
export const NT_X86_XSTATE = 0x202;
export const NT_ARM_TLS = 0x401;
export const NT_GNU_BUILD_ID = 3;

const CORE_TYPE_NAMES: Record<number, string> = {
  [NT_PRSTATUS]: 'NT_PRSTATUS', [NT_PRFPREG]: 'NT_FPREGSET', [NT_PRPSINFO]: 'NT_PRPSINFO', [NT_AUXV]: 'NT_AUXV',
  [NT_SIGINFO]: 'NT_SIGINFO', [NT_FILE]: 'NT_FILE',
};
const LINUX_TYPE_NAMES: Record<number, string> = {
  [NT_PRXFPREG]: 'NT_PRXFPREG', [NT_386_TLS]: 'NT_386_TLS', 0x201: 'NT_386_IOPERM', [NT_X86_XSTATE]: 'NT_X86_XSTATE',
  0x204: 'NT_X86_SHSTK', 0x205: 'NT_X86_XSAVE_LAYOUT',
  [NT_ARM_TLS]: 'NT_ARM_TLS', 0x402: 'NT_ARM_HW_BREAK', 0x403: 'NT_ARM_HW_WATCH', 0x404: 'NT_ARM_SYSTEM_CALL', 0x405: 'NT_ARM_SVE',
  0x406: 'NT_ARM_PAC_MASK', 0x407: 'NT_ARM_PACA_KEYS', 0x408: 'NT_ARM_PACG_KEYS', 0x409: 'NT_ARM_TAGGED_ADDR_CTRL',
  0x40a: 'NT_ARM_PAC_ENABLED_KEYS',
};

/** One note, with its descriptor as a view into the segment's bytes. */
export interface ElfNote {
  /** Position among the notes of its segment (padding skipped is not counted). */
  index: number;
  /** `CORE`, `LINUX`, `GNU`, … without the terminating NUL. */
  name: string;
  type: number;
  /** File offset of the note header. */
  offset: bigint;
  /** File offset of the descriptor. */
  descOffset: bigint;
  desc: ByteReader;
}

/** `NT_PRSTATUS`, `NT_X86_XSTATE`, or `CORE type 0x…` for a type this walker does not name. */
export function noteTypeName(note: { name: string; type: number }): string {
  const table = note.name === 'CORE' ? CORE_TYPE_NAMES : note.name === 'LINUX' ? LINUX_TYPE_NAMES : {};
  return table[note.type] ?? `${note.name || '(no name)'} type 0x${note.type.toString(16)}`;
}

/** What a walk found besides the notes: runs of zero padding, for the dump's notes. */
export interface NoteWalk {
  notes: ElfNote[];
  /** File offset and length of each run of zero bytes skipped between notes. */
  padding: { offset: bigint; length: number }[];
}

function align(value: number, to: number): number {
  return Math.ceil(value / to) * to;
}

/**
 * The notes in `reader` (the bytes of one note segment named `segment`),
 * aligned to `alignment` (4 for cores; 8 for `PT_NOTE`s with `p_align` 8).
 *
 * @example
 * ```ts
 * const { notes, padding } = walkNotes(reader, 'PT_NOTE #0');
 * notes.find((n) => n.name === 'CORE' && n.type === NT_PRSTATUS);
 * ```
 */
export function walkNotes(reader: ByteReader, segment: string, alignment = 4): NoteWalk {
  const notes: ElfNote[] = [];
  const padding: NoteWalk['padding'] = [];
  const base = reader.origin.base;
  const end = reader.length;
  let at = 0;
  while (at < end) {
    if (end - at < 12) {
      const rest = reader.slice(at, end - at, 'trailing bytes');
      if (rest.some((b) => b !== 0)) {
        throw reader.error(at, `${segment} ends with ${end - at} bytes that are too few for a note header (12)`);
      }
      padding.push({ offset: base + BigInt(at), length: end - at });
      break;
    }
    const namesz = reader.u32(at + 0x0, 'n_namesz');
    const descsz = reader.u32(at + 0x4, 'n_descsz');
    const type = reader.u32(at + 0x8, 'n_type');
    if (namesz === 0 && descsz === 0 && type === 0) {
      const start = at;
      while (at + 4 <= end && reader.u32(at, 'padding') === 0) at += 4;
      if (at + 4 > end) at = end;
      padding.push({ offset: base + BigInt(start), length: at - start });
      continue;
    }
    const label = `Note #${notes.length} (type 0x${type.toString(16)})`;
    const nameEnd = at + 12 + namesz;
    if (nameEnd > end) {
      throw reader.error(at, `${label}: its name (n_namesz ${namesz}) runs past the end of ${segment} (${end - at - 12} bytes left)`, 'bad-field');
    }
    // The descriptor starts at the next boundary after header and name (with 8-byte alignment, .note.gnu.property's
    // 12 + 4 bytes put it at 16, not at 12 + align(4, 8) = 20); with 4 both readings agree.
    const descStart = at + align(12 + namesz, alignment);
    if (descStart > end || descsz > end - descStart) {
      throw reader.error(at, `${label}: its descriptor (n_descsz 0x${descsz.toString(16)}) runs past the end of ${segment} (${Math.max(0, end - descStart)} bytes left)`, 'bad-field');
    }
    let name = reader.cString(at + 12, namesz, 'name');
    if (namesz === 0) name = '';
    const note: ElfNote = {
      index: notes.length,
      name,
      type,
      offset: base + BigInt(at),
      descOffset: base + BigInt(descStart),
      desc: reader.sub(descStart, descsz, `${noteTypeName({ name, type })} note`),
    };
    notes.push(note);
    at = descStart + align(descsz, alignment);
  }
  return { notes, padding };
}

/**
 * The GNU build id among `notes` (`NT_GNU_BUILD_ID`, name `GNU`) as
 * lower-case hex, or undefined.
 *
 * @example
 * ```ts
 * gnuBuildId(walkNotes(reader, 'PT_NOTE #2').notes); // '01df54a6045e657d3f8ffb9ce111878914f8bd6d'
 * ```
 */
export function gnuBuildId(notes: ElfNote[]): string | undefined {
  const note = notes.find((n) => n.name === 'GNU' && n.type === NT_GNU_BUILD_ID);
  return note && Array.from(note.desc.bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
