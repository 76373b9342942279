/**
 * The ThreadList stream (MINIDUMP_THREAD_LIST of MINIDUMP_THREAD) and the
 * ThreadNames stream (MINIDUMP_THREAD_NAME_LIST of MINIDUMP_THREAD_NAME).
 *
 * @example
 * ```ts
 * const threads = readThreadList(file);
 * threads[0].threadId; // 0xbf4
 * readThreadNames(file).get(0x1c8); // 'main'
 * ```
 */
import type { ByteReader } from '../binary/byte-reader.ts';
import { readLocation, type MinidumpLocation } from './header.ts';
import type { MinidumpFile } from './minidump-file.ts';
import { StreamType } from './streams.ts';

export const THREAD_SIZE = 0x30;
export const THREAD_NAME_SIZE = 0x0c;

/** MINIDUMP_MEMORY_DESCRIPTOR: a range of the dumped address space and where its bytes are in the file. */
export interface MemoryDescriptor {
  startOfMemoryRange: bigint;
  memory: MinidumpLocation;
}

/** MINIDUMP_THREAD. */
export interface MinidumpThread {
  threadId: number;
  suspendCount: number;
  priorityClass: number;
  priority: number;
  /** Thread environment block address. */
  teb: bigint;
  stack: MemoryDescriptor;
  threadContext: MinidumpLocation;
  /** File offset of this MINIDUMP_THREAD. */
  offset: bigint;
}

/**
 * MINIDUMP_MEMORY_DESCRIPTOR at `offset`.
 *
 * @example
 * ```ts
 * readMemoryDescriptor(reader, 0x18).startOfMemoryRange; // 0x12f31cn
 * ```
 */
export function readMemoryDescriptor(r: ByteReader, offset: number): MemoryDescriptor {
  return {
    startOfMemoryRange: r.u64(offset + 0x00, 'StartOfMemoryRange'),
    memory: readLocation(r, offset + 0x08, 'Memory'),
  };
}

/**
 * MINIDUMP_THREAD at `offset`.
 *
 * @example
 * ```ts
 * readThread(reader, 4).threadContext; // { dataSize: 0x2cc, rva: 0xd94 }
 * ```
 */
export function readThread(r: ByteReader, offset: number): MinidumpThread {
  return {
    threadId: r.u32(offset + 0x00, 'ThreadId'),
    suspendCount: r.u32(offset + 0x04, 'SuspendCount'),
    priorityClass: r.u32(offset + 0x08, 'PriorityClass'),
    priority: r.u32(offset + 0x0c, 'Priority'),
    teb: r.u64(offset + 0x10, 'Teb'),
    stack: readMemoryDescriptor(r, offset + 0x18),
    threadContext: readLocation(r, offset + 0x28, 'ThreadContext'),
    offset: r.origin.base + BigInt(offset),
  };
}

/**
 * Every MINIDUMP_THREAD of the ThreadList stream; empty when the dump has none.
 *
 * @example
 * ```ts
 * readThreadList(file).map((t) => t.threadId); // [0xbf4, 0x11c0]
 * ```
 */
export function readThreadList(file: MinidumpFile): MinidumpThread[] {
  const stream = file.stream(StreamType.ThreadList);
  if (!stream) return [];
  const list = file.readList(stream, { countSize: 4, entrySize: THREAD_SIZE, entry: 'MINIDUMP_THREAD', mayBePadded: true });
  const threads: MinidumpThread[] = [];
  for (let i = 0; i < Number(list.count); i++) {
    threads.push(readThread(list.reader.sub(list.entries + i * THREAD_SIZE, THREAD_SIZE, `${stream.name} MINIDUMP_THREAD[${i}]`), 0));
  }
  return threads;
}

/** MINIDUMP_THREAD_NAME: a thread id and the RVA64 of its MINIDUMP_STRING. */
export interface MinidumpThreadName {
  threadId: number;
  rvaOfThreadName: bigint;
}

/**
 * MINIDUMP_THREAD_NAME at `offset` (12 bytes: the RVA64 is 4-aligned).
 *
 * @example
 * ```ts
 * readThreadName(reader, 4); // { threadId: 0x1c8, rvaOfThreadName: 0x3a0n }
 * ```
 */
export function readThreadName(r: ByteReader, offset: number): MinidumpThreadName {
  return {
    threadId: r.u32(offset + 0x00, 'ThreadId'),
    rvaOfThreadName: r.u64(offset + 0x04, 'RvaOfThreadName'),
  };
}

/**
 * Thread id → name from the ThreadNames stream (the first name of a thread
 * named twice); empty when the dump has none.
 *
 * @example
 * ```ts
 * readThreadNames(file).get(0x19a4); // 'main thread'
 * ```
 */
export function readThreadNames(file: MinidumpFile): Map<number, string> {
  const names = new Map<number, string>();
  const stream = file.stream(StreamType.ThreadNames);
  if (!stream) return names;
  const list = file.readList(stream, { countSize: 4, entrySize: THREAD_NAME_SIZE, entry: 'MINIDUMP_THREAD_NAME' });
  for (let i = 0; i < Number(list.count); i++) {
    const entry = readThreadName(list.reader.sub(list.entries + i * THREAD_NAME_SIZE, THREAD_NAME_SIZE, `${stream.name} MINIDUMP_THREAD_NAME[${i}]`), 0);
    if (!names.has(entry.threadId)) names.set(entry.threadId, file.readString(entry.rvaOfThreadName, `${stream.name} thread 0x${entry.threadId.toString(16)} name`));
  }
  return names;
}
