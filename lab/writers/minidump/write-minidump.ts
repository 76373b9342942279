/**
 * Writes a crash as a Windows minidump: header and directory, then
 * SystemInfo, MiscInfo, ThreadList (the crashing thread with its stack and
 * CONTEXT), ModuleList, Exception, MemoryInfoList, and the memory: a
 * Memory64List of every known byte (`full`) or a MemoryList of the stack
 * and the code around the pc and the return addresses (`small`). The
 * memory bytes go last and are copied in chunks, never held whole.
 *
 * @example
 * ```ts
 * await writeCrashMinidump(crash, 'crash.dmp', { memory: 'small' });
 * ```
 */
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import type { Crash } from '../crash/load-crash.ts';
import { ByteWriter } from './byte-writer.ts';
import { CONTEXT_SIZES, writeContext } from './context.ts';
import { beginMinidump, MiniDumpType, StreamType } from './format.ts';
import { writeMemory64List, writeMemoryInfoList, writeMemoryList } from './memory-lists.ts';
import { planMemory, type Range } from './memory-plan.ts';
import { writeModuleList } from './module-list.ts';
import { writeMiscInfo, writeSystemInfo } from './system-info.ts';
import { writeExceptionStream, writeThreadList } from './thread-exception.ts';

const CHUNK = 1 << 20;

/** Where `address` lands in the data of `ranges` written one after another from `dataStart`. */
function dataOffset(ranges: Range[], dataStart: bigint, address: bigint): bigint | undefined {
  let offset = dataStart;
  for (const r of ranges) {
    if (address >= r.start && address < r.end) return offset + (address - r.start);
    offset += r.end - r.start;
  }
  return undefined;
}

/**
 * Writes `crash` to `out`.
 *
 * @example
 * ```ts
 * writeCrashMinidump(crash, '/tmp/x.dmp', { memory: 'full' }); // a Memory64List of all known memory
 * ```
 */
export function writeCrashMinidump(crash: Crash, out: string, options: { memory: 'full' | 'small' }): void {
  const meta = new ByteWriter();
  const frame = beginMinidump(meta, 7);
  frame.addStream(StreamType.SystemInfo, writeSystemInfo(meta, crash.arch), 0x38);
  frame.addStream(StreamType.MiscInfo, writeMiscInfo(meta, crash.threadId), 0x18);
  const context = { rva: writeContext(meta, crash.arch, crash.contextRegisters, crash.fpregs), size: CONTEXT_SIZES[crash.arch] };
  const threads = writeThreadList(meta, crash.threadId, context);
  frame.addStream(StreamType.ThreadList, threads.rva, threads.size);
  const modules = writeModuleList(meta, crash.modules);
  frame.addStream(StreamType.ModuleList, modules.rva, modules.size);
  frame.addStream(StreamType.Exception, writeExceptionStream(meta, crash.threadId, crash.exception, context), 0xa8);
  const info = writeMemoryInfoList(meta, crash.memory.mapped, crash.modules);
  frame.addStream(StreamType.MemoryInfoList, info.rva, info.size);

  const plan = planMemory(crash, options.memory);
  const list = options.memory === 'full' ? writeMemory64List(meta, plan.ranges) : writeMemoryList(meta, plan.ranges);
  frame.addStream(options.memory === 'full' ? StreamType.Memory64List : StreamType.MemoryList, list.rva, list.size);
  const dataStart = BigInt(meta.reserve(0, 16));
  list.place(dataStart);
  const stackRva = dataOffset(plan.ranges, dataStart, plan.stack.start);
  const stackSize = plan.stack.end - plan.stack.start;
  if (stackRva !== undefined && stackSize > 0n) {
    if (stackRva > 0xffff_ffffn || stackSize > 0xffff_ffffn) throw new RangeError('The stack lies beyond 4 GiB into the dump; its 32-bit descriptor cannot point at it');
    threads.setStack(plan.stack.start, Number(stackSize), Number(stackRva));
  } else threads.setStack(plan.stack.start, 0, 0);
  const seconds = Math.floor(statSync(crash.input.core).mtimeMs / 1000);
  frame.finish({ timeDateStamp: seconds, flags: MiniDumpType.WithFullMemoryInfo | (options.memory === 'full' ? MiniDumpType.WithFullMemory : 0n) });

  const fd = openSync(out, 'w');
  try {
    writeSync(fd, meta.bytes());
    for (const range of plan.ranges) {
      for (let at = range.start; at < range.end; ) {
        const want = range.end - at < BigInt(CHUNK) ? Number(range.end - at) : CHUNK;
        const bytes = crash.memory.readAvailable(at, want);
        if (bytes.length !== want) throw new RangeError(`Memory at 0x${(at + BigInt(bytes.length)).toString(16)} became unreadable while writing ${out}`);
        writeSync(fd, bytes);
        at += BigInt(want);
      }
    }
  } finally {
    closeSync(fd);
  }
}
