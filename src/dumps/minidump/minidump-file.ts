/**
 * A minidump file opened for parsing: the header and stream directory are
 * read at once; every stream is read only when asked for, by positional
 * reads bounded by the file's size. Counts are checked against the stream's
 * size before anything is allocated, so a hostile count cannot exhaust
 * memory.
 *
 * @example
 * ```ts
 * const file = MinidumpFile.open('crash.dmp');
 * const stream = file.stream(StreamType.ThreadList);
 * const list = stream && file.readList(stream, { countSize: 4, entrySize: 0x30, entry: 'MINIDUMP_THREAD' });
 * file.close();
 * ```
 */
import type { ByteReader } from '../binary/byte-reader.ts';
import { FileSource } from '../binary/file-source.ts';
import { DumpFormatError } from '../errors.ts';
import type { DumpNote } from '../model.ts';
import { DIRECTORY_ENTRY_SIZE, HEADER_SIZE, readDirectoryEntry, readHeader, type MinidumpDirectoryEntry, type MinidumpHeader, type MinidumpLocation } from './header.ts';
import { streamName } from './streams.ts';

const FORMAT = 'minidump';
/** Longer MINIDUMP_STRINGs are not paths or names: 32767 UTF-16 units is the Windows path limit. */
const MAX_STRING_BYTES = 0x10000;
/** Beyond this many entries a list is not a plausible dump (a full dump of a large process has ~10^5 ranges). */
const MAX_LIST_ENTRIES = 1 << 22;

/** A stream found in the directory, with its name for messages. */
export interface MinidumpStream extends MinidumpDirectoryEntry {
  name: string;
  /** Index in the directory. */
  index: number;
}

/** A list stream's entries: `count` records of `entrySize` bytes starting at `entries` in `reader`. */
export interface MinidumpList<C extends number | bigint = number | bigint> {
  count: C;
  /** Reader over the whole list (header and entries); offsets relative to the stream's start. */
  reader: ByteReader;
  /** Offset of entry 0 in `reader`. */
  entries: number;
}

export interface ListShape {
  /** Width of the count field at offset 0: u32 (most lists) or u64 (Memory64List). */
  countSize: 4 | 8;
  /** Offset of the count (MemoryInfoList: 0x08); 0 when absent. */
  countOffset?: number;
  /** Bytes before entry 0 when not `countSize` (Memory64List: 0x10). */
  headerSize?: number;
  entrySize: number;
  /** Struct name of an entry, for messages: 'MINIDUMP_THREAD'. */
  entry: string;
  /** Accept 4 bytes of padding after a u32 count (old writers of thread, module and memory lists). */
  mayBePadded?: boolean;
}

/** An open minidump: header, directory, and stream readers. See the file comment. */
export class MinidumpFile {
  /** Notes about the directory: duplicate streams. */
  readonly notes: DumpNote[] = [];
  private readonly byType = new Map<number, MinidumpStream>();

  private constructor(
    readonly source: FileSource,
    readonly header: MinidumpHeader,
    readonly directory: MinidumpStream[],
  ) {
    for (const stream of directory) {
      if (stream.streamType === 0) continue;
      const first = this.byType.get(stream.streamType);
      if (first) {
        this.notes.push({ level: 'warning', message: `${stream.name} appears again as directory entry ${stream.index}; entry ${first.index} is used`, provenance: { source: stream.name, offset: stream.entryOffset } });
      } else {
        this.byType.set(stream.streamType, stream);
      }
    }
  }

  /**
   * Opens `path` and reads the header and directory; every stream's extent is
   * checked against the file's size. Throws DumpFormatError ('io',
   * 'bad-magic', 'truncated').
   */
  static open(path: string): MinidumpFile {
    const source = FileSource.open(path, FORMAT);
    try {
      const header = readHeader(source.reader(0n, Math.min(HEADER_SIZE, Number(source.size)), 'MINIDUMP_HEADER'), 0);
      const directoryOffset = BigInt(header.streamDirectoryRva);
      const directoryBytes = BigInt(header.numberOfStreams) * BigInt(DIRECTORY_ENTRY_SIZE);
      if (directoryOffset + directoryBytes > source.size) {
        throw new DumpFormatError(FORMAT, path,
          `Stream directory at offset 0x${directoryOffset.toString(16)} (${header.numberOfStreams} entries, ${directoryBytes} bytes) runs past the end of the file (${source.size} bytes)`,
          { offset: directoryOffset, code: 'truncated' });
      }
      const r = source.reader(directoryOffset, Number(directoryBytes), 'MINIDUMP_DIRECTORY');
      const directory: MinidumpStream[] = [];
      for (let i = 0; i < header.numberOfStreams; i++) {
        const entry = readDirectoryEntry(r, i * DIRECTORY_ENTRY_SIZE);
        const stream = { ...entry, name: streamName(entry.streamType), index: i };
        checkExtent(source, stream.location, `${stream.name} (directory entry ${i})`, stream.entryOffset + 4n);
        directory.push(stream);
      }
      return new MinidumpFile(source, header, directory);
    } catch (error) {
      source.close();
      throw error;
    }
  }

  get path(): string {
    return this.source.path;
  }

  /** The first directory entry of `type`, or undefined when the dump lacks it. */
  stream(type: number): MinidumpStream | undefined {
    return this.byType.get(type);
  }

  /**
   * A reader over the first `size` bytes of a fixed-size stream (SystemInfo,
   * Exception, MiscInfo); later versions of a struct may be longer, and the
   * rest is not read.
   */
  streamReader(stream: MinidumpStream, size: number, struct: string): ByteReader {
    if (stream.location.dataSize < size) {
      throw this.error(BigInt(stream.location.rva), `${stream.name} is ${stream.location.dataSize} bytes, shorter than its ${struct} (${size} bytes)`, 'truncated');
    }
    return this.source.reader(BigInt(stream.location.rva), size, `${stream.name} ${struct}`);
  }

  /**
   * Reads a list stream: its count, then exactly the entries it claims
   * (after checking they fit in the stream). With `mayBePadded`, a stream
   * exactly 4 bytes longer than its entries need has them after 4 bytes of
   * padding, as some writers put them (rust-minidump and Breakpad accept it).
   */
  readList(stream: MinidumpStream, shape: ListShape): MinidumpList {
    const { dataSize, rva } = stream.location;
    const at = BigInt(rva);
    const header = shape.headerSize ?? shape.countSize;
    if (dataSize < header) throw this.error(at, `${stream.name} is ${dataSize} bytes, too short for its count`, 'truncated');
    const head = this.source.reader(at, header, stream.name);
    const countAt = shape.countOffset ?? 0;
    const count = shape.countSize === 4 ? head.u32(countAt, 'NumberOfEntries') : head.u64(countAt, 'NumberOfEntries');
    const needed = BigInt(header) + BigInt(count) * BigInt(shape.entrySize);
    if (BigInt(count) > BigInt(MAX_LIST_ENTRIES) || needed > BigInt(dataSize)) {
      throw this.error(at,
        `${stream.name} claims ${count} ${shape.entry} entries of 0x${shape.entrySize.toString(16)} bytes (${needed} bytes), but the stream is ${dataSize} bytes`,
        'bad-field');
    }
    const padded = shape.mayBePadded && header === 4 && BigInt(dataSize) === needed + 4n ? 4 : 0;
    const length = Number(needed) + padded;
    return { count, reader: this.source.reader(at, length, stream.name), entries: header + padded };
  }

  /** The bytes a location descriptor points at, after checking they lie in the file. */
  readLocation(location: MinidumpLocation, what: string, minimum = 0): ByteReader {
    checkExtent(this.source, location, what);
    if (location.dataSize < minimum) {
      throw this.error(BigInt(location.rva), `${what} is ${location.dataSize} bytes, shorter than the ${minimum} it needs`, 'truncated');
    }
    return this.source.reader(BigInt(location.rva), location.dataSize, what);
  }

  /**
   * MINIDUMP_STRING at `rva`: a u32 byte length, then UTF-16LE text.
   *
   * @example
   * ```ts
   * file.readString(0x78a, 'module 0 name'); // 'c:\\test_app.exe'
   * ```
   */
  readString(rva: bigint, what: string): string {
    const head = this.source.reader(rva, 4, `${what} MINIDUMP_STRING`);
    const length = head.u32(0x00, 'Length');
    if (length > MAX_STRING_BYTES) throw head.error(0, `MINIDUMP_STRING.Length ${length} is longer than any name (${MAX_STRING_BYTES} bytes at most)`);
    const bytes = this.source.read(rva + 4n, length & ~1, `${what} MINIDUMP_STRING.Buffer`);
    return new TextDecoder('utf-16le').decode(bytes);
  }

  /** A DumpFormatError about this file at `offset`. */
  error(offset: bigint, message: string, code: 'truncated' | 'bad-field' | 'unsupported' | 'conflict' = 'bad-field'): DumpFormatError {
    return new DumpFormatError(FORMAT, this.path, message, { offset, code });
  }

  close(): void {
    this.source.close();
  }
}

/** Throws `truncated` when `location` runs past the end of the file. */
function checkExtent(source: FileSource, location: MinidumpLocation, what: string, descriptorOffset?: bigint): void {
  const end = BigInt(location.rva) + BigInt(location.dataSize);
  if (end > source.size) {
    const where = descriptorOffset === undefined ? '' : ` (descriptor at offset 0x${descriptorOffset.toString(16)})`;
    throw new DumpFormatError(FORMAT, source.path,
      `${what} at offset 0x${location.rva.toString(16)} (${location.dataSize} bytes) runs past the end of the file (${source.size} bytes)${where}`,
      { offset: BigInt(location.rva), code: 'truncated' });
  }
}
