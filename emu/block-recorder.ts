/**
 * The fast full trace: records each executed basic block (an id into a
 * table of distinct blocks), every memory access, and the registers only at
 * checkpoints (before a batch's first block and after its last
 * instruction). Per-instruction pcs and register changes are rebuilt when
 * the trace is read, by replaying a batch from its start registers over the
 * memory its reads recorded (`traces/replay.ts`). Native only: without the
 * C library, callers use `Recorder` (one hook per instruction).
 *
 * A sink's `onBlocks` sees views of the native buffers, valid only during
 * the call: the trace writer encodes them straight into the file.
 *
 * @example
 * ```ts
 * const recorder = BlockRecorder.attach(emu, { decode: sizesOf, sink: { onBlocks: (b) => writer.writeBlocks(b) } });
 * emu.run({ from: 0x401000n, count: 1000 });
 * recorder.detach();
 * ```
 */
import koffi from 'koffi';
import { FlushCallback, NewBlockCallback, nativeBlockRecorder, type NativeBlockLibrary } from './native.ts';
import { u64 } from './ffi.ts';
import { pcRegister, registerMask, registersOf, unicornRegisterId, type Arch, type RegisterName } from './registers.ts';
import type { Emulator, RunObserver } from './emulator.ts';
import type { RunResult } from './run-result.ts';
import { stateSaveLength } from './unicorn-quirks.ts';
import type { TraceBlock, TraceBlockBatch, TraceEvent, TraceEventInput } from '../traces/model.ts';

/** A distinct basic block: where it starts, its bytes and the size of each of its instructions. */
export type BlockInfo = TraceBlock;

/**
 * One batch of blocks. Every block runs whole except the last, which ran its
 * first `lastCount` instructions. `start` and `end` hold the checkpoint
 * registers in `checkpointRegisters` order (the pc last).
 */
export type BlockBatch = TraceBlockBatch;

/** Receives batches; the typed arrays are views valid only during the call. */
export interface BlockSink {
  onBlocks(batch: BlockBatch): void;
}

/** Instruction sizes of the code `bytes` at `address`, in order (stopping where the bytes stop decoding). */
export type BlockDecoder = (bytes: Uint8Array, address: bigint) => Uint8Array;

export interface BlockRecordOptions {
  sink: BlockSink;
  /** Needed on x86 and x64 (instruction lengths vary); AArch64 instructions are 4 bytes. */
  decode?: BlockDecoder;
  memory?: boolean;
  /** Blocks per batch (default 32 768). */
  batchBlocks?: number;
  /** Bytes of compact memory accesses per batch before it is flushed early (default 4 MiB). */
  batchMemoryBytes?: number;
}

/** The registers a checkpoint holds, in order: the per-instruction recorder's list, then the pc. */
export function checkpointRegisters(arch: Arch): RegisterName[] {
  const skip = new Set<RegisterName>([pcRegister(arch), 'fs_base', 'gs_base', 'tpidr_el0']);
  return [...registersOf(arch).filter((r) => !skip.has(r)), pcRegister(arch)];
}

const FIELDS = ['blocks', 'memory', 'start', 'end', 'counts'] as const;
const TYPES = [Uint8Array, Uint8Array, BigUint64Array, BigUint64Array, Uint32Array];

interface Views {
  blocks: Uint8Array; memory: Uint8Array; start: BigUint64Array; end: BigUint64Array;
  /** [0] blocks, [1] accesses, [2] instructions, [3] flags, [4] bytes of blocks, [5] bytes of memory. */
  counts: Uint32Array;
}

export class BlockRecorder implements RunObserver {
  /** Checkpoint register order; the per-instruction registers are all but the last (the pc). */
  readonly registers: RegisterName[];
  private readonly views: Views;
  private readonly table: BlockInfo[] = [];
  private fresh: BlockInfo[] = [];
  private sequence = 0;
  private pendingEvents: TraceEvent[] = [];
  private lastCount: number | undefined;
  /** Instructions of the last block that did not run (known once settled, applied in C by finish). */
  private cutBy = 0;
  private callbackError: unknown;
  private tail = false;
  private stop: BlockBatch['stop'];

  private constructor(
    private readonly emu: Emulator,
    private readonly lib: NativeBlockLibrary,
    private readonly handle: unknown,
    private readonly callbacks: Array<ReturnType<typeof koffi.register>>,
    registers: RegisterName[],
    private readonly sink: BlockSink,
  ) {
    this.registers = registers;
    const block = koffi.view(lib.ft_blocks_base(handle), Number(lib.ft_blocks_block_size(handle)));
    const offsets = FIELDS.map((_, i) => Number(lib.ft_blocks_offset(handle, i)));
    const ends = [...offsets.slice(1), block.byteLength];
    this.views = Object.fromEntries(FIELDS.map((name, i) => {
      const Type = TYPES[i]!;
      return [name, new Type(block, offsets[i]!, (ends[i]! - offsets[i]!) / Type.BYTES_PER_ELEMENT)];
    })) as unknown as Views;
  }

  /** Records every later run of `emu`, or returns undefined when the native library lacks the block recorder. */
  static attach(emu: Emulator, options: BlockRecordOptions): BlockRecorder | undefined {
    const lib = nativeBlockRecorder();
    if (!lib) return undefined;
    const decode = options.decode ?? (emu.arch === 'arm64' ? fixedWidth : undefined);
    if (!decode) throw new Error(`Block recording on ${emu.arch} needs an instruction decoder`);
    const registers = checkpointRegisters(emu.arch);
    const ids = Int32Array.from(registers, (r) => unicornRegisterId(emu.arch, r)!);
    let recorder: BlockRecorder | undefined;
    const flush = koffi.register(() => recorder!.drain(), koffi.pointer(FlushCallback));
    const newBlock = koffi.register((id: number, pc: number | bigint, size: number) => recorder!.decodeBlock(id, u64(pc), size, decode), koffi.pointer(NewBlockCallback));
    const handle = lib.ft_blocks_new(
      emu.engine, ids, ids.length, registerMask(emu.arch), options.batchBlocks ?? 32_768, options.batchMemoryBytes ?? 4 << 20,
      flush, newBlock, options.memory === false ? 0 : 1,
    );
    if (!handle) {
      koffi.unregister(flush);
      koffi.unregister(newBlock);
      return undefined;
    }
    recorder = new BlockRecorder(emu, lib, handle, [flush, newBlock], registers, options.sink);
    emu.setObserver(recorder);
    emu.flushTranslations();
    return recorder;
  }

  /** The distinct blocks recorded so far, by id. */
  get blocks(): readonly BlockInfo[] {
    return this.table;
  }

  /** Adds an event (trap, stop) at the current position. */
  addEvent(event: TraceEventInput): void {
    this.pendingEvents.push({ ...event, index: event.index ?? Math.max(0, this.sequence - 1) } as TraceEvent);
  }

  /** Hands events added since the last batch to the sink (in a batch of no blocks). */
  flushEvents(): void {
    if (!this.pendingEvents.length) return;
    const empty = new BigUint64Array(0);
    this.sink.onBlocks({
      first: this.sequence, count: 0, blocks: new Uint8Array(0), blockCount: 0, lastCount: 0, memory: new Uint8Array(0), accesses: 0,
      start: empty, end: empty, newBlocks: this.takeFresh(), events: this.takeEvents(),
    });
  }

  begin(limit: number): void {
    this.lastCount = undefined;
    this.cutBy = 0;
    this.tail = false;
    this.stop = undefined;
    this.lib.ft_blocks_begin(this.handle, BigInt(limit));
  }

  limitStopPc(): bigint | undefined {
    return this.stoppedByLimit() ? BigInt(this.lib.ft_blocks_stop_pc(this.handle)) : undefined;
  }

  takeOwed(): number {
    const owed = Number(this.lib.ft_blocks_take_owed(this.handle));
    if (owed > 0) this.tail = true;
    return owed;
  }

  /**
   * Resolves the last block from where the run ended: a fault, trap or
   * count stop inside it means only the instructions before the pc ran
   * (and the one at the pc, when it faulted or trapped while running).
   */
  settle(result: RunResult): void {
    if (this.views.counts[0] === 0) return;
    const last = this.table[Number(this.lib.ft_blocks_last(this.handle))]!;
    const full = last.sizes.length || 1;
    if (result.kind === 'fault' || result.kind === 'error') this.stop = result.kind;
    if (result.kind === 'trapped') this.stop = result.name === 'invalid instruction' ? 'invalid' : 'trapped';
    const cut = this.tail || this.stop !== undefined;
    if (!cut || result.pc < last.pc || result.pc >= last.pc + BigInt(last.bytes.length)) return;
    const offset = Number(result.pc - last.pc);
    let at = 0;
    let count = 0;
    while (count < last.sizes.length && at < offset) at += last.sizes[count++]!;
    const ranAtPc = at === offset && count < full && (result.kind === 'trapped' || result.kind === 'error' || (result.kind === 'fault' && result.access !== 'fetch'));
    this.lastCount = Math.min(full, count + (ranAtPc ? 1 : 0));
    this.cutBy = full - this.lastCount;
  }

  finish(): void {
    const last = this.views.counts[0] ? this.table[Number(this.lib.ft_blocks_last(this.handle))] : undefined;
    this.lib.ft_blocks_finish(this.handle, this.lastCount ?? (last ? last.sizes.length || 1 : 0));
    this.cutBy = 0;
    this.flushEvents();
    if (this.callbackError !== undefined) {
      const error = this.callbackError;
      this.callbackError = undefined;
      throw error;
    }
  }

  executed(): number { return Number(this.lib.ft_blocks_executed(this.handle)) - this.cutBy; }
  stoppedByLimit(): boolean { return this.lib.ft_blocks_stopped_by_limit(this.handle) !== 0; }

  /** Stops recording and releases the hooks. */
  detach(): void {
    this.emu.setObserver(undefined);
    this.lib.ft_blocks_free(this.handle);
    for (const callback of this.callbacks) koffi.unregister(callback);
    this.emu.flushTranslations();
  }

  private decodeBlock(id: number, pc: bigint, size: number, decode: BlockDecoder): number {
    try {
      const read = this.emu.read(pc, size).slice();
      const { bytes, sizes } = this.withStateSave(pc, read, decode(read, pc));
      const info = { id, pc, bytes, sizes };
      this.table[id] = info;
      this.fresh.push(info);
      return sizes.length;
    } catch (error) {
      this.callbackError ??= error;
      this.table[id] = { id, pc, bytes: new Uint8Array(0), sizes: new Uint8Array(0) };
      return 1;
    }
  }

  /**
   * A block that ends at an XSAVE-family instruction (which the emulator
   * steps over, emu/unicorn-quirks.ts): Unicorn's block holds only the bytes
   * it decoded of it, so Capstone left it out. It is the block's last
   * instruction, kept with all its bytes and size 0, as the per-instruction
   * recorder keeps an instruction Unicorn could not decode.
   */
  private withStateSave(pc: bigint, bytes: Uint8Array, sizes: Uint8Array): { bytes: Uint8Array; sizes: Uint8Array } {
    if (this.emu.arch === 'arm64') return { bytes, sizes };
    let decoded = 0;
    for (let i = 0; i < sizes.length; i++) decoded += sizes[i]!;
    const lastAt = decoded - (sizes.length ? sizes[sizes.length - 1]! : 0);
    if (sizes.length && decoded === bytes.length && stateSaveLength(this.emu.arch, bytes.subarray(lastAt)) === sizes[sizes.length - 1]) {
      return { bytes, sizes: Uint8Array.of(...sizes.subarray(0, -1), 0) };
    }
    if (decoded >= bytes.length) return { bytes, sizes };
    const tail = this.emu.tryRead(pc + BigInt(decoded), 16);
    const length = stateSaveLength(this.emu.arch, tail);
    if (length === undefined) return { bytes, sizes };
    return { bytes: Uint8Array.of(...bytes.subarray(0, decoded), ...tail.subarray(0, length)), sizes: Uint8Array.of(...sizes, 0) };
  }

  private takeFresh(): BlockInfo[] {
    const fresh = this.fresh;
    this.fresh = [];
    return fresh;
  }

  private takeEvents(): TraceEvent[] {
    const events = this.pendingEvents;
    this.pendingEvents = [];
    return events;
  }

  /** Called from C when a batch is full or the run ended: the batch as views of the native buffers. */
  private drain(): void {
    try {
      const v = this.views;
      const count = v.counts[2]!;
      if (v.counts[3]) throw new Error(`The block recorder lost data (flags ${v.counts[3]}): a block made more memory accesses than a batch holds`);
      const n = this.registers.length;
      const lastBlock = this.table[Number(this.lib.ft_blocks_last(this.handle))]!;
      const full = lastBlock.sizes.length || 1;
      const batch: BlockBatch = {
        first: this.sequence, count, blocks: v.blocks.subarray(0, v.counts[4]!), blockCount: v.counts[0]!,
        // The C side counts the last block as settled: a batch flushed mid-run ends with a whole block.
        lastCount: this.lastCount ?? full,
        memory: v.memory.subarray(0, v.counts[5]!), accesses: v.counts[1]!,
        start: v.start.subarray(0, n), end: v.end.subarray(0, n),
        newBlocks: this.takeFresh(), events: [],
        ...(this.stop !== undefined && { stop: this.stop }),
      };
      this.stop = undefined;
      this.sequence += count;
      batch.events = this.takeEvents();
      this.sink.onBlocks(batch);
    } catch (error) {
      this.callbackError ??= error;
    }
  }
}

/** AArch64: every instruction is 4 bytes. */
function fixedWidth(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(Math.max(1, bytes.length >> 2)).fill(4);
}
