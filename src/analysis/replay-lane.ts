/**
 * One lane of a replay: an engine whose unknown values (registers, memory)
 * all take one fill, a snapshot at the window's start, and the run of the
 * window from there with or without an injected fault. A `Replayer` runs
 * the same window on several lanes and merges what they end with.
 *
 * @example
 * ```ts
 * const lane = new Lane(dump, window, 'hash');
 * const run = lane.run({ kind: 'register-bit', index: 3, register: 'rax', bit: 7 }, comparedRegisters(dump));
 * run.result.kind; // 'fault', say
 * lane.dispose();
 * ```
 */
import type { Emulator } from '../../emu/emulator.ts';
import { fillBytes, type UnknownFill } from '../../emu/memory-source.ts';
import { pcRegister, spRegister, registerMask, type RegisterName, type RegisterValues } from '../../emu/registers.ts';
import type { RunResult } from '../../emu/run-result.ts';
import type { Snapshot } from '../../emu/snapshot.ts';
import type { Dump } from '../dumps/model.ts';
import { machineFor } from './machine.ts';
import type { Injection, ReplayWindow, RunOutcome } from './replay-types.ts';
import { transferFault, type FaultArrival, type LoggedWrite } from './transfer-fault.ts';
import { refuseAtUserLevel } from './user-level-replay.ts';

/** The fills of unknown values, one per lane, in lane order. */
export const FILLS: readonly UnknownFill[] = ['zeros', 'ones', 'hash'];

/** The value an unknown register takes in a run with `fill`. */
export function registerFill(fill: UnknownFill, register: RegisterName, mask: bigint): bigint {
  if (fill === 'zeros') return 0n;
  if (fill === 'ones') return mask;
  let h = 0xcbf29ce484222325n;
  for (const c of register) h = ((h ^ BigInt(c.charCodeAt(0))) * 0x100000001b3n) & 0xffff_ffff_ffff_ffffn;
  return (h ^ (h >> 29n)) & mask;
}

/** One engine, its fill, and the snapshot at the window start. */
export class Lane {
  readonly emu: Emulator;
  readonly snapshot: Snapshot;
  readonly written = new Map<bigint, number>();
  steppedOver: bigint[] = [];
  /** Path positions at which the traced run applied a step-over. */
  stepMarks: number[] = [];
  /** The path of the traced run while it runs (see Replayer.runTraced), for `stepMarks`. */
  tracing?: bigint[];
  /** Times the run arrived at the faulting instruction. */
  faultVisits = 0;
  /** x86-64: every write in order, and the registers and log length at the latest arrival at the faulting instruction. */
  private readonly writeLog: LoggedWrite[] = [];
  private atFault?: FaultArrival;
  private names: RegisterName[] = [];
  private readonly logWrites: boolean;
  /** The latest write the hook reported (size 0: none yet), and what `written` held for its bytes before it (-1: nothing). */
  private readonly lastWrite = { address: 0n, size: 0, before: new Array<number>(64).fill(-1) };

  constructor(readonly dump: Dump, readonly window: ReplayWindow, readonly fill: UnknownFill) {
    const arch = dump.arch;
    const mask = registerMask(arch);
    this.logWrites = arch === 'x64' && window.fault !== undefined;
    const registers: RegisterValues = { ...window.registers, [pcRegister(arch)]: window.start };
    for (const name of window.unknown ?? []) registers[name] = registerFill(fill, name, name === 'efl' ? 0x8d5n : name === 'nzcv' ? 0xf000_0000n : mask) | (name === 'efl' ? 0x202n : 0n);
    this.emu = machineFor(dump, registers, { fill });
    try {
      for (const range of window.unknownMemory ?? []) {
        if (this.emu.pageIn(range.address, range.length)) this.emu.write(range.address, fillBytes(fill, range.address, range.length));
      }
      const logWrites = this.logWrites;
      this.emu.onMemory('write', (address, size, value) => {
        // Unicorn reports a write before it checks the page: the one that faults is undone at the end (see finish).
        const last = this.lastWrite;
        last.address = address;
        last.size = Math.min(size, last.before.length);
        for (let i = 0; i < last.size; i++) last.before[i] = this.written.get(address + BigInt(i)) ?? -1;
        for (let i = 0; i < size; i++) this.written.set(address + BigInt(i), Number((value >> BigInt(8 * i)) & 0xffn));
        if (logWrites) this.writeLog.push({ address, size, value });
      });
      const userLevel = window.userLevel;
      // The user-level check is usually at the faulting instruction itself: one hook there does both, arrival first.
      const refuseAtFault = userLevel !== undefined && userLevel.pc === window.fault;
      if (window.fault !== undefined) {
        this.emu.onInstructionAt(window.fault, () => {
          this.faultVisits++;
          if (logWrites) this.atFault = { registers: this.emu.readRegisters(this.names), writes: this.writeLog.length };
          if (refuseAtFault) refuseAtUserLevel(this.emu, arch, userLevel.codeSelector);
        });
      }
      if (userLevel && !refuseAtFault) this.emu.onInstructionAt(userLevel.pc, () => refuseAtUserLevel(this.emu, arch, userLevel.codeSelector));
      for (const step of window.stepOvers ?? []) {
        this.emu.onInstructionAt(step.address, () => {
          // The call's push and the callee's ret cancel out; the callee also pops its arguments.
          const sp = spRegister(arch);
          this.emu.writeRegister(sp, (this.emu.readRegister(sp) + step.popBytes) & mask);
          this.emu.writeRegisters(step.registers);
          this.emu.writeRegister(pcRegister(arch), step.address + BigInt(step.size));
          this.steppedOver.push(step.address);
          if (this.tracing) this.stepMarks.push(this.tracing.length);
        });
      }
      this.snapshot = this.emu.snapshot();
    } catch (error) {
      this.emu.dispose();
      throw error;
    }
  }

  /**
   * Runs the window from its start (the snapshot restored), with `injection`
   * if given; the outcome reads back `names`. `unknownMemory` takes this
   * lane's fill for this run only.
   */
  run(injection: Injection | undefined, names: RegisterName[], unknownMemory: ReadonlyArray<{ address: bigint; length: number }> = []): RunOutcome {
    const emu = this.emu;
    const arch = this.dump.arch;
    emu.restore(this.snapshot);
    this.written.clear();
    this.lastWrite.size = 0;
    this.writeLog.length = 0;
    this.atFault = undefined;
    this.names = names;
    this.steppedOver = [];
    this.faultVisits = 0;
    const budget = this.window.maxInstructions;
    const mask = registerMask(arch);
    let flipped: RunOutcome['flipped'];
    // Writes made from outside the emulation (injections) are not undone by restoring the snapshot.
    const undo: Array<{ address: bigint; bytes: Uint8Array }> = [];
    const hostWrite = (address: bigint, bytes: Uint8Array, asWritten: boolean) => {
      undo.push({ address, bytes: emu.read(address, bytes.length).slice() });
      emu.write(address, bytes);
      if (asWritten) {
        bytes.forEach((b, i) => this.written.set(address + BigInt(i), b));
        if (this.logWrites) bytes.forEach((b, i) => this.writeLog.push({ address: address + BigInt(i), size: 1, value: BigInt(b) }));
      }
    };
    const valueBytes = (value: bigint, size: number) => Uint8Array.from({ length: size }, (_, i) => Number((value >> BigInt(8 * i)) & 0xffn));
    for (const range of unknownMemory) {
      if (emu.pageIn(range.address, range.length)) hostWrite(range.address, fillBytes(this.fill, range.address, range.length), false);
    }
    const finish = (ended: RunResult, injected: boolean): RunOutcome => {
      this.undoFaultingWrite(ended);
      const at = this.atFault;
      const fault = this.window.fault;
      const gp = at && fault !== undefined ? transferFault(ended, { emu, arch, fault, at, writes: this.writeLog, names }) : undefined;
      const result = gp?.result ?? ended;
      // Arrived there, and the run did not end on it: it executed the instruction the CPU faulted on.
      const passedFault = this.faultVisits > 0 && !(this.faultVisits === 1 && result.pc === this.window.fault);
      const outcome = { result, final: gp?.final ?? emu.readRegisters(names), written: gp?.written ?? new Map(this.written), injected, flipped, passedFault };
      for (const u of undo.reverse()) {
        emu.write(u.address, u.bytes);
        emu.flushTranslationsOf(u.address, u.bytes.length);
      }
      return outcome;
    };
    const rest = () => emu.run({ until: this.window.until, maxInstructions: budget, timeoutMs: 2000 });
    // Counted runs stop at the window's end too: the faithful path never passes it, and a run with another end
    // address would have Unicorn translate the code again. A step from the end address itself needs none.
    const counted = (count: number) => emu.run({ count, until: emu.pc() === this.window.until ? undefined : this.window.until, maxInstructions: budget, timeoutMs: 2000 });
    if (!injection) return finish(rest(), false);
    if (injection.kind === 'bytes') {
      // Only on a fresh engine (see Replayer.run): no code has been translated yet, so none is stale.
      if (!emu.pageIn(injection.address, injection.bytes.length)) return finish(rest(), false);
      hostWrite(injection.address, injection.bytes, false);
      return finish(rest(), true);
    }
    if (injection.kind === 'skip' && injection.keep) emu.writeRegisters(injection.keep);
    if (injection.kind === 'skip' && injection.spShift) {
      for (const r of [spRegister(arch), ...(this.window.stackTied ?? [])]) emu.writeRegister(r, (emu.readRegister(r) + injection.spShift) & mask);
    }
    if (injection.index > 0) {
      // A stepped-over call is not in the traced path (its hook moves the pc
      // first) but Unicorn counts it: add the ones before the injection point.
      const count = injection.index + this.stepMarks.filter((at) => at <= injection.index).length;
      const before = counted(count);
      if (before.kind !== 'reached' || before.reason !== 'count') return finish(before, false);
    }
    const bit = (b: number) => 1n << BigInt(b);
    switch (injection.kind) {
      case 'target-bit': {
        const at = emu.pc();
        const step = counted(1);
        // Landing on code the dump lacks still means the transfer happened.
        const landed = step.kind === 'reached' || (step.kind === 'fault' && step.access === 'fetch' && step.pc !== at);
        if (!landed) return finish(step, false);
        const pc = pcRegister(arch);
        const target = emu.readRegister(pc);
        flipped = { from: target, to: (target ^ bit(injection.bit)) & mask };
        emu.writeRegister(pc, flipped.to);
        return finish(rest(), true);
      }
      case 'register-bit': {
        const value = emu.readRegister(injection.register);
        flipped = { from: value, to: (value ^ bit(injection.bit)) & mask };
        emu.writeRegister(injection.register, flipped.to);
        return finish(rest(), true);
      }
      case 'skip': {
        emu.writeRegister(pcRegister(arch), emu.pc() + BigInt(injection.size));
        return finish(rest(), true);
      }
      case 'stop':
        return finish({ kind: 'reached', pc: emu.pc(), reason: 'count' }, true);
      case 'memory-bit': {
        if (!emu.pageIn(injection.address, injection.size)) return finish(rest(), false);
        const original = emu.readValue(injection.address, injection.size);
        flipped = { from: original, to: original ^ bit(injection.bit) };
        hostWrite(injection.address, valueBytes(flipped.to, injection.size), true);
        emu.flushTranslationsOf(injection.address, injection.size);
        return finish(rest(), true);
      }
      case 'access-fault': {
        const pc = emu.pc();
        return finish({ kind: 'fault', address: injection.address, access: injection.access, size: 0, pc, reason: 'unmapped', message: `0x${injection.address.toString(16)} was not mapped` }, true);
      }
      case 'load-bit': {
        if (!emu.pageIn(injection.address, injection.size)) return finish(rest(), false);
        const original = emu.readValue(injection.address, injection.size);
        flipped = { from: original, to: original ^ bit(injection.bit) };
        emu.writeValue(injection.address, injection.size, flipped.to);
        emu.flushTranslationsOf(injection.address, injection.size);
        const step = counted(1);
        // Put memory back unless the instruction itself wrote the location (xchg, add [m], …).
        if (emu.readValue(injection.address, injection.size) === flipped.to) emu.writeValue(injection.address, injection.size, original);
        if (step.kind !== 'reached') return finish(step, true);
        return finish(rest(), true);
      }
    }
  }

  /** A write that faulted never reached memory: its bytes go back to what the run had written there before. */
  private undoFaultingWrite(ended: RunResult): void {
    const last = this.lastWrite;
    if (ended.kind !== 'fault' || ended.access !== 'write' || last.size === 0) return;
    if (ended.address < last.address || ended.address >= last.address + BigInt(last.size)) return;
    for (let i = 0; i < last.size; i++) {
      const byte = last.before[i]!;
      if (byte < 0) this.written.delete(last.address + BigInt(i));
      else this.written.set(last.address + BigInt(i), byte);
    }
    if (this.logWrites && this.writeLog[this.writeLog.length - 1]?.address === last.address) this.writeLog.pop();
  }

  dispose(): void {
    this.emu.dispose();
  }
}
