/**
 * Raw memory images as a dump: files placed at addresses (`code.bin@0x401000`)
 * plus a register state. Files are opened read-only and read on demand.
 *
 * @example
 * ```ts
 * const dump = openRawImages('x64', [parseImageSpec('code.bin@0x401000')], { rip: 0x401000n });
 * ```
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { openRegularFile } from '../binary/regular-file.ts';
import type { Arch, RegisterValues } from '../../../emu/registers.ts';
import type { Dump, MemoryRange, MemoryView, Provenance, SymbolTable } from '../model.ts';
import { InputError } from '../../errors.ts';
import { parseAddress } from '../../parse.ts';
import { formatAddress } from '../../format.ts';

/** One image: a file, where it goes, and how many bytes it has. */
export interface RawImage {
  path: string;
  address: bigint;
  size: number;
}

/** Parses `FILE@ADDR`; the file must exist and be readable. */
export function parseImageSpec(spec: string): RawImage {
  const at = spec.lastIndexOf('@');
  if (at <= 0) throw new InputError(`Image '${spec}' must be FILE@ADDRESS, e.g. code.bin@0x401000`);
  const path = spec.slice(0, at);
  const address = parseAddress(spec.slice(at + 1), `address of image ${path}`);
  let fd: number;
  let size: number;
  try {
    ({ fd, size } = openRegularFile(path, 'image'));
  } catch (error) {
    // A directory, FIFO or device is refused before it is read (a FIFO would block).
    const message = (error as Error).message.replace(/^Cannot open the file \((\w+)\)$/, '$1');
    throw new InputError(`Cannot open image ${path}: ${message}`);
  }
  try {
    if (size === 0) throw new InputError(`Image ${path} is empty`);
    return { path, address, size };
  } finally {
    closeSync(fd);
  }
}

/** Memory made of non-overlapping images, read from their files when touched. */
export class RawImagesMemory implements MemoryView {
  private readonly images: RawImage[];
  private readonly cache = new Map<string, Buffer>();

  constructor(images: RawImage[], arch: Arch) {
    this.images = [...images].sort((a, b) => (a.address < b.address ? -1 : 1));
    for (let i = 1; i < this.images.length; i++) {
      const prev = this.images[i - 1]!;
      const cur = this.images[i]!;
      if (cur.address < prev.address + BigInt(prev.size)) {
        throw new InputError(
          `Images overlap: ${prev.path} covers ${formatAddress(arch, prev.address)}..${formatAddress(arch, prev.address + BigInt(prev.size))} and ${cur.path} starts at ${formatAddress(arch, cur.address)}`,
        );
      }
    }
  }

  private contents(image: RawImage): Buffer {
    let bytes = this.cache.get(image.path);
    if (!bytes) {
      const fd = openSync(image.path, 'r');
      try {
        bytes = Buffer.alloc(image.size);
        readSync(fd, bytes, 0, image.size, 0);
      } finally {
        closeSync(fd);
      }
      this.cache.set(image.path, bytes);
    }
    return bytes;
  }

  private imageAt(address: bigint): RawImage | undefined {
    return this.images.find((i) => address >= i.address && address < i.address + BigInt(i.size));
  }

  read(address: bigint, length: number): Uint8Array | undefined {
    const image = this.imageAt(address);
    if (!image || address + BigInt(length) > image.address + BigInt(image.size)) return undefined;
    const offset = Number(address - image.address);
    return new Uint8Array(this.contents(image).subarray(offset, offset + length));
  }

  readPartial(address: bigint, length: number): { bytes: Uint8Array; known: Uint8Array } {
    const bytes = new Uint8Array(length);
    const known = new Uint8Array(length);
    const end = address + BigInt(length);
    for (const image of this.images) {
      const start = image.address > address ? image.address : address;
      const stop = image.address + BigInt(image.size) < end ? image.address + BigInt(image.size) : end;
      if (start >= stop) continue;
      const from = Number(start - image.address);
      const to = Number(stop - image.address);
      bytes.set(this.contents(image).subarray(from, to), Number(start - address));
      known.fill(1, Number(start - address), Number(stop - address));
    }
    return { bytes, known };
  }

  provenanceOf(address: bigint): Provenance | undefined {
    const image = this.imageAt(address);
    return image ? { source: image.path, offset: address - image.address } : undefined;
  }

  ranges(): MemoryRange[] {
    return this.images.map((i) => ({ start: i.address, end: i.address + BigInt(i.size), provenance: { source: i.path, offset: 0n } }));
  }
}

const NO_SYMBOLS: SymbolTable = {
  lookup: () => undefined,
  resolve: () => undefined,
  format: (address) => address.toString(16),
  size: 0,
};

/** A dump made of raw images and one register state. */
export function openRawImages(arch: Arch, images: RawImage[], registers: RegisterValues, symbols: SymbolTable = NO_SYMBOLS): Dump {
  return {
    format: 'raw',
    path: images.map((i) => `${i.path}@${i.address.toString(16)}`).join(' '),
    arch,
    threads: [{ id: 0, contexts: [{ kind: 'context', label: 'registers given', registers, provenance: { source: 'command line' } }] }],
    modules: [],
    symbols,
    memory: new RawImagesMemory(images, arch),
    notes: [],
  };
}
