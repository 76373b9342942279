/**
 * The vocabulary of a replay (see replay.ts): the window it runs, the fault
 * it injects, each lane's run and the outcome merged from them, and what a
 * traced or stepwise run records besides.
 *
 * @example
 * ```ts
 * const window: ReplayWindow = { start, registers, unknown: new Set(['rbx']), maxInstructions: 64 };
 * const flip: Injection = { kind: 'target-bit', index: 12, bit: 2 };
 * ```
 */
import type { RegisterName, RegisterValues } from '../../emu/registers.ts';
import type { RunResult } from '../../emu/run-result.ts';

/** A fault injected into a replay. Instruction indexes count executed instructions from the window start (0). */
export type Injection =
  /** Instruction `index` (a transfer) runs, then the pc has `bit` flipped. */
  | { kind: 'target-bit'; index: number; bit: number }
  /** Before instruction `index` executes, `register` has `bit` flipped. */
  | { kind: 'register-bit'; index: number; register: RegisterName; bit: number }
  /** The value instruction `index` reads at `address` (`size` bytes) arrives with `bit` flipped; memory keeps its value. */
  | { kind: 'load-bit'; index: number; address: bigint; size: number; bit: number }
  /** Before instruction `index` executes, memory at `address` (`size` bytes) has `bit` flipped, and keeps it. */
  | { kind: 'memory-bit'; index: number; address: bigint; size: number; bit: number }
  /**
   * Instruction `index` (`size` bytes long) is not executed. `keep` are
   * registers only that instruction writes in the window: without it they
   * keep their start values, which are then the values the dump recorded.
   * `spShift`: the instruction moved the stack pointer by this much before
   * the window's anchor, whose stack pointer the dump pins: without it the
   * window started that much higher (a skipped `pop` leaves sp 8 lower).
   */
  | { kind: 'skip'; index: number; size: number; keep?: RegisterValues; spShift?: bigint }
  /** No fault: the run stops before instruction `index` (to see the state there). */
  | { kind: 'stop'; index: number }
  /** Instruction `index` accesses `address` instead of where its operands point, and faults there. */
  | { kind: 'access-fault'; index: number; address: bigint; access: 'read' | 'write' }
  /** Memory holds other bytes from the start (code as the module file has it, say). */
  | { kind: 'bytes'; address: bigint; bytes: Uint8Array };

/** The stated effect of a call into code the dump lacks: `--step-over ADDR:ret=0xc,eax=1`. */
export interface StepOver {
  /** Address of the call instruction. */
  address: bigint;
  /** Its length, so the replay continues after it. */
  size: number;
  /** Bytes of arguments the callee pops (stdcall); 0 for cdecl. */
  popBytes: bigint;
  /** Registers the callee leaves (e.g. eax=1). */
  registers: RegisterValues;
}

export interface ReplayWindow {
  start: bigint;
  /** Registers at the start. */
  registers: RegisterValues;
  /** Registers whose value at the start is unknown: each run gives them its fill. */
  unknown?: ReadonlySet<RegisterName>;
  /** Memory whose value at the start is unknown (the window overwrites it later): each run's fill. */
  unknownMemory?: ReadonlyArray<{ address: bigint; length: number }>;
  /** Budget for one run. */
  maxInstructions: number;
  /** Stop when the pc reaches this address; otherwise the run ends at a trap, a fault or the budget. */
  until?: bigint;
  stepOvers?: StepOver[];
  /** The faulting instruction: the outcome says whether the run executed it and went on (it did not fault there). */
  fault?: bigint;
  /**
   * The recorded fault's pc and the code selector the CPU ran with, when at
   * user level (the selector's low bits 3): the instruction there traps where
   * such a CPU refuses it (emu/user-level.ts), which Unicorn, at CPL 0, runs.
   */
  userLevel?: { pc: bigint; codeSelector: bigint };
  /**
   * Registers whose start value was solved from the anchor's stack pointer
   * (a frame pointer, by the unwind rule at the start): a skip that starts
   * the window higher (`spShift`) moves them with the stack pointer.
   */
  stackTied?: RegisterName[];
}

/** One engine's run. */
export interface RunOutcome {
  result: RunResult;
  final: RegisterValues;
  /** Memory the run wrote: the last value of each written byte. */
  written: Map<bigint, number>;
  /** False when the run ended before reaching the injection point. */
  injected: boolean;
  flipped?: { from: bigint; to: bigint };
  /** The run executed the window's faulting instruction and went on. */
  passedFault?: boolean;
}

export interface ReplayOutcome {
  injection?: Injection;
  runs: RunOutcome[];
  /** The first run's end; `resultKnown` says whether every run ended the same way. */
  result: RunResult;
  resultKnown: boolean;
  /** The first run's registers; `knownRegisters` are those every run agrees on. */
  final: RegisterValues;
  knownRegisters: ReadonlySet<RegisterName>;
  /** The first run's written bytes; `knownWritten` are those every run wrote with the same value. */
  written: Map<bigint, number>;
  knownWritten: ReadonlySet<bigint>;
  injected: boolean;
  /** The flipped value (first run) and whether every run flipped the same one. */
  flipped?: { from: bigint; to: bigint; known: boolean };
  /** Every run executed the window's faulting instruction without faulting there, and went on. */
  passedFault: boolean;
  /** Step-over points applied, in order (first run). */
  steppedOver: bigint[];
  /** x86 flags the first lane's instructions left undefined at its end: only from `runTraced` given the code to decode its path. */
  undefinedFlags?: bigint;
}

/** One memory read of a traced run: which instruction, where, how wide, what it read. */
export interface TracedRead {
  index: number;
  pc: bigint;
  address: bigint;
  size: number;
  value: bigint;
}

export interface TracedRun {
  outcome: ReplayOutcome;
  /** The pc of every executed instruction, in order (stepped-over calls are not in it). */
  path: bigint[];
  reads: TracedRead[];
  /** Every memory write: instruction index, address and size. */
  writes: Array<{ index: number; address: bigint; size: number }>;
}

/** One lane's run step by step (see `Replayer.runStepwise`). */
export interface SteppedLane {
  /** Each executed instruction with the registers just before it. */
  steps: Array<{ pc: bigint; size: number; before: RegisterValues }>;
  /** Every memory access, with the index of the step that made it; `value` is what was read or written. */
  accesses: Array<{ index: number; kind: 'read' | 'write'; address: bigint; size: number; value: bigint }>;
}
