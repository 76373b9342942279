/**
 * Finds the DWARF CFI (`.eh_frame`, through `.eh_frame_hdr`'s sorted search
 * table) of an ELF image from the image as the dump's memory holds it: the
 * ELF header and program headers at the image's base lead to
 * `PT_GNU_EH_FRAME`. Nothing here knows a dump format: the memory may be a
 * core's, a minidump's, or module files filled in behind the dump.
 *
 * @example
 * ```ts
 * const tables = elfUnwindTables(dump.memory, 0x7f12_3400_0000n, 'libc.so.6');
 * tables?.find(pc); // the FDE that covers pc, or undefined
 * ```
 */
import { readFde, sectionFdes, type ByteSource, type Cie, type Fde } from './dwarf-cfi.ts';
import { CfiError, DwarfCursor, DW_EH_PE_omit } from './dwarf-reader.ts';
import { ElfImage } from '../dumps/elf/elf-image.ts';

const PT_LOAD = 1;
const PT_GNU_EH_FRAME = 0x6474e550;
/** Program headers read at most (real images have about a dozen). */
const MAX_PHNUM = 256;
/** FDEs a linear search of `.eh_frame` reads at most, when there is no search table. */
const MAX_LINEAR_FDES = 200_000;

/** The CFI of one loaded ELF image. */
export interface UnwindTables {
  /** `libc.so.6 .eh_frame`: for notes and the frames' `unwindSource`. */
  readonly source: string;
  /** The FDE covering `pc`, undefined when none does; a `CfiError` when the table is malformed. */
  find(pc: bigint): Fde | undefined;
}

function u(bytes: Uint8Array, at: number, size: number): bigint {
  let value = 0n;
  for (let i = size - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[at + i]!);
  return value;
}

/** The load bias and `PT_GNU_EH_FRAME` address of the ELF image at `base`, read from memory. */
function ehFrameHeader(memory: ByteSource, base: bigint): { hdr: bigint; wordSize: 4 | 8 } | undefined {
  const ident = memory.read(base, 0x40);
  if (!ident || ident[0] !== 0x7f || ident[1] !== 0x45 || ident[2] !== 0x4c || ident[3] !== 0x46) return undefined;
  const wide = ident[4] === 2;
  const phoff = wide ? u(ident, 0x20, 8) : u(ident, 0x1c, 4);
  const phentsize = Number(wide ? u(ident, 0x36, 2) : u(ident, 0x2a, 2));
  const phnum = Number(wide ? u(ident, 0x38, 2) : u(ident, 0x2c, 2));
  if (phnum === 0 || phnum > MAX_PHNUM || phentsize < (wide ? 0x38 : 0x20)) throw new CfiError(`The ELF header at 0x${base.toString(16)} has ${phnum} program headers of ${phentsize} bytes`);
  const table = memory.read(base + phoff, phnum * phentsize);
  if (!table) return undefined;
  let lowestLoad: bigint | undefined;
  let ehFrame: bigint | undefined;
  for (let i = 0; i < phnum; i++) {
    const at = i * phentsize;
    const type = Number(u(table, at, 4));
    const vaddr = wide ? u(table, at + 0x10, 8) : u(table, at + 0x08, 4);
    if (type === PT_LOAD && (lowestLoad === undefined || vaddr < lowestLoad)) lowestLoad = vaddr;
    if (type === PT_GNU_EH_FRAME) ehFrame = vaddr;
  }
  if (ehFrame === undefined || lowestLoad === undefined) return undefined;
  // The image's first PT_LOAD maps the header page: its page is at `base`.
  const bias = base - (lowestLoad & ~0xfffn);
  return { hdr: ehFrame + bias, wordSize: wide ? 8 : 4 };
}

/**
 * The `.eh_frame` of the ELF image whose header is at `base` in `memory`,
 * or undefined when the memory holds no ELF header there or the image has
 * no `PT_GNU_EH_FRAME`. A malformed header or table is a `CfiError`.
 */
export function elfUnwindTables(memory: ByteSource, base: bigint, name: string): UnwindTables | undefined {
  const found = ehFrameHeader(memory, base);
  if (!found) return undefined;
  const { hdr, wordSize } = found;
  const head = memory.read(hdr, 4);
  if (!head) throw new CfiError(`The .eh_frame_hdr of ${name} is not in the dump`, hdr);
  if (head[0] !== 1) throw new CfiError(`The .eh_frame_hdr of ${name} has version ${head[0]}, not 1`, hdr);
  const [, framePtrEnc, countEnc, tableEnc] = head as unknown as [number, number, number, number];
  const rest = memory.read(hdr + 4n, 16);
  if (!rest) throw new CfiError(`The .eh_frame_hdr of ${name} is truncated`, hdr);
  const c = new DwarfCursor(rest, hdr + 4n, wordSize);
  const bases = { data: hdr };
  const ehFrame = c.encoded(framePtrEnc, bases);
  const source = `${name} .eh_frame`;
  const cies = new Map<bigint, Cie>();
  const entrySize = DwarfCursor.formatSize(tableEnc, wordSize);
  if (countEnc !== DW_EH_PE_omit && tableEnc !== DW_EH_PE_omit && entrySize !== undefined) {
    const count = Number(c.encoded(countEnc, bases));
    const tableAt = c.at;
    if (count > 10_000_000) throw new CfiError(`The .eh_frame_hdr of ${name} claims ${count} FDEs`, hdr);
    const entry = (i: number): { start: bigint; fde: bigint } => {
      const at = tableAt + BigInt(i * entrySize * 2);
      const bytes = memory.read(at, entrySize * 2);
      if (!bytes) throw new CfiError(`The .eh_frame_hdr search table of ${name} is not in the dump`, at);
      const e = new DwarfCursor(bytes, at, wordSize);
      return { start: e.encoded(tableEnc, bases), fde: e.encoded(tableEnc, bases) };
    };
    return {
      source,
      find(pc) {
        let low = 0;
        let high = count - 1;
        let best: { start: bigint; fde: bigint } | undefined;
        while (low <= high) {
          const mid = (low + high) >> 1;
          const e = entry(mid);
          if (e.start <= pc) {
            best = e;
            low = mid + 1;
          } else high = mid - 1;
        }
        if (!best) return undefined;
        const fde = readFde(memory, best.fde, 'eh_frame', wordSize, 0n, cies);
        return pc >= fde.start && pc < fde.end ? fde : undefined;
      },
    };
  }
  // No search table: walk .eh_frame itself (its end is its terminator).
  return {
    source,
    find(pc) {
      let n = 0;
      for (const fde of sectionFdes(memory, ehFrame, ehFrame + (1n << 40n), 'eh_frame', wordSize)) {
        if (pc >= fde.start && pc < fde.end) return fde;
        if (++n > MAX_LINEAR_FDES) throw new CfiError(`The .eh_frame of ${name} has more than ${MAX_LINEAR_FDES} FDEs and no search table`, ehFrame);
      }
      return undefined;
    },
  };
}

/**
 * The `.eh_frame` of the ELF image at `base` found through its file's section
 * headers, for images that map no `PT_GNU_EH_FRAME` (static executables
 * linked without `--eh-frame-hdr`). The section is read from `memory` (the
 * dump, or the file's pages filled into it); its FDEs are indexed once, on
 * the first lookup. Undefined when the file cannot be read or has no
 * `.eh_frame`.
 */
export function elfSectionUnwindTables(memory: ByteSource, base: bigint, name: string, path: string): UnwindTables | undefined {
  let image: ElfImage;
  try {
    image = ElfImage.open(path);
  } catch {
    return undefined;
  }
  let start: bigint;
  let end: bigint;
  let wordSize: 4 | 8;
  try {
    const section = image.section('.eh_frame');
    const loads = image.loads();
    if (!section || section.size === 0n || loads.length === 0) return undefined;
    const lowest = loads.reduce((low, h) => (h.vaddr < low ? h.vaddr : low), loads[0]!.vaddr);
    start = section.addr + (base - (lowest & ~0xfffn));
    end = start + section.size;
    wordSize = image.header.bits === 64 ? 8 : 4;
  } catch {
    return undefined;
  } finally {
    image.close();
  }
  let index: Fde[] | undefined;
  let broken: unknown;
  return {
    source: `${name} .eh_frame`,
    find(pc) {
      // Indexed once; a malformed section fails every lookup the same way without being walked again.
      if (broken !== undefined) throw broken;
      try {
        index ??= [...sectionFdes(memory, start, end, 'eh_frame', wordSize)].filter((f) => f.end > f.start).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
      } catch (error) {
        broken = error;
        throw error;
      }
      let low = 0;
      let high = index.length - 1;
      let best: Fde | undefined;
      while (low <= high) {
        const mid = (low + high) >> 1;
        if (index[mid]!.start <= pc) {
          best = index[mid];
          low = mid + 1;
        } else high = mid - 1;
      }
      return best && pc < best.end ? best : undefined;
    },
  };
}
