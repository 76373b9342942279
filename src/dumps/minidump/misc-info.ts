/**
 * The MiscInfo stream (MINIDUMP_MISC_INFO, the first 0x18 bytes every later
 * MINIDUMP_MISC_INFO_N shares): process id and process times, each present
 * when its Flags1 bit says so.
 *
 * @example
 * ```ts
 * const misc = readMiscInfoStream(file);
 * misc?.processId; // 3932
 * ```
 */
import type { ByteReader } from '../binary/byte-reader.ts';
import type { MinidumpFile } from './minidump-file.ts';
import { StreamType } from './streams.ts';

export const MISC_INFO_SIZE = 0x18;
const MINIDUMP_MISC1_PROCESS_ID = 0x1;
const MINIDUMP_MISC1_PROCESS_TIMES = 0x2;

/** MINIDUMP_MISC_INFO, fields absent when Flags1 marks them invalid. */
export interface MiscInfo {
  sizeOfInfo: number;
  flags1: number;
  processId?: number;
  /** Seconds since 1970 (UTC). */
  processCreateTime?: number;
  /** Seconds. */
  processUserTime?: number;
  processKernelTime?: number;
}

/**
 * MINIDUMP_MISC_INFO at `offset`.
 *
 * @example
 * ```ts
 * readMiscInfo(reader, 0).processCreateTime; // 0x45d35f73
 * ```
 */
export function readMiscInfo(r: ByteReader, offset: number): MiscInfo {
  const flags1 = r.u32(offset + 0x04, 'Flags1');
  const info: MiscInfo = { sizeOfInfo: r.u32(offset + 0x00, 'SizeOfInfo'), flags1 };
  if (flags1 & MINIDUMP_MISC1_PROCESS_ID) info.processId = r.u32(offset + 0x08, 'ProcessId');
  if (flags1 & MINIDUMP_MISC1_PROCESS_TIMES) {
    info.processCreateTime = r.u32(offset + 0x0c, 'ProcessCreateTime');
    info.processUserTime = r.u32(offset + 0x10, 'ProcessUserTime');
    info.processKernelTime = r.u32(offset + 0x14, 'ProcessKernelTime');
  }
  return info;
}

/**
 * The MiscInfo stream, or undefined when the dump has none.
 *
 * @example
 * ```ts
 * readMiscInfoStream(file)?.processId; // 3932
 * ```
 */
export function readMiscInfoStream(file: MinidumpFile): MiscInfo | undefined {
  const stream = file.stream(StreamType.MiscInfo);
  if (!stream) return undefined;
  return readMiscInfo(file.streamReader(stream, MISC_INFO_SIZE, 'MINIDUMP_MISC_INFO'), 0);
}
