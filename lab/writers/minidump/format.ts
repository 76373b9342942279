/**
 * The minidump file's frame (minidumpapiset.h): MINIDUMP_HEADER at offset
 * 0, the MINIDUMP_DIRECTORY array it points to, MINIDUMP_STRING for names,
 * and the stream type numbers (MINIDUMP_STREAM_TYPE).
 *
 * @example
 * ```ts
 * const out = new ByteWriter();
 * const frame = beginMinidump(out, 6);
 * frame.addStream(StreamType.SystemInfo, at, 0x38);
 * frame.finish({ timeDateStamp: 1700000000, flags: 0x802n });
 * ```
 */
import type { ByteWriter } from './byte-writer.ts';

/** MINIDUMP_STREAM_TYPE values the writer uses. */
export const StreamType = {
  ThreadList: 3,
  ModuleList: 4,
  MemoryList: 5,
  Exception: 6,
  SystemInfo: 7,
  Memory64List: 9,
  MiscInfo: 15,
  MemoryInfoList: 16,
} as const;

/** MINIDUMP_TYPE flags (Flags of the header). */
export const MiniDumpType = {
  WithFullMemory: 0x2n,
  WithFullMemoryInfo: 0x800n,
} as const;

/** 'MDMP' read as a little-endian u32. */
export const MINIDUMP_SIGNATURE = 0x504d444d;
/** MINIDUMP_VERSION, the low word of Version; the high word is the writer's own. */
export const MINIDUMP_VERSION = 0xa793;

/** The frame being written: the directory fills as streams are added. */
export interface MinidumpFrame {
  addStream(type: number, rva: number, size: number): void;
  /** Writes the header; call once every stream is added. */
  finish(options: { timeDateStamp: number; flags: bigint }): void;
}

/**
 * Reserves MINIDUMP_HEADER (0x20 bytes) and a directory of `streams`
 * MINIDUMP_DIRECTORY entries (12 bytes: StreamType @0x0, Location.DataSize
 * @0x4, Location.Rva @0x8) at the start of `out`.
 *
 * @example
 * ```ts
 * beginMinidump(out, 7); // directory at 0x20, 84 bytes
 * ```
 */
export function beginMinidump(out: ByteWriter, streams: number): MinidumpFrame {
  const header = out.reserve(0x20);
  const directory = out.reserve(12 * streams);
  let count = 0;
  return {
    addStream(type, rva, size) {
      if (count >= streams) throw new RangeError(`The directory has room for ${streams} streams`);
      const at = directory + 12 * count++;
      out.u32(at + 0x0, type);
      out.u32(at + 0x4, size);
      out.u32(at + 0x8, rva);
    },
    finish({ timeDateStamp, flags }) {
      if (count !== streams) throw new RangeError(`The directory has ${streams} entries but ${count} streams were added`);
      out.u32(header + 0x00, MINIDUMP_SIGNATURE); // Signature
      out.u32(header + 0x04, MINIDUMP_VERSION); // Version
      out.u32(header + 0x08, streams); // NumberOfStreams
      out.u32(header + 0x0c, directory); // StreamDirectoryRva
      out.u32(header + 0x10, 0); // CheckSum
      out.u32(header + 0x14, timeDateStamp); // TimeDateStamp
      out.u64(header + 0x18, flags); // Flags
    },
  };
}

/**
 * Appends a MINIDUMP_STRING (Length u32 in bytes without the terminator,
 * then UTF-16LE text and a NUL) and returns its RVA.
 *
 * @example
 * ```ts
 * writeString(out, '/tmp/bugs'); // 4 + 18 + 2 bytes
 * ```
 */
export function writeString(out: ByteWriter, text: string): number {
  const utf16 = Buffer.from(text, 'utf16le');
  const at = out.reserve(4 + utf16.length + 2);
  out.u32(at, utf16.length);
  out.set(at + 4, utf16);
  return at;
}
