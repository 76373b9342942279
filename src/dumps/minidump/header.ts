/**
 * The minidump header and stream directory (MINIDUMP_HEADER,
 * MINIDUMP_DIRECTORY, MINIDUMP_LOCATION_DESCRIPTOR in minidumpapiset.h).
 *
 * @example
 * ```ts
 * const header = readHeader(file.reader(0n, HEADER_SIZE, 'MINIDUMP_HEADER'), 0);
 * header.numberOfStreams; // 9
 * ```
 */
import type { ByteReader } from '../binary/byte-reader.ts';

/** 'MDMP' read as a little-endian u32. */
export const MINIDUMP_SIGNATURE = 0x504d444d;
/** The low 16 bits of MINIDUMP_HEADER.Version. */
export const MINIDUMP_VERSION = 0xa793;
export const HEADER_SIZE = 0x20;
export const DIRECTORY_ENTRY_SIZE = 0x0c;

/** MINIDUMP_HEADER. */
export interface MinidumpHeader {
  signature: number;
  /** Low 16 bits MINIDUMP_VERSION; high 16 bits implementation-specific. */
  version: number;
  numberOfStreams: number;
  streamDirectoryRva: number;
  checkSum: number;
  /** Seconds since 1970 (UTC). */
  timeDateStamp: number;
  /** MINIDUMP_TYPE flags (MiniDumpWithFullMemory = 0x2, …). */
  flags: bigint;
}

/** MINIDUMP_LOCATION_DESCRIPTOR: where a stream or record lies in the file. */
export interface MinidumpLocation {
  dataSize: number;
  rva: number;
}

/** MINIDUMP_DIRECTORY. */
export interface MinidumpDirectoryEntry {
  streamType: number;
  location: MinidumpLocation;
  /** File offset of this directory entry. */
  entryOffset: bigint;
}

/**
 * MINIDUMP_HEADER at `offset`. The signature is checked; the version only
 * in its low word (the high word is implementation-specific).
 *
 * @example
 * ```ts
 * readHeader(reader, 0).streamDirectoryRva; // 0x20
 * ```
 */
export function readHeader(r: ByteReader, offset: number): MinidumpHeader {
  const signature = r.u32(offset + 0x00, 'Signature');
  if (signature !== MINIDUMP_SIGNATURE) {
    throw r.error(offset, `Signature is 0x${signature.toString(16)}, not 'MDMP' (0x504d444d)`, 'bad-magic');
  }
  const version = r.u32(offset + 0x04, 'Version');
  if ((version & 0xffff) !== MINIDUMP_VERSION) {
    throw r.error(offset + 0x04, `Version 0x${version.toString(16)} does not carry MINIDUMP_VERSION 0xa793 in its low word`, 'bad-magic');
  }
  return {
    signature,
    version,
    numberOfStreams: r.u32(offset + 0x08, 'NumberOfStreams'),
    streamDirectoryRva: r.u32(offset + 0x0c, 'StreamDirectoryRva'),
    checkSum: r.u32(offset + 0x10, 'CheckSum'),
    timeDateStamp: r.u32(offset + 0x14, 'TimeDateStamp'),
    flags: r.u64(offset + 0x18, 'Flags'),
  };
}

/**
 * MINIDUMP_LOCATION_DESCRIPTOR at `offset`.
 *
 * @example
 * ```ts
 * readLocation(reader, 0x04); // { dataSize: 100, rva: 0x184 }
 * ```
 */
export function readLocation(r: ByteReader, offset: number, field = 'Location'): MinidumpLocation {
  return {
    dataSize: r.u32(offset + 0x00, `${field}.DataSize`),
    rva: r.u32(offset + 0x04, `${field}.Rva`),
  };
}

/**
 * MINIDUMP_DIRECTORY at `offset`.
 *
 * @example
 * ```ts
 * readDirectoryEntry(reader, 0x0c).streamType; // 0x4 (ModuleListStream)
 * ```
 */
export function readDirectoryEntry(r: ByteReader, offset: number): MinidumpDirectoryEntry {
  return {
    streamType: r.u32(offset + 0x00, 'StreamType'),
    location: readLocation(r, offset + 0x04),
    entryOffset: r.origin.base + BigInt(offset),
  };
}
