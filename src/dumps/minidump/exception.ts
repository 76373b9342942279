/**
 * The Exception stream (MINIDUMP_EXCEPTION_STREAM holding a
 * MINIDUMP_EXCEPTION): which thread faulted, the exception record, and the
 * location of the context at the fault.
 *
 * On Windows the record is the EXCEPTION_RECORD. Breakpad and Crashpad reuse
 * it elsewhere: on Linux ExceptionCode is the signal number, ExceptionFlags
 * the si_code and ExceptionAddress si_addr; on macOS ExceptionCode is the
 * Mach exception (EXC_BAD_ACCESS = 1), ExceptionFlags its code and
 * ExceptionAddress its subcode.
 *
 * @example
 * ```ts
 * const exception = readExceptionStream(file);
 * exception?.exceptionCode; // 0xc0000005
 * ```
 */
import type { ByteReader } from '../binary/byte-reader.ts';
import { readLocation, type MinidumpLocation } from './header.ts';
import type { MinidumpFile } from './minidump-file.ts';
import { StreamType } from './streams.ts';

export const EXCEPTION_STREAM_SIZE = 0xa8;
/** EXCEPTION_MAXIMUM_PARAMETERS. */
export const EXCEPTION_MAXIMUM_PARAMETERS = 15;

/** MINIDUMP_EXCEPTION_STREAM with its MINIDUMP_EXCEPTION. */
export interface MinidumpException {
  threadId: number;
  exceptionCode: number;
  exceptionFlags: number;
  /** Address of a chained EXCEPTION_RECORD, usually 0. */
  exceptionRecord: bigint;
  exceptionAddress: bigint;
  /** ExceptionInformation[0 … NumberParameters). */
  exceptionInformation: bigint[];
  threadContext: MinidumpLocation;
  offset: bigint;
}

/**
 * MINIDUMP_EXCEPTION_STREAM at `offset`. NumberParameters above 15 is a
 * 'bad-field' error.
 *
 * @example
 * ```ts
 * readException(reader, 0).exceptionInformation; // [0x1n, 0x45n]
 * ```
 */
export function readException(r: ByteReader, offset: number): MinidumpException {
  const count = r.u32(offset + 0x20, 'ExceptionRecord.NumberParameters');
  if (count > EXCEPTION_MAXIMUM_PARAMETERS) {
    throw r.error(offset + 0x20, `ExceptionRecord.NumberParameters ${count} is more than EXCEPTION_MAXIMUM_PARAMETERS (15)`);
  }
  const exceptionInformation: bigint[] = [];
  for (let i = 0; i < count; i++) exceptionInformation.push(r.u64(offset + 0x28 + 8 * i, `ExceptionRecord.ExceptionInformation[${i}]`));
  return {
    threadId: r.u32(offset + 0x00, 'ThreadId'),
    exceptionCode: r.u32(offset + 0x08, 'ExceptionRecord.ExceptionCode'),
    exceptionFlags: r.u32(offset + 0x0c, 'ExceptionRecord.ExceptionFlags'),
    exceptionRecord: r.u64(offset + 0x10, 'ExceptionRecord.ExceptionRecord'),
    exceptionAddress: r.u64(offset + 0x18, 'ExceptionRecord.ExceptionAddress'),
    exceptionInformation,
    threadContext: readLocation(r, offset + 0xa0, 'ThreadContext'),
    offset: r.origin.base + BigInt(offset),
  };
}

/**
 * The Exception stream, or undefined when the dump has none.
 *
 * @example
 * ```ts
 * readExceptionStream(file)?.threadId; // 0xbf4
 * ```
 */
export function readExceptionStream(file: MinidumpFile): MinidumpException | undefined {
  const stream = file.stream(StreamType.Exception);
  if (!stream) return undefined;
  return readException(file.streamReader(stream, EXCEPTION_STREAM_SIZE, 'MINIDUMP_EXCEPTION_STREAM'), 0);
}
