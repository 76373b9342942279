/**
 * The crashing thread and its exception: MINIDUMP_THREAD_LIST (one
 * MINIDUMP_THREAD, 0x30 bytes) and MINIDUMP_EXCEPTION_STREAM (0xa8 bytes,
 * holding MINIDUMP_EXCEPTION at 0x8). Both point at the same CONTEXT. The
 * thread's stack descriptor is patched once the memory's place in the file
 * is known.
 *
 * @example
 * ```ts
 * const thread = writeThreadList(out, crash.threadId, context);
 * thread.setStack(stackStart, stackSize, stackRva);
 * writeExceptionStream(out, crash.threadId, crash.exception, context);
 * ```
 */
import type { WindowsException } from '../crash/exception.ts';
import type { ByteWriter } from './byte-writer.ts';

/** Where a CONTEXT is in the file. */
export interface Location {
  rva: number;
  size: number;
}

const NORMAL_PRIORITY_CLASS = 0x20;

/**
 * Appends a MINIDUMP_THREAD_LIST of one thread; returns its RVA and size,
 * and a setter for the thread's stack (MINIDUMP_MEMORY_DESCRIPTOR at 0x18).
 *
 * @example
 * ```ts
 * writeThreadList(out, 8407, { rva: 0x200, size: 0x4d0 }).size; // 0x34
 * ```
 */
export function writeThreadList(out: ByteWriter, threadId: number, context: Location): { rva: number; size: number; setStack(start: bigint, size: number, rva: number): void } {
  const at = out.reserve(4 + 0x30);
  out.u32(at, 1); // NumberOfThreads
  const thread = at + 4;
  out.u32(thread + 0x00, threadId); // ThreadId
  out.u32(thread + 0x04, 0); // SuspendCount
  out.u32(thread + 0x08, NORMAL_PRIORITY_CLASS); // PriorityClass
  out.u32(thread + 0x0c, 0); // Priority
  out.u64(thread + 0x10, 0n); // Teb: Linux has none
  out.u32(thread + 0x28, context.size); // ThreadContext.DataSize
  out.u32(thread + 0x2c, context.rva); // ThreadContext.Rva
  return {
    rva: at,
    size: 4 + 0x30,
    setStack(start, size, rva) {
      out.u64(thread + 0x18, start); // Stack.StartOfMemoryRange
      out.u32(thread + 0x20, size); // Stack.Memory.DataSize
      out.u32(thread + 0x24, rva); // Stack.Memory.Rva
    },
  };
}

/**
 * Appends MINIDUMP_EXCEPTION_STREAM; returns its RVA (size 0xa8).
 *
 * @example
 * ```ts
 * writeExceptionStream(out, 8407, { code: 0xc0000005, flags: 0, address: pc, parameters: [0n, 8n], … }, context);
 * ```
 */
export function writeExceptionStream(out: ByteWriter, threadId: number, exception: WindowsException, context: Location): number {
  if (exception.parameters.length > 15) throw new RangeError(`${exception.parameters.length} exception parameters; EXCEPTION_MAXIMUM_PARAMETERS is 15`);
  const at = out.reserve(0xa8, 8);
  out.u32(at + 0x00, threadId); // ThreadId
  const record = at + 0x08; // MINIDUMP_EXCEPTION
  out.u32(record + 0x00, exception.code); // ExceptionCode
  out.u32(record + 0x04, exception.flags); // ExceptionFlags
  out.u64(record + 0x08, 0n); // ExceptionRecord: no nested exception
  out.u64(record + 0x10, exception.address); // ExceptionAddress
  out.u32(record + 0x18, exception.parameters.length); // NumberParameters
  exception.parameters.forEach((value, i) => out.u64(record + 0x20 + 8 * i, value)); // ExceptionInformation[]
  out.u32(at + 0xa0, context.size); // ThreadContext.DataSize
  out.u32(at + 0xa4, context.rva); // ThreadContext.Rva
  return at;
}
