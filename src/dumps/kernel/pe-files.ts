/**
 * `--binary` and `--sysroot` for kernel dumps: the module files are PE
 * images (ntoskrnl.exe, hal.dll, drivers), matched to the dump's modules by
 * file name (a module at `\SystemRoot\system32\drivers\foo.sys` is looked
 * for as `foo.sys` among `--binary` files and at
 * `<sysroot>/Windows/system32/drivers/foo.sys`, names compared without
 * case). A file is used only when its SizeOfImage is the module's and, where
 * the dump holds the module's PE header, its TimeDateStamp is the header's;
 * and not when most of the code bytes the dump holds differ from it.
 *
 * A used file gives the module its headers and read-only sections where the
 * dump lacks them (a kernel summary dump leaves out much code, a triage dump
 * nearly all), relocated to the module's base with the file's base
 * relocations (IMAGE_REL_BASED_HIGHLOW, DIR64), and its export names. The
 * dump's own bytes always win; each filled byte's provenance names the file.
 *
 * PE facts: e_lfanew 0x3c; IMAGE_FILE_HEADER (after 'PE\0\0'):
 * NumberOfSections +0x2, TimeDateStamp +0x4, SizeOfOptionalHeader +0x10;
 * optional header: Magic 0x0, ImageBase 0x18 (PE32+, u64) / 0x1c (PE32),
 * SizeOfImage 0x38, SizeOfHeaders 0x3c, data directories at 0x70 / 0x60
 * (5: base relocations); IMAGE_SECTION_HEADER (0x28 bytes): VirtualSize
 * 0x8, VirtualAddress 0xc, SizeOfRawData 0x10, PointerToRawData 0x14,
 * Characteristics 0x24 (0x80000000 writable).
 *
 * @example
 * ```ts
 * const dump = withPeModuleFiles(openKernelDump('MEMORY.DMP'), { binaries: ['ntoskrnl.exe'] });
 * dump.memory.provenanceOf(ntBase + 0x1000n); // { source: 'ntoskrnl.exe', offset: 0x400n }
 * ```
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { FileSource } from '../binary/file-source.ts';
import { DumpFormatError } from '../errors.ts';
import { LayeredMemory, type PartialMemoryView } from '../layered-memory.ts';
import { layeredSymbols } from '../layered-symbols.ts';
import type { Dump, DumpModule, DumpNote, FileOrigin, FileUse, MemoryRange, MemoryView, Provenance } from '../model.ts';
import { SymbolIndex } from '../symbol-table.ts';
import { hexOf } from './address.ts';
import { readPeExports } from './pe-exports.ts';
import { debugIdentifier } from '../minidump/codeview.ts';

const WRITABLE = 0x8000_0000;
/** Sections of a PE image at most. */
const MAX_SECTIONS = 96;
/** Bytes compared between a file and the dump. */
const COMPARED_BYTES = 0x40000;

interface Section {
  rva: number;
  /** Bytes the file holds for it (the rest of VirtualSize is zero). */
  size: number;
  virtualSize: number;
  fileOffset: number;
  writable: boolean;
}

/** A PE image file placed at a module's base. */
export class PeImage implements PartialMemoryView {
  private constructor(
    readonly path: string,
    private readonly file: FileSource,
    readonly base: bigint,
    readonly sizeOfImage: number,
    readonly imageBase: bigint,
    readonly timeDateStamp: number,
    /** Read-only pieces (headers and non-writable sections), sorted by rva. */
    private readonly pieces: Section[],
    /** Relocation rvas and widths (4 or 8), sorted. */
    private readonly relocations: { rva: number; width: 4 | 8 }[],
  ) {}

  /** Opens `path` as a PE file to be placed at `base`; throws DumpFormatError for a file that is not one. */
  static open(path: string, base: bigint): PeImage {
    const file = FileSource.open(path, 'pe');
    try {
      return PeImage.read(file, base);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  private static read(file: FileSource, base: bigint): PeImage {
    const dos = file.reader(0n, 0x40, 'IMAGE_DOS_HEADER');
    if (dos.u16(0, 'e_magic') !== 0x5a4d) throw dos.error(0, 'Not a PE file (no MZ)', 'bad-magic');
    const lfanew = dos.u32(0x3c, 'e_lfanew');
    const nt = file.reader(BigInt(lfanew), Number(file.size - BigInt(lfanew) < 0x108n ? 0x88n : 0x108n), 'IMAGE_NT_HEADERS');
    if (nt.u32(0, 'Signature') !== 0x4550) throw nt.error(0, 'Not a PE file (no PE signature)', 'bad-magic');
    const sections = nt.u16(0x6, 'NumberOfSections');
    const timeDateStamp = nt.u32(0x8, 'TimeDateStamp');
    const optionalSize = nt.u16(0x14, 'SizeOfOptionalHeader');
    if (sections > MAX_SECTIONS) throw nt.error(0x6, `NumberOfSections ${sections} is more than ${MAX_SECTIONS}`);
    const o = 0x18;
    const magic = nt.u16(o, 'Magic');
    if (magic !== 0x10b && magic !== 0x20b) throw nt.error(o, `Optional header Magic ${hexOf(magic)} is not PE32 or PE32+`, 'bad-magic');
    const plus = magic === 0x20b;
    const imageBase = plus ? nt.u64(o + 0x18, 'ImageBase') : BigInt(nt.u32(o + 0x1c, 'ImageBase'));
    const sizeOfImage = nt.u32(o + 0x38, 'SizeOfImage');
    const sizeOfHeaders = nt.u32(o + 0x3c, 'SizeOfHeaders');
    const relocDir = o + (plus ? 0x70 : 0x60) + 5 * 8;
    const table = file.reader(BigInt(lfanew + o + optionalSize), sections * 0x28, 'IMAGE_SECTION_HEADER table');
    const pieces: Section[] = [{ rva: 0, size: Math.min(sizeOfHeaders, Number(file.size)), virtualSize: sizeOfHeaders, fileOffset: 0, writable: false }];
    for (let i = 0; i < sections; i++) {
      const at = i * 0x28;
      const virtualSize = table.u32(at + 0x8, 'VirtualSize');
      const rva = table.u32(at + 0xc, 'VirtualAddress');
      const raw = table.u32(at + 0x10, 'SizeOfRawData');
      const fileOffset = table.u32(at + 0x14, 'PointerToRawData');
      const characteristics = table.u32(at + 0x24, 'Characteristics');
      if (BigInt(fileOffset) + BigInt(raw) > file.size) throw table.error(at + 0x10, `Section ${i} (${hexOf(fileOffset)}+${hexOf(raw)}) runs past the end of the file (${file.size} bytes)`);
      if (rva + Math.max(virtualSize, raw) > sizeOfImage) throw table.error(at + 0xc, `Section ${i} at rva ${hexOf(rva)} lies past SizeOfImage ${hexOf(sizeOfImage)}`);
      pieces.push({ rva, size: Math.min(raw, virtualSize || raw), virtualSize: virtualSize || raw, fileOffset, writable: (characteristics & WRITABLE) !== 0 });
    }
    pieces.sort((a, b) => a.rva - b.rva);
    const image = new PeImage(file.path, file, base, sizeOfImage, imageBase, timeDateStamp, pieces.filter((p) => !p.writable), []);
    if (base !== imageBase && nt.length >= relocDir + 8 && optionalSize >= relocDir + 8 - o) {
      const rva = nt.u32(relocDir, 'BaseRelocationTable.VirtualAddress');
      const size = nt.u32(relocDir + 4, 'BaseRelocationTable.Size');
      if (rva && size) image.relocations.push(...readRelocations(image.sectionBytes(pieces, rva, size), sizeOfImage));
    }
    const debugDir = o + (plus ? 0x70 : 0x60) + 6 * 8;
    if (nt.length >= debugDir + 8 && optionalSize >= debugDir + 8 - o) {
      const rva = nt.u32(debugDir, 'Debug.VirtualAddress');
      const size = nt.u32(debugDir + 4, 'Debug.Size');
      if (rva && size && size <= 0x1c * 32) image.codeView = readCodeViewId(file, image.sectionBytes(pieces, rva, size));
    }
    return image;
  }

  /** `size` bytes at `rva` from whichever section holds them (relocations live in a discardable, sometimes writable, section). */
  private sectionBytes(all: Section[], rva: number, size: number): Uint8Array {
    const section = all.find((s) => rva >= s.rva && rva + size <= s.rva + s.virtualSize && rva + size <= s.rva + s.size);
    if (!section) return new Uint8Array();
    return this.file.read(BigInt(section.fileOffset + (rva - section.rva)), size, 'base relocations');
  }

  get delta(): bigint {
    return this.base - this.imageBase;
  }

  readPartial(address: bigint, length: number): { bytes: Uint8Array; known: Uint8Array } {
    const bytes = new Uint8Array(length);
    const known = new Uint8Array(length);
    const start = address - this.base;
    if (start + BigInt(length) <= 0n || start >= BigInt(this.sizeOfImage)) return { bytes, known };
    for (const p of this.pieces) {
      const from = Math.max(Number(start < 0n ? 0n : start), p.rva);
      const to = Math.min(Number(start) + length, p.rva + p.virtualSize);
      if (from >= to) continue;
      const at = from - Number(start);
      const fromFile = Math.min(to, p.rva + p.size);
      if (fromFile > from) bytes.set(this.file.read(BigInt(p.fileOffset + (from - p.rva)), fromFile - from, `${this.path} at rva ${hexOf(from)}`), at);
      known.fill(1, at, at + (to - from));
    }
    this.relocate(Number(start), bytes);
    return { bytes, known };
  }

  /** Adds the load delta to every relocated word overlapping [start, start + bytes.length). */
  private relocate(start: number, bytes: Uint8Array): void {
    if (this.delta === 0n || this.relocations.length === 0) return;
    const end = start + bytes.length;
    let low = 0;
    let high = this.relocations.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.relocations[mid]!.rva + 8 <= start) low = mid + 1;
      else high = mid;
    }
    for (let i = low; i < this.relocations.length && this.relocations[i]!.rva < end; i++) {
      const { rva, width } = this.relocations[i]!;
      if (rva + width <= start) continue;
      const word = new Uint8Array(8);
      for (let k = 0; k < width; k++) {
        const at = rva + k - start;
        word[k] = at >= 0 && at < bytes.length ? bytes[at]! : this.rawByte(rva + k);
      }
      const view = new DataView(word.buffer);
      if (width === 8) view.setBigUint64(0, BigInt.asUintN(64, view.getBigUint64(0, true) + this.delta), true);
      else view.setUint32(0, Number(BigInt.asUintN(32, BigInt(view.getUint32(0, true)) + this.delta)), true);
      for (let k = 0; k < width; k++) {
        const at = rva + k - start;
        if (at >= 0 && at < bytes.length) bytes[at] = word[k]!;
      }
    }
  }

  private rawByte(rva: number): number {
    const p = this.pieces.find((s) => rva >= s.rva && rva < s.rva + s.size);
    return p ? this.file.read(BigInt(p.fileOffset + (rva - p.rva)), 1, this.path)[0]! : 0;
  }

  read(address: bigint, length: number): Uint8Array | undefined {
    const { bytes, known } = this.readPartial(address, length);
    return known.every((k) => k === 1) ? bytes : undefined;
  }

  /** What showed the file to be the module's build: set when it is used. */
  checkedBy: FileOrigin['checkedBy'] = 'PE stamp';
  /** Its CodeView PDB 7.0 GUID and age as minidumps print them (`5A98…FF1`), when its debug directory has one. */
  codeView?: string;

  get origin(): FileOrigin {
    return { path: this.path, checkedBy: this.checkedBy };
  }

  provenanceOf(address: bigint): Provenance | undefined {
    const rva = Number(address - this.base);
    if (address < this.base || rva >= this.sizeOfImage) return undefined;
    const p = this.pieces.find((s) => rva >= s.rva && rva < s.rva + s.virtualSize);
    return p && { source: this.path, offset: BigInt(p.fileOffset + Math.min(rva - p.rva, p.size)), file: this.origin };
  }

  ranges(): MemoryRange[] {
    return this.pieces.map((p) => ({ start: this.base + BigInt(p.rva), end: this.base + BigInt(p.rva + p.virtualSize), kind: p.rva === 0 ? 'data' : 'code', provenance: { source: this.path, offset: BigInt(p.fileOffset), file: this.origin } }));
  }

  close(): void {
    this.file.close();
  }
}

/** IMAGE_BASE_RELOCATION blocks: VirtualAddress, SizeOfBlock, then u16 entries (type << 12 | offset). */
function readRelocations(bytes: Uint8Array, sizeOfImage: number): { rva: number; width: 4 | 8 }[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: { rva: number; width: 4 | 8 }[] = [];
  for (let at = 0; at + 8 <= bytes.length;) {
    const page = view.getUint32(at, true);
    const size = view.getUint32(at + 4, true);
    if (size < 8 || at + size > bytes.length) break;
    for (let e = at + 8; e + 2 <= at + size; e += 2) {
      const entry = view.getUint16(e, true);
      const type = entry >> 12;
      const rva = page + (entry & 0xfff);
      if (rva >= sizeOfImage) continue;
      if (type === 3) out.push({ rva, width: 4 });
      else if (type === 10) out.push({ rva, width: 8 });
    }
    at += size;
  }
  return out.sort((a, b) => a.rva - b.rva);
}

/** Several images, each in its own range. */
class ImagesMemory implements PartialMemoryView {
  constructor(private readonly images: PeImage[]) {}
  private at(address: bigint): PeImage | undefined {
    return this.images.find((i) => address >= i.base && address < i.base + BigInt(i.sizeOfImage));
  }
  readPartial(address: bigint, length: number): { bytes: Uint8Array; known: Uint8Array } {
    const bytes = new Uint8Array(length);
    const known = new Uint8Array(length);
    for (const image of this.images) {
      if (image.base >= address + BigInt(length) || image.base + BigInt(image.sizeOfImage) <= address) continue;
      const part = image.readPartial(address, length);
      for (let i = 0; i < length; i++) if (part.known[i]) { bytes[i] = part.bytes[i]!; known[i] = 1; }
    }
    return { bytes, known };
  }
  read(address: bigint, length: number): Uint8Array | undefined {
    const { bytes, known } = this.readPartial(address, length);
    return known.every((k) => k === 1) ? bytes : undefined;
  }
  provenanceOf(address: bigint): Provenance | undefined {
    return this.at(address)?.provenanceOf(address);
  }
  ranges(): MemoryRange[] {
    return this.images.flatMap((i) => i.ranges()).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  }
}

/** `dir/parts…` with every part matched without case, or undefined. */
function findNoCase(dir: string, parts: string[]): string | undefined {
  let at = dir;
  for (const part of parts) {
    if (!existsSync(join(at, part))) {
      let names: string[];
      try {
        names = readdirSync(at);
      } catch {
        return undefined;
      }
      const found = names.find((n) => n.toLowerCase() === part.toLowerCase());
      if (!found) return undefined;
      at = join(at, found);
    } else {
      at = join(at, part);
    }
  }
  return at;
}

/** Where a module's file would be under `sysroot`: `\SystemRoot\x` → `Windows/x`, `\??\C:\x` → `x`. */
function sysrootPath(sysroot: string, path: string): string | undefined {
  const parts = path.replace(/^\\SystemRoot\\/i, 'Windows\\').replace(/^\\\?\?\\[A-Za-z]:\\/, '').replace(/^[A-Za-z]:\\/, '').split('\\').filter(Boolean);
  return parts.length ? findNoCase(sysroot, parts) : undefined;
}

function fileName(module: DumpModule): string {
  return (module.path ?? module.name).split(/[\\/]/).pop()!.toLowerCase();
}

/** How many held code bytes differ from the file's (up to COMPARED_BYTES). */
function disagreement(image: PeImage, memory: PartialMemoryView): { compared: number; differing: number } {
  let compared = 0;
  let differing = 0;
  for (const range of image.ranges()) {
    for (let at = range.start; at < range.end && compared < COMPARED_BYTES; at += 0x1000n) {
      const length = Number(range.end - at < 0x1000n ? range.end - at : 0x1000n);
      const held = memory.readPartial(at, length);
      if (!held.known.includes(1)) continue;
      const file = image.readPartial(at, length);
      for (let i = 0; i < length; i++) {
        if (!held.known[i] || !file.known[i]) continue;
        compared++;
        if (held.bytes[i] !== file.bytes[i]) differing++;
      }
    }
  }
  return { compared, differing };
}

/**
 * `dump` with the PE files `options` names matched to its modules (see the
 * file comment); the same dump when none matches. The result's `close()`
 * closes the files and then the dump.
 */
export function withPeModuleFiles(dump: Dump & { close(): void }, options: { binaries?: string[]; sysroot?: string }): Dump & { close(): void } {
  if (!options.binaries?.length && !options.sysroot) return dump;
  const notes: DumpNote[] = dump.notes;
  const memory = dump.memory as PartialMemoryView;
  const images: PeImage[] = [];
  const used = new Set<string>();
  const uses: FileUse[] = [];
  for (const module of dump.modules) {
    const name = fileName(module);
    const candidates = (options.binaries ?? []).filter((b) => basename(b).toLowerCase() === name);
    const fromSysroot = options.sysroot && module.path ? sysrootPath(options.sysroot, module.path) : undefined;
    if (fromSysroot) candidates.push(fromSysroot);
    for (const path of candidates) {
      let image: PeImage;
      try {
        image = PeImage.open(path, module.base);
      } catch (error) {
        if (!(error instanceof DumpFormatError)) throw error;
        notes.push({ level: 'warning', message: `${path} is not used for ${module.name}: ${error.message}` });
        continue;
      }
      used.add(path);
      const why = reject(image, module, memory);
      if (why) {
        const message = `${path} is not the ${module.name} the dump ran: ${why}; not used`;
        notes.push({ level: 'warning', message });
        uses.push({ file: path, for: module.name, used: false, message });
        image.close();
        continue;
      }
      const message = `${path} gives ${module.name} at ${hexOf(module.base)} its headers, read-only sections${image.delta ? ' (relocated)' : ''} and exports where the dump lacks them: ${image.checkedBy === 'CodeView' ? `its CodeView GUID and age ${image.codeView} are the dump's` : image.checkedBy === 'PE stamp' ? `SizeOfImage ${hexOf(image.sizeOfImage)} and TimeDateStamp ${hexOf(image.timeDateStamp)} are the module's` : `SizeOfImage ${hexOf(image.sizeOfImage)} is the module's and the code bytes the dump holds agree`}`;
      notes.push({ level: 'info', message });
      uses.push({ file: path, for: module.name, used: true, message });
      images.push(image);
      break;
    }
  }
  for (const b of options.binaries ?? []) {
    if (!used.has(b)) notes.push({ level: 'warning', message: `--binary ${b} matches no module of the dump by file name; not used` });
  }
  dump.files = [...(dump.files ?? []), ...uses];
  if (images.length === 0) return dump;
  const files = new ImagesMemory(images);
  const closeDump = dump.close.bind(dump);
  return {
    ...dump,
    memory: new LayeredMemory(memory, files),
    symbols: layeredSymbols(dump.symbols, () => {
      const index = new SymbolIndex({ arch: dump.arch });
      for (const image of images) {
        const module = dump.modules.find((m) => m.base === image.base)!;
        for (const e of readPeExports(files, image.base, BigInt(image.sizeOfImage))) index.add(module.name, e.name, e.address, undefined, { source: image.path });
      }
      return index;
    }, dump.arch),
    close: () => {
      for (const image of images) image.close();
      closeDump();
    },
  };
}

/**
 * The GUID and age of the CodeView 'RSDS' record among the
 * IMAGE_DEBUG_DIRECTORY entries in `directory` (0x1c bytes each: Type 0xc,
 * SizeOfData 0x10, PointerToRawData 0x18; type 2 is CODEVIEW), or
 * undefined.
 */
function readCodeViewId(file: FileSource, directory: Uint8Array): string | undefined {
  const view = new DataView(directory.buffer, directory.byteOffset, directory.byteLength);
  for (let at = 0; at + 0x1c <= directory.length; at += 0x1c) {
    if (view.getUint32(at + 0xc, true) !== 2) continue;
    const size = view.getUint32(at + 0x10, true);
    const offset = BigInt(view.getUint32(at + 0x18, true));
    if (size < 0x18 || offset + 0x18n > file.size) continue;
    const record = file.read(offset, 0x18, 'CodeView record');
    const r = new DataView(record.buffer, record.byteOffset, record.byteLength);
    if (r.getUint32(0, true) !== 0x53445352) continue; // 'RSDS'
    return debugIdentifier({ kind: 'pdb70', guid: record.slice(4, 20), age: r.getUint32(20, true), pdbFileName: '' });
  }
  return undefined;
}

/** The module's TimeDateStamp as the dump records it: its PE header's, else its loader entry's (a minidump's module record). */
function heldStamp(module: DumpModule & { timeDateStamp?: number; timestamp?: number }, memory: PartialMemoryView): { stamp: number; where: string } | undefined {
  const lfanew = memory.read(module.base + 0x3cn, 4);
  if (lfanew) {
    const stamp = memory.read(module.base + BigInt(new DataView(lfanew.buffer, lfanew.byteOffset, 4).getUint32(0, true)) + 8n, 4);
    if (stamp) return { stamp: new DataView(stamp.buffer, stamp.byteOffset, 4).getUint32(0, true), where: "module's header in the dump" };
  }
  if (module.timeDateStamp) return { stamp: module.timeDateStamp, where: "module's loader entry" };
  return module.timestamp ? { stamp: module.timestamp, where: "module's record in the dump" } : undefined;
}

/**
 * Why `image` is not `module`, or undefined when it is shown to be: its
 * SizeOfImage is the module's, and its TimeDateStamp is the one the dump
 * records (header, else loader entry) or, where it records none, the code
 * bytes the dump holds agree with it.
 */
function reject(image: PeImage, module: DumpModule & { debugIdentifier?: string }, memory: PartialMemoryView): string | undefined {
  if (BigInt(image.sizeOfImage) !== module.size) return `its SizeOfImage ${hexOf(image.sizeOfImage)} is not the module's ${hexOf(module.size)}`;
  // A minidump's CodeView record names the build exactly (PDB GUID and age), as a build id does.
  const cv = module.debugIdentifier !== undefined && /^[0-9A-F]{33,40}$/.test(module.debugIdentifier) ? module.debugIdentifier : undefined;
  if (cv && image.codeView !== undefined && image.codeView !== cv) return `its CodeView GUID and age ${image.codeView} ≠ dump's ${cv}`;
  const held = heldStamp(module, memory);
  if (held && held.stamp !== image.timeDateStamp) return `its TimeDateStamp ${hexOf(image.timeDateStamp)} is not the ${hexOf(held.stamp)} of the ${held.where}`;
  const { compared, differing } = disagreement(image, memory);
  if (differing > Math.max(16, compared / 8)) return `${differing} of the ${compared} code bytes the dump holds differ from the file's`;
  if (!held && compared === 0 && !(cv && image.codeView === cv)) return 'the dump records no TimeDateStamp for the module and holds none of its code to check it against';
  image.checkedBy = cv && image.codeView === cv ? 'CodeView' : held ? 'PE stamp' : 'bytes';
  return undefined;
}
