/**
 * Replays a window of code over a dump, faithfully or with one injected
 * fault, on one emulator reused across runs (snapshot at the window start,
 * restore between runs: only dirtied pages are rewritten). Calls into code
 * the dump lacks are stepped over with an effect the user states.
 *
 * @example
 * ```ts
 * const replayer = new Replayer(dump, { start: 0x80a5d8e6n, registers, maxInstructions: 64 });
 * const faithful = replayer.run();
 * const flipped = replayer.run({ kind: 'target-bit', at: 0x80a5d8f6n, bit: 2 });
 * replayer.dispose();
 * ```
 */
import type { Emulator } from '../../emu/emulator.ts';
import { pcRegister, registersOf, spRegister, registerMask, type RegisterName, type RegisterValues } from '../../emu/registers.ts';
import type { RunResult } from '../../emu/run-result.ts';
import type { Snapshot } from '../../emu/snapshot.ts';
import type { Dump } from '../dumps/model.ts';
import { machineFor } from './machine.ts';

/** A fault injected into a replay. Instruction indexes count from the window start (0). */
export type Injection =
  /** The transfer at `at` goes to its computed target with `bit` flipped. */
  | { kind: 'target-bit'; at: bigint; bit: number }
  /** Before instruction `index` executes, `register` has `bit` flipped. */
  | { kind: 'register-bit'; index: number; register: RegisterName; bit: number }
  /** The value instruction `index` reads at `address` (`size` bytes) arrives with `bit` flipped. */
  | { kind: 'load-bit'; index: number; address: bigint; size: number; bit: number };

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
  registers: RegisterValues;
  /** Budget for one run; a window is short, so this is small. */
  maxInstructions: number;
  /** Stop when the pc reaches this address; otherwise the run ends at a trap, a fault or the budget. */
  until?: bigint;
  stepOvers?: StepOver[];
}

export interface ReplayOutcome {
  injection?: Injection;
  result: RunResult;
  final: RegisterValues;
  /** Memory the run wrote: the last value of each written byte. */
  written: Map<bigint, number>;
  /** False when the run ended before reaching the injection point. */
  injected: boolean;
  /** Step-over points applied, in order. */
  steppedOver: bigint[];
  /** The flipped value: what it was and what the injection made it. */
  flipped?: { from: bigint; to: bigint };
}

/** Registers a replay reads back and compares: the architecture's, less selectors and bases. */
export function comparedRegisters(dump: Dump): RegisterName[] {
  const skip = new Set<RegisterName>(['cs', 'ss', 'ds', 'es', 'fs', 'gs', 'fs_base', 'gs_base', 'tpidr_el0']);
  return registersOf(dump.arch).filter((r) => !skip.has(r));
}

export class Replayer {
  readonly emu: Emulator;
  private readonly snapshot: Snapshot;
  private readonly written = new Map<bigint, number>();
  private readonly names: RegisterName[];
  private steppedOver: bigint[] = [];
  /** Path positions at which the traced run applied a step-over. */
  private stepMarks: number[] = [];
  /** The path being recorded by `runTraced`. */
  private tracing?: bigint[];

  constructor(
    readonly dump: Dump,
    readonly window: ReplayWindow,
  ) {
    const arch = dump.arch;
    this.emu = machineFor(dump, { ...window.registers, [pcRegister(arch)]: window.start });
    this.names = comparedRegisters(dump);
    this.emu.onMemory('write', (address, size, value) => {
      for (let i = 0; i < size; i++) this.written.set(address + BigInt(i), Number((value >> BigInt(8 * i)) & 0xffn));
    });
    for (const step of window.stepOvers ?? []) {
      this.emu.onInstructionAt(step.address, () => {
        // The call's push and the callee's ret cancel out; the callee also pops its arguments.
        const sp = spRegister(arch);
        this.emu.writeRegister(sp, (this.emu.readRegister(sp) + step.popBytes) & registerMask(arch));
        this.emu.writeRegisters(step.registers);
        this.emu.writeRegister(pcRegister(arch), step.address + BigInt(step.size));
        this.steppedOver.push(step.address);
        if (this.tracing) this.stepMarks.push(this.tracing.length);
      });
    }
    this.snapshot = this.emu.snapshot();
  }

  /** Runs the window from its start, with `injection` if given. */
  run(injection?: Injection): ReplayOutcome {
    const emu = this.emu;
    emu.restore(this.snapshot);
    this.written.clear();
    this.steppedOver = [];
    const budget = this.window.maxInstructions;
    let flipped: ReplayOutcome['flipped'];
    const finish = (result: RunResult, injected: boolean): ReplayOutcome => ({
      injection, result, final: emu.readRegisters(this.names), written: new Map(this.written), injected, steppedOver: this.steppedOver, flipped,
    });
    const mask = registerMask(this.dump.arch);
    const rest = () => emu.run({ until: this.window.until, maxInstructions: budget, timeoutMs: 2000 });

    if (!injection) return finish(rest(), false);
    if (injection.kind === 'target-bit') {
      // Unicorn runs straight past an `until` equal to where it starts, so a window that starts at the transfer skips this.
      if (this.window.start !== injection.at) {
        const before = emu.run({ until: injection.at, maxInstructions: budget, timeoutMs: 2000 });
        if (before.kind !== 'reached' || before.pc !== injection.at) return finish(before, false);
      }
      const step = emu.run({ count: 1, maxInstructions: budget, timeoutMs: 2000 });
      // Landing on code the dump lacks still means the transfer happened.
      const landed = step.kind === 'reached' || (step.kind === 'fault' && step.access === 'fetch' && step.pc !== injection.at);
      if (!landed) return finish(step, false);
      const pc = pcRegister(this.dump.arch);
      const target = emu.readRegister(pc);
      flipped = { from: target, to: (target ^ (1n << BigInt(injection.bit))) & mask };
      emu.writeRegister(pc, flipped.to);
      return finish(rest(), true);
    }
    if (injection.index > 0) {
      // A stepped-over call is not in the traced path (its hook moves the pc
      // first) but Unicorn counts it: add the ones before the injection point.
      const count = injection.index + this.stepMarks.filter((at) => at <= injection.index).length;
      const before = emu.run({ count, maxInstructions: budget, timeoutMs: 2000 });
      if (before.kind !== 'reached' || before.reason !== 'count') return finish(before, false);
    }
    const bit = 1n << BigInt(injection.bit);
    if (injection.kind === 'register-bit') {
      const value = emu.readRegister(injection.register);
      flipped = { from: value, to: (value ^ bit) & mask };
      emu.writeRegister(injection.register, flipped.to);
      return finish(rest(), true);
    }
    const original = emu.readValue(injection.address, injection.size);
    flipped = { from: original, to: original ^ bit };
    emu.writeValue(injection.address, injection.size, original ^ bit);
    const step = emu.run({ count: 1, maxInstructions: budget, timeoutMs: 2000 });
    // Put memory back unless the instruction itself wrote the location (xchg, add [m], …).
    if (emu.readValue(injection.address, injection.size) === (original ^ bit)) emu.writeValue(injection.address, injection.size, original);
    if (step.kind !== 'reached') return finish(step, true);
    return finish(rest(), true);
  }

  /**
   * The faithful run, instruction by instruction: each executed pc and every
   * memory read with the index of the instruction that made it. Slower than
   * `run` (a JavaScript hook per instruction); used once per window.
   */
  runTraced(): { outcome: ReplayOutcome; path: bigint[]; reads: Array<{ index: number; pc: bigint; address: bigint; size: number; value: bigint }> } {
    const path: bigint[] = [];
    const reads: Array<{ index: number; pc: bigint; address: bigint; size: number; value: bigint }> = [];
    const code = this.emu.onInstruction((address) => path.push(address));
    const read = this.emu.onMemory('read', (address, size, value) => {
      reads.push({ index: path.length - 1, pc: path[path.length - 1] ?? 0n, address, size, value });
    });
    this.tracing = path;
    this.stepMarks = [];
    try {
      return { outcome: this.run(), path, reads };
    } finally {
      this.tracing = undefined;
      this.emu.removeHook(code);
      this.emu.removeHook(read);
      this.emu.flushTranslations();
    }
  }

  dispose(): void {
    this.emu.dispose();
  }
}
