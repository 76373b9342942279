/**
 * Records what a run executed into columnar `TraceBatch`es: pc, size and
 * bytes of each instruction, the registers it changed, its memory reads and
 * writes. The native recorder fills typed arrays from C hooks and calls back
 * once per full batch; without it, JavaScript hooks fill the same arrays.
 * The recorder also counts instructions and enforces the run's budget.
 *
 * @example
 * ```ts
 * const batches: TraceBatch[] = [];
 * const recorder = Recorder.attach(emu, { onBatch: (b) => batches.push(b) });
 * emu.run({ from: 0x1000n, until: 0x1040n });
 * recorder.detach();
 * ```
 */
import koffi from 'koffi';
import { nativeRecorder, FlushCallback } from './native.ts';
import { UC_HOOK } from './constants.ts';
import { CodeCallback, MemoryCallback } from './ffi.ts';
import { u64 } from './ffi.ts';
import { pcRegister, registersOf, registerMask, unicornRegisterId, type RegisterName } from './registers.ts';
import type { Emulator, RunObserver } from './emulator.ts';
import type { TraceBatch, TraceEvent, TraceEventInput } from '../traces/model.ts';
import type { TraceSink } from '../traces/sink.ts';
import type { HookId } from './hooks.ts';
import { RegisterBatch } from './register-batch.ts';

/** What to record; registers and memory default to on. */
export interface RecordOptions {
  registers?: boolean;
  memory?: boolean;
  /** Instructions per batch (default 65 536). */
  batchSize?: number;
}

/** Receives batches as they fill (the arrays are the sink's to keep): the trace layer's sink. */
export type BatchSink = TraceSink;

/** Column arrays shared by both backends. */
interface Columns {
  pc: BigUint64Array; size: Uint8Array; regStart: Uint32Array; regIndex: Uint8Array; regValue: BigUint64Array;
  memStart: Uint32Array; memKind: Uint8Array; memAddress: BigUint64Array; memSize: Uint8Array; memValue: BigUint64Array;
  counts: Uint32Array;
}

export class Recorder implements RunObserver {
  readonly registers: RegisterName[];
  private sequence = 0;
  private readonly seenCode = new AddressSet();
  private pendingEvents: TraceEvent[] = [];
  private backend!: Backend;

  private constructor(
    private readonly emu: Emulator,
    private readonly sink: BatchSink,
    options: RecordOptions,
  ) {
    // The pc has its own column; bases and thread pointers are read-mostly and slow to read.
    const skip = new Set<RegisterName>([pcRegister(emu.arch), 'fs_base', 'gs_base', 'tpidr_el0']);
    this.registers = registersOf(emu.arch).filter((r) => !skip.has(r));
    const batchSize = options.batchSize ?? 65_536;
    const want = { registers: options.registers ?? true, memory: options.memory ?? true };
    this.backend = NativeBackend.create(emu, this.registers, batchSize, want, () => this.drain())
      ?? new JsBackend(emu, this.registers, batchSize, want, () => this.drain());
  }

  /** Starts recording every later run of `emu` into `sink`. */
  static attach(emu: Emulator, sink: BatchSink, options: RecordOptions = {}): Recorder {
    const recorder = new Recorder(emu, sink, options);
    emu.setObserver(recorder);
    emu.flushTranslations();
    return recorder;
  }

  /** True when the native (C) backend records. */
  get native(): boolean {
    return this.backend instanceof NativeBackend;
  }

  /** Adds an event (trap, stop, injected fault) at the current position. */
  addEvent(event: TraceEventInput): void {
    this.pendingEvents.push({ ...event, index: event.index ?? Math.max(0, this.sequence - 1) } as TraceEvent);
  }

  begin(limit: number): void { this.backend.begin(limit); }
  finish(): void {
    this.backend.finish();
    this.flushEvents();
  }

  /** Hands events added since the last batch to the sink (in a batch of no instructions). */
  flushEvents(): void {
    if (this.pendingEvents.length) this.emitEmpty();
  }
  executed(): number { return this.backend.executed(); }
  stoppedByLimit(): boolean { return this.backend.stoppedByLimit(); }

  /** Stops recording and releases the hooks. */
  detach(): void {
    this.emu.setObserver(undefined);
    this.backend.dispose();
    this.emu.flushTranslations();
  }

  private emitEmpty(): void {
    const empty = (n: number) => new Uint32Array(n);
    this.sink.onBatch({
      count: 0, first: this.sequence, pc: new BigUint64Array(0), size: new Uint8Array(0),
      regStart: empty(1), regIndex: new Uint8Array(0), regValue: new BigUint64Array(0),
      memStart: empty(1), memKind: new Uint8Array(0), memAddress: new BigUint64Array(0),
      memSize: new Uint8Array(0), memValue: new BigUint64Array(0), code: new Map(), events: this.takeEvents(),
    });
  }

  private takeEvents(): TraceEvent[] {
    const events = this.pendingEvents;
    this.pendingEvents = [];
    return events;
  }

  /** Copies the filled part of the columns into a batch and hands it to the sink. */
  private drain(): void {
    const c = this.backend.columns;
    const n = c.counts[0]!;
    const regs = c.counts[1]!;
    const mems = c.counts[2]!;
    if (n === 0) return;
    const pc = c.pc.slice(0, n);
    const size = c.size.slice(0, n);
    const code = new Map<bigint, Uint8Array>();
    const halves = new Uint32Array(pc.buffer, pc.byteOffset, n * 2);
    for (let i = 0; i < n; i++) {
      if (size[i] === 0) continue; // an instruction Unicorn could not decode: no bytes to keep
      if (!this.seenCode.add(halves[2 * i]!, halves[2 * i + 1]!)) continue;
      const address = pc[i]!;
      try {
        code.set(address, this.emu.read(address, size[i]!).slice());
      } catch {
        // The page was unmapped after the run (never in practice); bytes stay absent.
      }
    }
    const batch: TraceBatch = {
      count: n, first: this.sequence, pc, size,
      regStart: c.regStart.slice(0, n + 1), regIndex: c.regIndex.slice(0, regs), regValue: c.regValue.slice(0, regs),
      memStart: c.memStart.slice(0, n + 1), memKind: c.memKind.slice(0, mems), memAddress: c.memAddress.slice(0, mems),
      memSize: c.memSize.slice(0, mems), memValue: c.memValue.slice(0, mems),
      code, events: [],
    };
    this.sequence += n;
    batch.events = this.takeEvents();
    this.sink.onBatch(batch);
  }
}

/**
 * The instruction addresses whose bytes were already handed out. A Set of
 * bigints cost about a fifth of full-tracing time (a bigint hash and compare
 * per instruction); this open-addressing table over typed arrays takes each
 * address as its two 32-bit halves and allocates nothing per lookup.
 */
class AddressSet {
  private low = new Uint32Array(4096);
  private high = new Uint32Array(4096);
  private used = new Uint8Array(4096);
  private shift = 32 - 12;
  private size = 0;

  /** Adds the address `high:low`; true when it was not there yet. */
  add(low: number, high: number): boolean {
    const mask = this.used.length - 1;
    // Fibonacci hashing takes the product's top bits: the low bits of aligned addresses are all alike.
    let slot = Math.imul(low ^ Math.imul(high, 0x85ebca6b), 0x9e3779b1) >>> this.shift;
    while (this.used[slot]) {
      if (this.low[slot] === low && this.high[slot] === high) return false;
      slot = (slot + 1) & mask;
    }
    this.used[slot] = 1;
    this.low[slot] = low;
    this.high[slot] = high;
    if (++this.size * 2 > this.used.length) this.grow();
    return true;
  }

  private grow(): void {
    const { low, high, used } = this;
    this.low = new Uint32Array(used.length * 2);
    this.high = new Uint32Array(used.length * 2);
    this.used = new Uint8Array(used.length * 2);
    this.shift--;
    this.size = 0;
    for (let i = 0; i < used.length; i++) if (used[i]) this.add(low[i]!, high[i]!);
  }
}

interface Backend extends RunObserver {
  columns: Columns;
  dispose(): void;
}

const FIELDS = ['pc', 'size', 'regStart', 'regIndex', 'regValue', 'memStart', 'memKind', 'memAddress', 'memSize', 'memValue', 'counts'] as const;
const ARRAY_TYPES = [BigUint64Array, Uint8Array, Uint32Array, Uint8Array, BigUint64Array, Uint32Array, Uint8Array, BigUint64Array, Uint8Array, BigUint64Array, Uint32Array];

/** C hooks fill a block that JavaScript views in place. */
class NativeBackend implements Backend {
  columns!: Columns;
  private constructor(
    private readonly lib: NonNullable<ReturnType<typeof nativeRecorder>>,
    private readonly handle: unknown,
    private readonly flushCallback: ReturnType<typeof koffi.register>,
  ) {
    const block = koffi.view(lib.ft_recorder_base(handle), Number(lib.ft_recorder_block_size(handle)));
    const offsets = FIELDS.map((_, i) => Number(lib.ft_recorder_offset(handle, i)));
    const ends = [...offsets.slice(1), block.byteLength];
    this.columns = Object.fromEntries(FIELDS.map((name, i) => {
      const Type = ARRAY_TYPES[i]!;
      return [name, new Type(block, offsets[i]!, (ends[i]! - offsets[i]!) / Type.BYTES_PER_ELEMENT)];
    })) as unknown as Columns;
  }

  static create(
    emu: Emulator, registers: RegisterName[], batchSize: number,
    want: { registers: boolean; memory: boolean }, drain: () => void,
  ): NativeBackend | undefined {
    const lib = nativeRecorder();
    if (!lib) return undefined;
    const ids = Int32Array.from(registers, (r) => unicornRegisterId(emu.arch, r)!);
    const flush = koffi.register(() => drain(), koffi.pointer(FlushCallback));
    const handle = lib.ft_recorder_new(emu.engine, ids, ids.length, registerMask(emu.arch), batchSize, flush, want.registers ? 1 : 0, want.memory ? 1 : 0);
    if (!handle) {
      koffi.unregister(flush);
      return undefined;
    }
    return new NativeBackend(lib, handle, flush);
  }

  begin(limit: number): void { this.lib.ft_recorder_begin(this.handle, BigInt(limit)); }
  finish(): void { this.lib.ft_recorder_finish(this.handle); }
  executed(): number { return Number(this.lib.ft_recorder_executed(this.handle)); }
  stoppedByLimit(): boolean { return this.lib.ft_recorder_stopped_by_limit(this.handle) !== 0; }
  dispose(): void {
    this.lib.ft_recorder_free(this.handle);
    koffi.unregister(this.flushCallback);
  }
}

/** The same columns filled from JavaScript hooks: correct everywhere, about twelve times slower. */
class JsBackend implements Backend {
  columns: Columns;
  private readonly hookIds: HookId[] = [];
  private prev: bigint[] = [];
  private havePrev = false;
  private count = 0;
  private limit = 0;
  private limitHit = false;
  private readonly capacity: number;
  private readonly regCapacity: number;
  private readonly memCapacity: number;
  private readonly batch: RegisterBatch;

  constructor(
    private readonly emu: Emulator, private readonly registers: RegisterName[], batchSize: number,
    private readonly want: { registers: boolean; memory: boolean }, private readonly drain: () => void,
  ) {
    this.capacity = batchSize;
    this.regCapacity = batchSize * registers.length;
    this.memCapacity = batchSize * 4 + 64;
    this.batch = new RegisterBatch(emu, registers);
    this.columns = {
      pc: new BigUint64Array(batchSize), size: new Uint8Array(batchSize), regStart: new Uint32Array(batchSize + 1),
      regIndex: new Uint8Array(this.regCapacity), regValue: new BigUint64Array(this.regCapacity),
      memStart: new Uint32Array(batchSize + 1), memKind: new Uint8Array(this.memCapacity),
      memAddress: new BigUint64Array(this.memCapacity), memSize: new Uint8Array(this.memCapacity),
      memValue: new BigUint64Array(this.memCapacity), counts: new Uint32Array(4),
    };
    this.hookIds.push(emu.hooks.add(UC_HOOK.CODE, CodeCallback, (_uc, address: number | bigint, size: number) => this.onCode(u64(address), size)));
    if (want.memory) {
      const onMemory = (kind: number) => (_uc: unknown, _type: number, address: number | bigint, size: number, value: number | bigint) =>
        this.onMemory(kind, u64(address), size, BigInt.asUintN(size * 8, BigInt(value)));
      this.hookIds.push(emu.hooks.add(UC_HOOK.MEM_READ_AFTER, MemoryCallback, onMemory(0)));
      this.hookIds.push(emu.hooks.add(UC_HOOK.MEM_WRITE, MemoryCallback, onMemory(1)));
    }
  }

  private flushIfNeeded(force: boolean): void {
    const c = this.columns.counts;
    if (force || c[0]! >= this.capacity || c[1]! + this.registers.length > this.regCapacity || c[2]! + 64 > this.memCapacity) {
      if (c[0]! > 0) this.drain();
      c[0] = c[1] = c[2] = 0;
      this.columns.regStart[0] = 0;
      this.columns.memStart[0] = 0;
    }
  }

  private diffRegisters(): void {
    const c = this.columns;
    let n = c.counts[1]!;
    const now = Array.from(this.batch.read());
    if (this.havePrev && c.counts[0]! > 0) {
      for (let i = 0; i < now.length; i++) {
        if (now[i] !== this.prev[i]) {
          c.regIndex[n] = i;
          c.regValue[n] = now[i]!;
          n++;
        }
      }
    }
    this.prev = now;
    this.havePrev = true;
    c.counts[1] = n;
    c.regStart[c.counts[0]!] = n;
  }

  private onCode(address: bigint, size: number): void {
    if (this.limit && this.count >= this.limit) {
      this.limitHit = true;
      this.emu.requestStop();
      return;
    }
    this.count++;
    const c = this.columns;
    if (this.want.registers) this.diffRegisters();
    else c.regStart[c.counts[0]!] = c.counts[1]!;
    this.flushIfNeeded(false);
    const i = c.counts[0]!;
    c.pc[i] = address;
    c.size[i] = size > 16 ? 0 : size; // 0xf1f1f1f1 for an instruction Unicorn cannot decode
    c.memStart[i] = c.counts[2]!;
    c.counts[0] = i + 1;
    c.regStart[i + 1] = c.counts[1]!;
    c.memStart[i + 1] = c.counts[2]!;
  }

  private onMemory(kind: number, address: bigint, size: number, value: bigint): void {
    const c = this.columns;
    const n = c.counts[2]!;
    if (n >= this.memCapacity || c.counts[0] === 0) return;
    c.memKind[n] = kind;
    c.memAddress[n] = address;
    c.memSize[n] = size;
    c.memValue[n] = value;
    c.counts[2] = n + 1;
    c.memStart[c.counts[0]!] = n + 1;
  }

  begin(limit: number): void {
    this.limit = limit;
    this.count = 0;
    this.limitHit = false;
    this.havePrev = false;
  }
  finish(): void {
    if (this.want.registers && this.columns.counts[0]! > 0) this.diffRegisters();
    this.flushIfNeeded(true);
  }
  executed(): number { return this.count; }
  stoppedByLimit(): boolean { return this.limitHit; }
  dispose(): void {
    for (const id of this.hookIds) this.emu.hooks.remove(id);
    this.batch.dispose();
  }
}
