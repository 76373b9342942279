/**
 * Replays a window of code over a dump, faithfully or with one injected
 * fault, and says which of its results the dump determines.
 *
 * What the dump does not hold is *unknown*: registers a trap frame does not
 * save, registers and memory the window itself overwrites (their values at
 * its start are gone), bytes of mapped memory the dump left out. The window
 * runs on three engines that give every unknown a different fill (zeros,
 * ones, a hash of the address or name); a result that comes out the same in
 * all three does not depend on any unknown, and one that differs does. This
 * follows the emulator's own semantics of every instruction (flags, string
 * operations, implicit operands) instead of a table of ours, and catches
 * control flow that depends on an unknown (the runs take different paths).
 * A result that depends on an unknown only through a test that all three
 * fills pass the same way (`cmp rax, 1234` is false for 0, ~0 and the hash
 * alike) is taken as known: the fills are chosen so null checks and sign
 * tests do differ.
 *
 * Each engine is reused across runs: a snapshot at the window start, and
 * restores that rewrite only the pages a run dirtied.
 *
 * @example
 * ```ts
 * const replayer = new Replayer(dump, { start, registers, unknown: new Set(['rbx']), maxInstructions: 64 });
 * const faithful = replayer.run();
 * const flipped = replayer.run({ kind: 'target-bit', index: 12, bit: 2 });
 * flipped.resultKnown; // true when the three runs ended the same way
 * replayer.dispose();
 * ```
 */
import type { Emulator } from '../../emu/emulator.ts';
import { fillBytes, type UnknownFill } from '../../emu/memory-source.ts';
import { pcRegister, registersOf, spRegister, registerMask, type RegisterName, type RegisterValues } from '../../emu/registers.ts';
import type { RunResult } from '../../emu/run-result.ts';
import { EmulationError } from '../../emu/errors.ts';
import type { Snapshot } from '../../emu/snapshot.ts';
import type { Dump } from '../dumps/model.ts';
import { machineFor } from './machine.ts';
import { userLevelRefusal } from '../../emu/user-level.ts';
import { merge } from './replay-merge.ts';
import type { Injection, ReplayOutcome, ReplayWindow, RunOutcome, SteppedLane, TracedRead, TracedRun } from './replay-types.ts';

export { sameOutcome } from './replay-merge.ts';
export type { Injection, ReplayOutcome, ReplayWindow, RunOutcome, SteppedLane, StepOver, TracedRead, TracedRun } from './replay-types.ts';

/** The fills of unknown values, one per lane, in lane order. */
export const FILLS: readonly UnknownFill[] = ['zeros', 'ones', 'hash'];

/**
 * Watches replays one by one, so that a process running them in a worker
 * can tell which replay an abort inside the emulator killed, and skip it
 * when it starts again (see src/cli/isolated-explain.ts).
 */
export interface ReplayGuard {
  /** Called before each replay with a key stable across processes; false skips the replay. */
  before(key: string): boolean;
}

let guard: ReplayGuard | undefined;

/** Installs `next` as the replay guard of this process (undefined removes it). */
export function setReplayGuard(next: ReplayGuard | undefined): void {
  guard = next;
}

function injectionKey(start: bigint, injection: Injection | undefined): string {
  if (!injection) return `${start.toString(16)}/as-written`;
  return `${start.toString(16)}/${JSON.stringify(injection, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))}`;
}

/** The outcome of a replay the guard skipped: it killed the emulator in an earlier attempt. */
function skippedRun(start: bigint): RunOutcome {
  const error = new EmulationError('uc_emu_start', 'this replay aborted the emulator in an earlier attempt; skipped', {});
  return { result: { kind: 'error', error, pc: start }, final: {}, written: new Map(), injected: false };
}

/** The value an unknown register takes in a run with `fill`. */
export function registerFill(fill: UnknownFill, register: RegisterName, mask: bigint): bigint {
  if (fill === 'zeros') return 0n;
  if (fill === 'ones') return mask;
  let h = 0xcbf29ce484222325n;
  for (const c of register) h = ((h ^ BigInt(c.charCodeAt(0))) * 0x100000001b3n) & 0xffff_ffff_ffff_ffffn;
  return (h ^ (h >> 29n)) & mask;
}

/** Registers a replay reads back and compares: the architecture's, less selectors and bases. */
export function comparedRegisters(dump: Dump): RegisterName[] {
  const skip = new Set<RegisterName>(['cs', 'ss', 'ds', 'es', 'fs', 'gs', 'fs_base', 'gs_base', 'tpidr_el0']);
  return registersOf(dump.arch).filter((r) => !skip.has(r));
}

/** One engine, its fill, and the snapshot at the window start. */
class Lane {
  readonly emu: Emulator;
  readonly snapshot: Snapshot;
  readonly written = new Map<bigint, number>();
  steppedOver: bigint[] = [];
  /** Path positions at which the traced run applied a step-over. */
  stepMarks: number[] = [];
  tracing?: bigint[];
  /** Times the run arrived at the faulting instruction. */
  faultVisits = 0;
  /** x86-64: every write in order, and the registers and log length at the latest arrival at the faulting instruction. */
  private readonly writeLog: Array<{ address: bigint; size: number; value: bigint }> = [];
  private atFault?: { registers: RegisterValues; writes: number };
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
      if (window.fault !== undefined) {
        this.emu.onInstructionAt(window.fault, () => {
          this.faultVisits++;
          if (logWrites) this.atFault = { registers: this.emu.readRegisters(this.names), writes: this.writeLog.length };
        });
      }
      const userLevel = window.userLevel;
      if (userLevel) this.emu.onInstructionAt(userLevel.pc, () => this.refuseAtUserLevel(userLevel.codeSelector));
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
      const gp = this.transferFault(ended, names);
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
      const sp = spRegister(arch);
      emu.writeRegister(sp, (emu.readRegister(sp) + injection.spShift) & mask);
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

  /**
   * The instruction at the pc as a user-level CPU takes it: a privileged one,
   * or a far return to a selector other than the process's code segment,
   * raises #GP before it runs; a far return to the same segment is a return
   * (Unicorn would pop with a 16-bit stack pointer).
   * Reads the bytes as they are now (an injection may have changed them).
   */
  private refuseAtUserLevel(codeSelector: bigint): void {
    const emu = this.emu;
    const arch = this.dump.arch;
    const pc = emu.pc();
    const refusal = userLevelRefusal(arch, emu.tryRead(pc, 16));
    if (!refusal) return;
    const protection = () => emu.stopWith({ kind: 'trapped', vector: 13, name: `general protection (${refusal.name})`, pc });
    if (refusal.kind === 'privileged') return protection();
    const sp = spRegister(arch);
    const top = emu.readRegister(sp);
    const size = refusal.operandSize;
    if (!emu.pageIn(top, 2 * size)) return;
    const selector = emu.readValue(top + BigInt(size), size) & 0xffffn;
    if (selector !== codeSelector) return protection();
    if (refusal.name === 'iret') return;
    emu.writeRegister(sp, (top + BigInt(2 * size + refusal.popped)) & registerMask(arch));
    emu.writeRegister(pcRegister(arch), emu.readValue(top, size));
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

  /**
   * x86-64 faults a transfer to a non-canonical address on the transfer
   * itself (#GP: nothing pushed, popped or jumped), where Unicorn jumps and
   * then fails to fetch there. When the run's last instruction was the
   * window's faulting one (every register but the pc and sp as it left them,
   * nothing written but a call's return address), the outcome is the state
   * before it, as the CPU leaves it.
   */
  private transferFault(result: RunResult, names: RegisterName[]): { result: RunResult; final: RegisterValues; written: Map<bigint, number> } | undefined {
    const at = this.atFault;
    const fault = this.window.fault;
    if (!at || fault === undefined || result.kind !== 'fault' || result.access !== 'fetch' || !nonCanonical(result.address)) return undefined;
    const now = this.emu.readRegisters(names);
    const sp = spRegister(this.dump.arch);
    const pc = pcRegister(this.dump.arch);
    for (const name of names) {
      if (name === sp || name === pc) continue;
      // RF and other system bits of rflags differ between a hook and the run's end; the arithmetic flags do not.
      const differ = name === 'efl' ? ((now[name] ?? 0n) ^ (at.registers[name] ?? 0n)) & 0xfd5n : now[name] !== at.registers[name];
      if (differ) return undefined;
    }
    const later = this.writeLog.slice(at.writes);
    const spBefore = at.registers[sp];
    if (spBefore === undefined || later.length > 1 || (later.length === 1 && (later[0]!.size !== 8 || later[0]!.address !== spBefore - 8n))) return undefined;
    const written = new Map<bigint, number>();
    for (const w of this.writeLog.slice(0, at.writes)) {
      for (let i = 0; i < w.size; i++) written.set(w.address + BigInt(i), Number((w.value >> BigInt(8 * i)) & 0xffn));
    }
    const message = `transfer to the non-canonical address 0x${result.address.toString(16)}: general protection`;
    return { result: { kind: 'fault', address: result.address, access: 'fetch', size: 0, pc: fault, reason: 'non-canonical', message }, final: { ...at.registers }, written };
  }

  dispose(): void {
    this.emu.dispose();
  }
}

/** True when `address` is not a canonical x86-64 address (bits 63..47 not all equal). */
function nonCanonical(address: bigint): boolean {
  const top = address >> 47n;
  return top !== 0n && top !== 0x1ffffn;
}

export class Replayer {
  private readonly lanes: Lane[];
  private readonly names: RegisterName[];

  constructor(
    readonly dump: Dump,
    readonly window: ReplayWindow,
    /** How many fills (1–3); one is enough when nothing is unknown. */
    lanes = 3,
  ) {
    this.names = comparedRegisters(dump);
    this.lanes = [];
    try {
      for (const fill of FILLS.slice(0, Math.max(1, Math.min(3, lanes)))) this.lanes.push(new Lane(dump, window, fill));
    } catch (error) {
      for (const lane of this.lanes) lane.dispose();
      throw error;
    }
  }

  /** The engine of the first lane (zeros), for callers that add hooks of their own. */
  get emu(): Emulator {
    return this.lanes[0]!.emu;
  }

  /**
   * Runs the window from its start, with `injection` if given, on `lanes`
   * engines (all by default; two are enough to reject a hypothesis early).
   */
  run(injection?: Injection, options: { lanes?: number; unknownMemory?: ReadonlyArray<{ address: bigint; length: number }> } = {}): ReplayOutcome {
    // Two lanes reject most hypotheses early: zeros and the hash, whose values rarely coincide (zeros and ones
    // often give the same flags, which would make a value look known that is not).
    const lanes = options.lanes === 2 && this.lanes.length === 3 ? [this.lanes[0]!, this.lanes[2]!] : this.lanes.slice(0, options.lanes ?? this.lanes.length);
    if (guard && !guard.before(injectionKey(this.window.start, injection))) {
      return merge(injection, lanes.map(() => skippedRun(this.window.start)), []);
    }
    if (injection?.kind === 'bytes') return this.runOnFreshLanes(injection, lanes, options.unknownMemory);
    const runs = lanes.map((lane) => lane.run(injection, this.names, options.unknownMemory));
    return merge(injection, runs, lanes[0]!.steppedOver);
  }

  /**
   * Changed code bytes run on engines of their own: after code has run, Unicorn 2.0.1 drops stale translations
   * reliably only with a full flush, which takes seconds and touches its whole code buffer (GBs of memory);
   * a new engine costs milliseconds.
   */
  private runOnFreshLanes(injection: Injection, like: Lane[], unknownMemory?: ReadonlyArray<{ address: bigint; length: number }>): ReplayOutcome {
    const fresh: Lane[] = [];
    try {
      for (const lane of like) {
        const f = new Lane(this.dump, this.window, lane.fill);
        f.stepMarks = lane.stepMarks;
        fresh.push(f);
      }
      const runs = fresh.map((lane) => lane.run(injection, this.names, unknownMemory));
      return merge(injection, runs, fresh[0]!.steppedOver);
    } finally {
      for (const lane of fresh) lane.dispose();
    }
  }

  /**
   * The faithful run of the first lane, instruction by instruction: each
   * executed pc, every memory read and write with the index of the
   * instruction that made it; then the other lanes, untraced, for the known
   * masks. Slower than `run` (a JavaScript hook per instruction); used once
   * per window.
   */
  runTraced(injection?: Injection): TracedRun {
    const lane = this.lanes[0]!;
    if (guard && !guard.before(`${injectionKey(this.window.start, injection)}/traced`)) {
      return { outcome: merge(injection, this.lanes.map(() => skippedRun(this.window.start)), []), path: [], reads: [], writes: [] };
    }
    const emu = lane.emu;
    const path: bigint[] = [];
    const reads: TracedRead[] = [];
    const writes: TracedRun['writes'] = [];
    const code = emu.onInstruction((address) => path.push(address));
    const read = emu.onMemory('read', (address, size, value) => {
      reads.push({ index: path.length - 1, pc: path[path.length - 1] ?? 0n, address, size, value });
    });
    const write = emu.onMemory('write', (address, size) => writes.push({ index: path.length - 1, address, size }));
    lane.tracing = path;
    lane.stepMarks = [];
    let first: RunOutcome;
    try {
      first = lane.run(injection, this.names);
    } finally {
      lane.tracing = undefined;
      emu.removeHook(code);
      emu.removeHook(read);
      emu.removeHook(write);
      emu.flushTranslations();
    }
    for (const other of this.lanes.slice(1)) other.stepMarks = lane.stepMarks;
    const others = this.lanes.slice(1).map((l) => l.run(injection, this.names));
    return { outcome: merge(injection, [first, ...others], lane.steppedOver), path, reads, writes };
  }

  /**
   * Every lane's run, instruction by instruction: the registers before each
   * instruction and every memory access, so that a reader can show what
   * each instruction changed and which of those values the dump determines
   * (the lanes agree). The slowest run there is (registers read at every
   * instruction on every lane): for showing one replay, not for searching.
   * Call after `runTraced` (the window's faithful run places step-overs).
   */
  runStepwise(injection?: Injection): { outcome: ReplayOutcome; lanes: SteppedLane[] } {
    if (guard && !guard.before(`${injectionKey(this.window.start, injection)}/stepwise`)) {
      return { outcome: merge(injection, this.lanes.map(() => skippedRun(this.window.start)), []), lanes: [] };
    }
    const stepped: SteppedLane[] = [];
    const runs: RunOutcome[] = [];
    for (const lane of this.lanes) {
      const emu = lane.emu;
      const record: SteppedLane = { steps: [], accesses: [] };
      const index = () => record.steps.length - 1;
      const hooks = [
        emu.onInstruction((pc, size) => record.steps.push({ pc, size, before: emu.readRegisters(this.names) })),
        emu.onMemory('read', (address, size, value) => record.accesses.push({ index: index(), kind: 'read', address, size, value })),
        emu.onMemory('write', (address, size, value) => record.accesses.push({ index: index(), kind: 'write', address, size, value })),
      ];
      try {
        runs.push(lane.run(injection, this.names));
      } finally {
        for (const hook of hooks) emu.removeHook(hook);
        emu.flushTranslations();
      }
      stepped.push(record);
    }
    return { outcome: merge(injection, runs, this.lanes[0]!.steppedOver), lanes: stepped };
  }

  dispose(): void {
    for (const lane of this.lanes) lane.dispose();
  }
}
