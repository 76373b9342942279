/**
 * The guest memory of a program recorded under qemu-user (`qemu-record.ts`),
 * read through the gdbstub's `m` packets, as the `memory` events a replay
 * needs: the initial image and what the kernel (qemu's system-call layer)
 * mapped, unmapped or wrote after each system call.
 *
 * qemu 7.2's gdbstub has no `vFile` (so no `/proc/self/maps` of the guest)
 * and lists no mappings; the guest's address space is known instead:
 * - the program's `PT_LOAD` segments (moved by the load bias that the
 *   auxiliary vector's `AT_PHDR` gives, for a position-independent one);
 * - the stack: from the first unreadable page above the stack pointer down
 *   to the last readable one below it (qemu maps the whole guest stack at
 *   start; below the stack pointer it holds zeros);
 * - what system calls map: `brk`, `mmap`/`mmap2`, `munmap`, `mprotect`, by
 *   their numbers, arguments and results (`mremap` and the old i386 `mmap`,
 *   which glibc does not use, are not followed).
 * The kernel's writes (a `read`'s buffer, `uname`, `fstat`) are found by
 * reading every writable region before and after each system call and
 * writing the pages that changed.
 *
 * @example
 * ```ts
 * const memory = new GuestMemory(stub, 'arm64', './a.out');
 * const image = await memory.image(sp);            // memory events, `start: true`
 * await memory.beforeSyscall(sp);
 * const changes = await memory.afterSyscall({ number: 214n, args: [0n], result: 0x4a0000n }, sp, index);
 * ```
 */
import { readFileSync } from 'node:fs';
import type { TraceEvent } from '../../traces/model.ts';
import { ByteReader } from '../dumps/binary/byte-reader.ts';
import { readElfHeader } from '../dumps/elf/elf-header.ts';
import { PF_R, PF_W, PF_X, PT_LOAD, programHeaderSize, readProgramHeader } from '../dumps/elf/program-headers.ts';
import type { GdbRemote } from './gdb-remote.ts';

export type MemoryEvent = Extract<TraceEvent, { kind: 'memory' }>;

const PAGE = 0x1000n;
/** Bytes asked for in one `m` packet (qemu's packet size is 0x1000 hex digits). */
const CHUNK = 0x7f0;
/** How far below the stack pointer the stack's end is looked for. */
const STACK_SEARCH = 0x4000000n;
const AT_PHDR = 3n;

/** System call numbers of the calls that change the address space. */
const CALLS: Record<'x86' | 'arm64', { brk: bigint; mmap: bigint[]; munmap: bigint; mprotect: bigint }> = {
  x86: { brk: 45n, mmap: [192n], munmap: 91n, mprotect: 125n },
  arm64: { brk: 214n, mmap: [222n], munmap: 215n, mprotect: 226n },
};

interface Region {
  start: bigint;
  end: bigint;
  /** 1 read, 2 write, 4 execute. */
  protection: number;
}

/** A system call as the recorder saw it: its number, arguments and result. */
export interface SyscallSeen {
  number: bigint;
  args: bigint[];
  result: bigint;
}

const down = (a: bigint) => a - (a % PAGE);
const up = (a: bigint) => down(a + PAGE - 1n);

function protectionText(p: number): string {
  return `${p & 1 ? 'r' : '-'}${p & 2 ? 'w' : '-'}${p & 4 ? 'x' : '-'}`;
}

export class GuestMemory {
  private regions: Region[] = [];
  private brk: bigint | undefined;
  /** Writable memory as read before the current system call. */
  private before = new Map<bigint, Uint8Array>();

  constructor(private readonly stub: GdbRemote, private readonly arch: 'x86' | 'arm64', private readonly program: string) {}

  /** Reads guest memory; undefined when any of it is unreadable. */
  async read(address: bigint, length: number): Promise<Uint8Array | undefined> {
    const out = new Uint8Array(length);
    for (let at = 0; at < length; at += CHUNK) {
      const n = Math.min(CHUNK, length - at);
      const reply = await this.stub.request(`m${(address + BigInt(at)).toString(16)},${n.toString(16)}`);
      if (/^E/.test(reply) || reply.length !== 2 * n) return undefined;
      out.set(Buffer.from(reply, 'hex'), at);
    }
    return out;
  }

  private async readable(page: bigint): Promise<boolean> {
    const reply = await this.stub.request(`m${page.toString(16)},1`);
    return !/^E/.test(reply) && reply.length === 2;
  }

  /** Map events for a region, then write events for its pages that are not zero. */
  private async describe(region: Region, at: Pick<MemoryEvent, 'index' | 'start'>): Promise<MemoryEvent[]> {
    const size = region.end - region.start;
    const events: MemoryEvent[] = [{ kind: 'memory', ...at, action: 'map', address: region.start, size, protection: protectionText(region.protection) }];
    if (!(region.protection & 1)) return events;
    const bytes = await this.read(region.start, Number(size));
    if (!bytes) return events;
    for (const run of changedRuns(bytes, undefined)) {
      events.push({ kind: 'memory', ...at, action: 'write', address: region.start + BigInt(run.from), size: BigInt(run.to - run.from), bytes: bytes.slice(run.from, run.to) });
    }
    return events;
  }

  /** The program's segments, moved by the load bias the auxiliary vector gives. */
  private async segments(): Promise<Region[]> {
    const file = readFileSync(this.program);
    const reader = new ByteReader(file, { path: this.program, format: 'elf', base: 0n, what: 'ELF file' });
    const header = readElfHeader(reader, 0);
    const loads = Array.from({ length: header.phnum }, (_, i) => readProgramHeader(reader, Number(header.phoff) + i * programHeaderSize(header.bits), header.bits, i))
      .filter((p) => p.type === PT_LOAD);
    let bias = 0n;
    const phdr = await this.auxv(AT_PHDR, header.bits);
    const first = loads.find((p) => p.offset <= header.phoff && header.phoff < p.offset + p.filesz);
    if (phdr !== undefined && first) bias = phdr - (first.vaddr + (header.phoff - first.offset));
    const regions: Region[] = [];
    for (const p of loads) {
      const protection = (p.flags & PF_R ? 1 : 0) | (p.flags & PF_W ? 2 : 0) | (p.flags & PF_X ? 4 : 0);
      const start = down(p.vaddr + bias);
      const end = up(p.vaddr + bias + p.memsz);
      const last = regions.at(-1);
      // Two segments sharing a page: the page takes both's rights.
      if (last && start < last.end) {
        last.protection |= protection;
        if (end > last.end) regions.push({ start: last.end, end, protection });
      } else {
        regions.push({ start, end, protection });
      }
    }
    return regions;
  }

  /** One entry of the guest's auxiliary vector (qXfer:auxv). */
  private async auxv(type: bigint, bits: 32 | 64): Promise<bigint | undefined> {
    const reply = await this.stub.request('qXfer:auxv:read::0,1000');
    if (!/^[lm]/.test(reply)) return undefined;
    // Binary data: `}` escapes the byte after it (xor 0x20).
    const bytes = Buffer.from(reply.slice(1).replace(/\}([\s\S])/g, (_, c: string) => String.fromCharCode(c.charCodeAt(0) ^ 0x20)), 'latin1');
    const width = bits / 8;
    for (let at = 0; at + 2 * width <= bytes.length; at += 2 * width) {
      const key = width === 8 ? bytes.readBigUInt64LE(at) : BigInt(bytes.readUInt32LE(at));
      if (key === 0n) break;
      if (key === type) return width === 8 ? bytes.readBigUInt64LE(at + width) : BigInt(bytes.readUInt32LE(at + width));
    }
    return undefined;
  }

  /** The stack around `sp`: the readable pages above it, and below it down to the first unreadable page. */
  private async stack(sp: bigint): Promise<Region> {
    let top = down(sp);
    while (await this.readable(top)) top += PAGE;
    // The pages below sp are contiguous down to the stack's end: found by bisection.
    let low = down(sp) > STACK_SEARCH ? down(sp) - STACK_SEARCH : PAGE;
    let high = down(sp);
    while (high - low > PAGE) {
      const mid = down(low + (high - low) / 2n);
      if (await this.readable(mid)) high = mid;
      else low = mid;
    }
    return { start: (await this.readable(low)) ? low : high, end: top, protection: 3 };
  }

  /** The initial image (events at instruction 0, `start: true`). */
  async image(sp: bigint): Promise<MemoryEvent[]> {
    this.regions = [...(await this.segments()), await this.stack(sp)];
    const events: MemoryEvent[] = [];
    for (const region of this.regions) events.push(...(await this.describe(region, { index: 0, start: true })));
    return events;
  }

  /** Writable memory the kernel may write (the stack from a page below `sp` up). */
  private writable(sp: bigint): Region[] {
    return this.regions.filter((r) => r.protection & 2).map((r) => (r.start <= sp && sp < r.end ? { ...r, start: down(sp) > r.start + PAGE ? down(sp) - PAGE : r.start } : r));
  }

  /** Reads the writable memory, to compare with after the system call. */
  async beforeSyscall(sp: bigint): Promise<void> {
    this.before.clear();
    for (const region of this.writable(sp)) {
      const bytes = await this.read(region.start, Number(region.end - region.start));
      if (bytes) this.before.set(region.start, bytes);
    }
  }

  /** What the system call changed: mappings, then the pages the kernel wrote (events at instruction `index`). */
  async afterSyscall(call: SyscallSeen, sp: bigint, index: number): Promise<MemoryEvent[]> {
    const at = { index };
    const events: MemoryEvent[] = [];
    const calls = CALLS[this.arch];
    const failed = call.result >= (this.arch === 'x86' ? 0xfffff001n : 0xfffffffffffff001n);
    if (call.number === calls.brk && !failed) {
      const from = this.brk === undefined ? undefined : up(this.brk);
      const to = up(call.result);
      if (from !== undefined && to > from) {
        const region = { start: from, end: to, protection: 3 };
        this.add(region);
        events.push(...(await this.describe(region, at)));
      } else if (from !== undefined && to < from) {
        this.remove(to, from);
        events.push({ kind: 'memory', ...at, action: 'unmap', address: to, size: from - to });
      }
      this.brk = call.result;
    } else if (calls.mmap.includes(call.number) && !failed) {
      const region = { start: call.result, end: call.result + up(call.args[1]!), protection: Number(call.args[2]! & 7n) };
      this.add(region);
      events.push(...(await this.describe(region, at)));
    } else if ((call.number === calls.munmap || call.number === calls.mprotect) && call.result === 0n) {
      const start = call.args[0]!;
      const end = start + up(call.args[1]!);
      this.remove(start, end);
      events.push({ kind: 'memory', ...at, action: 'unmap', address: start, size: end - start });
      if (call.number === calls.mprotect) {
        const region = { start, end, protection: Number(call.args[2]! & 7n) };
        this.add(region);
        events.push(...(await this.describe(region, at)));
      }
    }
    for (const [start, old] of this.before) {
      const now = await this.read(start, old.length);
      if (!now) continue;
      for (const run of changedRuns(now, old)) {
        events.push({ kind: 'memory', ...at, action: 'write', address: start + BigInt(run.from), size: BigInt(run.to - run.from), bytes: now.slice(run.from, run.to) });
      }
    }
    this.before.clear();
    return events;
  }

  private remove(start: bigint, end: bigint): void {
    const kept: Region[] = [];
    for (const r of this.regions) {
      if (r.end <= start || end <= r.start) kept.push(r);
      else {
        if (r.start < start) kept.push({ ...r, end: start });
        if (end < r.end) kept.push({ ...r, start: end });
      }
    }
    this.regions = kept;
  }

  private add(region: Region): void {
    this.remove(region.start, region.end);
    this.regions.push(region);
  }
}

/** Runs of whole pages (offsets into `now`) that differ from `before` (or are not zero, without it). */
function changedRuns(now: Uint8Array, before: Uint8Array | undefined): Array<{ from: number; to: number }> {
  const runs: Array<{ from: number; to: number }> = [];
  const page = Number(PAGE);
  let from = -1;
  for (let at = 0; at <= now.length; at += page) {
    let changed = false;
    if (at < now.length) {
      const end = Math.min(at + page, now.length);
      for (let i = at; i < end && !changed; i++) changed = now[i] !== (before ? before[i] : 0);
    }
    if (changed && from < 0) from = at;
    if (!changed && from >= 0) {
      runs.push({ from, to: Math.min(at, now.length) });
      from = -1;
    }
  }
  return runs;
}
