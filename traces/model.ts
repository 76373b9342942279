/**
 * The in-memory shape of a trace: what the emulator's recorder produces and
 * what the trace writer, reader and exporters consume. Instructions arrive in
 * columnar batches (typed arrays) so that recording allocates no object per
 * instruction; the reader can expand a batch into `TraceInstruction`s for
 * printing.
 *
 * @example
 * ```ts
 * for (const insn of instructionsOf(batch)) console.log(insn.pc.toString(16));
 * ```
 */
import type { Arch, RegisterName } from '../emu/registers.ts';

/** The trace header: written once, first. Every field may be absent in a file. */
export interface TraceHeader {
  /** Format version: 1 (a batch per instruction run) or 2 (blocks and checkpoints, FORMAT.md). */
  version: number;
  arch: Arch;
  /** Free text naming where the run came from (a dump path, images, a command line). */
  source?: string;
  /** The register order used by `TraceBatch.regIndex`. */
  registers: RegisterName[];
  /** Version 2: the registers of each checkpoint, in order (`registers`, then the pc). */
  checkpoint?: RegisterName[];
  /** Every register at the start of the run. */
  startRegisters: Partial<Record<RegisterName, bigint>>;
  /** Human-readable description of the memory source (images, dump). */
  memory?: string;
  /** ISO time the trace was started. */
  created?: string;
  /**
   * What executed the recorded run (`faultline record`): `cpu` (ptrace single-step of the real CPU) or an emulator
   * such as `qemu-i386` or `qemu-aarch64` (stepped through its gdbstub: a second emulator, not a CPU).
   */
  engine?: string;
}

/** Why something was recorded outside the per-instruction columns. */
export type TraceEvent =
  | { kind: 'trap'; index: number; vector: number; pc: bigint; /** As an engineer says it: `int 3`, `brk`, `syscall`. */ name?: string }
  | { kind: 'fault'; index: number; address: bigint; access: 'read' | 'write' | 'fetch'; pc: bigint; reason: string }
  | { kind: 'stop'; index: number; reason: string; pc: bigint }
  | { kind: 'injected'; index: number; description: string }
  /** A recorded run's sync point: an instruction whose result the CPU or the kernel chose (`syscall`, `rdtsc`, `cpuid`, `rdrand`); its register changes are that result. */
  | { kind: 'sync'; index: number; pc: bigint; name: string }
  /**
   * A signal stopped a recorded program at pc (a fault there, or one sent to it), or was delivered to its handler;
   * `index` is the last instruction before it; `registers` what the kernel changed without an instruction (entering the handler).
   */
  | { kind: 'signal'; index: number; pc: bigint; signal: number; name: string; registers?: Array<[RegisterName, bigint]> }
  /**
   * A recorded run's memory, as the kernel made it (`faultline record`): a mapping that appeared (`map`, zero-filled,
   * `protection` like `r-x`), went away (`unmap`), or bytes the kernel wrote (`write`: the image's content, a `read`'s
   * buffer, a signal frame). It applies after instruction `index`, or before the first instruction when `start` is set
   * (the initial image).
   */
  | { kind: 'memory'; index: number; start?: boolean; action: 'map' | 'unmap' | 'write'; address: bigint; size: bigint; protection?: string; bytes?: Uint8Array };

/**
 * A run of consecutive instructions in columnar form. `index` fields are
 * positions in this batch. `regStart[i]..regStart[i+1]` are the register
 * changes made by instruction i (the values after it executed);
 * `memStart[i]..memStart[i+1]` its memory accesses.
 */
export interface TraceBatch {
  /** Number of instructions in the batch. */
  count: number;
  /** Sequence number of the first instruction in the whole trace. */
  first: number;
  pc: BigUint64Array;
  size: Uint8Array;
  regStart: Uint32Array;
  regIndex: Uint8Array;
  regValue: BigUint64Array;
  memStart: Uint32Array;
  /** 0 = read, 1 = write. */
  memKind: Uint8Array;
  memAddress: BigUint64Array;
  memSize: Uint8Array;
  memValue: BigUint64Array;
  /** Instruction bytes first seen in this batch, by address. */
  code: Map<bigint, Uint8Array>;
  events: TraceEvent[];
}

/** One memory access of one instruction. */
export interface MemoryAccess {
  kind: 'read' | 'write';
  address: bigint;
  size: number;
  value: bigint;
}

/** One instruction expanded from a batch, for printing. */
export interface TraceInstruction {
  /** Sequence number in the whole trace. */
  index: number;
  pc: bigint;
  size: number;
  bytes?: Uint8Array;
  changed: Array<[RegisterName, bigint]>;
  memory: MemoryAccess[];
  events: TraceEvent[];
}

/** An event before it is given its position (`index`) in the trace. */
export type TraceEventInput = TraceEvent extends infer E ? (E extends TraceEvent ? Omit<E, 'index'> & { index?: number } : never) : never;

/** A distinct basic block of a version-2 trace: its address, bytes and instruction sizes. */
export interface TraceBlock {
  id: number;
  pc: bigint;
  bytes: Uint8Array;
  sizes: Uint8Array;
}

/**
 * A version-2 batch as stored: the blocks run (ids), every memory access in
 * order, and the checkpoint registers before its first and after its last
 * instruction. Every block runs whole except the last (`lastCount`). Block
 * ids and accesses are compact byte streams (FORMAT.md; `accesses.ts` reads
 * them); `traces/replay.ts` rebuilds the per-instruction `TraceBatch`.
 */
export interface TraceBlockBatch {
  first: number;
  count: number;
  /** Block ids as LEB128 varints, `blockCount` of them. */
  blocks: Uint8Array;
  blockCount: number;
  lastCount: number;
  /** Memory accesses, `accesses` of them: kind and size byte, zigzag varint address delta, varint value. */
  memory: Uint8Array;
  accesses: number;
  start: BigUint64Array;
  end: BigUint64Array;
  /** Blocks first stored with this batch. */
  newBlocks: TraceBlock[];
  /**
   * The run ended inside this batch's last instruction by a fault, trap or
   * error: its register state at the end checkpoint is as Unicorn left it,
   * whose x86 flags are stale after a fault (they are not kept per instruction).
   * `invalid`: a trap on an instruction Unicorn could not decode (its size reads as 0, as Unicorn reports it).
   */
  stop?: 'fault' | 'trapped' | 'invalid' | 'error';
  events: TraceEvent[];
}
