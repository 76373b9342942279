/**
 * A replay window: where the replay of the code before the fault starts,
 * and what the machine's state there was, as far as the dump says.
 *
 * The window is anchored at an instruction whose stack pointer the dump
 * pins down (the faulting instruction itself, or a transfer whose return
 * address sits in a known stack slot) and reaches back through the code
 * that certainly ran just before it (`straightRunBefore`). Its start state is
 * the fault's registers, except:
 * - the stack pointer, solved so that the window arrives at the anchor with
 *   the anchor's stack pointer;
 * - registers and memory the window itself writes: their values at the
 *   start are gone, so they are unknown (each replay lane fills them
 *   differently), unless the window saved them first (a `push rbx`,
 *   `stp x29, x30, [sp, #-16]!`, an argument spilled to the stack), in which
 *   case the slot the dump holds gives them back;
 * - registers the fault's context does not hold (a trap frame's unsaved
 *   ones), unknown from the start.
 *
 * @example
 * ```ts
 * const w = buildWindow(dump, code, effects, site, { instruction: call, sp: slot + 4n, kind: 'transfer' }, { maxInstructions: 100, extra: 64, stepOvers: [] });
 * if (!('failed' in w)) w.faithful.outcome.result; // how the code as written ends
 * ```
 */
import { pcRegister, spRegister, registerMask, type RegisterName, type RegisterValues } from '../../emu/registers.ts';
import type { Dump } from '../dumps/model.ts';
import type { Effects } from '../disasm/effects.ts';
import { formatAddress } from '../format.ts';
import type { CodeReader, Instruction } from './code.ts';
import { userLevelAt, type FaultSite } from './fault-site.ts';
import { directTarget, forwardBranchesTo, straightRunBefore } from './flow.ts';
import { endsFallThrough, isPadding } from './instruction-kind.ts';
import { Replayer, type ReplayWindow, type StepOver, type TracedRun } from './replay.ts';
import { recoverByCopy, recoverByInversion, recoverBySteps, recoverFromSlots, savedByCallee, writtenAfterAnchor, writtenBeforePc, writtenOnPath } from './window-recovery.ts';
import type { StackWalker } from '../unwind/walk.ts';
import { archRegisters } from '../unwind/frame.ts';

/** A user's statement of what an absent callee does: `ADDR:ret=0xc,eax=1`. */
export interface StepOverSpec {
  address: bigint;
  popBytes: bigint;
  registers: RegisterValues;
}

export interface WindowAnchor {
  /** The instruction at which the state is pinned. */
  instruction: Instruction;
  /** The stack pointer just before it runs. */
  sp: bigint;
  /** `fault`: the faulting instruction; `transfer`: a transfer that led to the fault. */
  kind: 'fault' | 'transfer';
  /** Reach back only to the last conditional branch or call: the window is a function's epilogue. */
  epilogue?: boolean;
}

export interface Window {
  anchor: WindowAnchor;
  start: bigint;
  /** The static instructions from the start to the anchor. */
  instructions: Instruction[];
  startReason: string;
  replay: ReplayWindow;
  replayer: Replayer;
  /** The faithful run, traced. */
  faithful: TracedRun;
  /** Index of the anchor in the faithful path. */
  anchorIndex: number;
  /** Registers the window writes before the anchor. */
  written: ReadonlySet<RegisterName>;
  /**
   * Registers whose start value came back: from the slot the window saved
   * them to, (slot -1) by undoing a fixed step the window applied to them,
   * (slot UNWOUND) from the unwind rule at the start, or (slot COPIED) from
   * the register `from` that carried it unchanged to the fault.
   */
  recovered: Array<{ register: RegisterName; slot: bigint; value: bigint; from?: RegisterName }>;
  stepOvers: StepOver[];
  notes: string[];
}

export interface WindowOptions {
  /** Longest run of instructions before the anchor. */
  maxInstructions: number;
  /** Instructions a replay may run past the anchor before it counts as not reaching the fault. */
  extra: number;
  stepOvers: StepOverSpec[];
  /** The unwind information: where it covers the window, it pins the stack or frame pointer at each start. */
  unwind?: Pick<StackWalker, 'cfaRule'>;
  /** Registers whose dump values are not the start's (an outer frame's call operands): unknown unless the window sets them. */
  stale?: RegisterName[];
}

/** Most instructions a window's replays may run past the anchor (the budget grows to it while the code as written
 * is still running when it ends). */
const MAX_EXTRA = 4096;

/**
 * The stack or frame pointer at `start` by the unwind information: the
 * frame the anchor's stack pointer gives (its canonical frame address) is
 * the frame at every start inside the same function, and the rule at the
 * start says which register it was computed from (`rsp + 0x18`, `rbp + 16`),
 * so what that register held. Undefined where the rules do not cover both,
 * or the anchor's is not sp-based.
 */
function frameByUnwind(
  unwind: Pick<StackWalker, 'cfaRule'>, arch: Dump['arch'], frame: { cfa: bigint; functionStart: bigint }, start: bigint,
): { register: RegisterName; value: bigint } | undefined {
  const from = unwind.cfaRule(start);
  if (!from || from.functionStart !== frame.functionStart || from.register === pcRegister(arch)) return undefined;
  return { register: from.register, value: (frame.cfa - from.offset) & registerMask(arch) };
}

/**
 * The anchor's frame (canonical frame address) by the unwind rule there, or
 * undefined. An sp-based rule uses the anchor's stack pointer; a rule based
 * on another register (`rbp + 16`) only at the fault, the one place whose
 * registers the dump holds.
 */
function anchorFrame(
  unwind: Pick<StackWalker, 'cfaRule'> | undefined, arch: Dump['arch'], anchor: WindowAnchor, recorded: RegisterValues, recordedUnknown: ReadonlySet<RegisterName>,
): { cfa: bigint; functionStart: bigint; register: RegisterName } | undefined {
  const at = unwind?.cfaRule(anchor.instruction.address);
  if (!at) return undefined;
  if (at.register === spRegister(arch)) return { cfa: (anchor.sp + at.offset) & registerMask(arch), functionStart: at.functionStart, register: at.register };
  const base = recorded[at.register];
  if (anchor.kind !== 'fault' || base === undefined || recordedUnknown.has(at.register)) return undefined;
  return { cfa: (base + at.offset) & registerMask(arch), functionStart: at.functionStart, register: at.register };
}

/** The `slot` of a register recovered from the unwind information (the frame the anchor gives). */
export const UNWOUND = -2n;

/** Instructions a probe may run inside the calls of its window (a callee's own code), beyond two per static one. */
const PROBE_CALLEES = 2048;

/** A straight run shorter than this is extended through a forward branch into it. */
const SHORT_RUN = 4;

/** The call target when `insn` calls code the dump does not hold. */
function callsUnknownCode(code: CodeReader, insn: Instruction): bigint | undefined {
  if (insn.kind !== 'call') return undefined;
  const target = directTarget(insn);
  return target !== undefined && code.knownBytes(target, 1).length === 0 ? target : undefined;
}

/** Byte ranges written before path index `end` (exclusive), merged. */
function writtenRanges(traced: TracedRun, end: number): Array<{ address: bigint; length: number }> {
  const bytes = new Set<bigint>();
  for (const w of traced.writes) {
    if (w.index >= end) break;
    for (let i = 0; i < w.size; i++) bytes.add(w.address + BigInt(i));
  }
  const sorted = [...bytes].sort((a, b) => (a < b ? -1 : 1));
  const out: Array<{ address: bigint; length: number }> = [];
  for (const b of sorted) {
    const last = out[out.length - 1];
    if (last && last.address + BigInt(last.length) === b) last.length++;
    else out.push({ address: b, length: 1 });
  }
  return out;
}

/**
 * Builds the window that ends at `anchor`, trying the earliest start first;
 * a start whose replay does not reach the anchor is dropped.
 */
export function buildWindow(
  dump: Dump,
  code: CodeReader,
  effects: Effects,
  site: FaultSite,
  anchor: WindowAnchor,
  options: WindowOptions,
): Window | { failed: string } {
  const arch = dump.arch;
  const f = (v: bigint) => formatAddress(arch, v);
  const sp = spRegister(arch);
  const pc = pcRegister(arch);
  const specs = new Map(options.stepOvers.map((s) => [s.address, s]));
  const stopAtUnknownCall = (insn: Instruction) => {
    if (anchor.epilogue && (insn.kind === 'conditional' || insn.kind === 'call')) {
      return `the epilogue of ${anchor.instruction.text} starts after ${f(insn.address)} ${insn.text}`;
    }
    if (specs.has(insn.address)) return undefined;
    const target = callsUnknownCode(code, insn);
    return target === undefined ? undefined
      : `${f(insn.address)} ${insn.text} calls code the dump lacks; the window starts after it (state its effect with --step-over ${f(insn.address)}:ret=N,REG=VALUE to start earlier)`;
  };
  const straight = straightRunBefore(code, anchor.instruction, options.maxInstructions, stopAtUnknownCall);
  // A forward branch into the run's first instruction gives an earlier start, reached if the branch is taken.
  let run = straight.instructions;
  let stoppedBy = straight.stoppedBy;
  // A join inside a loop that the code before the loop jumps forward into (a rotated loop's entry) is entered that
  // way on the first pass only; every later pass falls into it from the loop's body, which is where the run goes on.
  const body = run.length < SHORT_RUN && !anchor.epilogue ? loopBodyInto(code, run[0]!) : undefined;
  if (body) {
    const before = straightRunBefore(code, body, options.maxInstructions - run.length, stopAtUnknownCall);
    run = [...before.instructions, ...run];
    stoppedBy = `${before.stoppedBy} (then the loop's body falls into ${formatAddress(arch, straight.instructions[0]!.address)})`;
  }
  // Only for a short run: a longer one is evidence enough, and a forward branch is often a loop's entry (the replay
  // would run the whole loop again from its start).
  for (const branch of run.length < SHORT_RUN && !anchor.epilogue ? forwardBranchesTo(code, run[0]!.address) : []) {
    const before = straightRunBefore(code, branch, options.maxInstructions - run.length, stopAtUnknownCall);
    run = [...before.instructions, ...run];
    stoppedBy = `${before.stoppedBy} (then ${formatAddress(arch, branch.address)} ${branch.text} to ${formatAddress(arch, straight.instructions[0]!.address)})`;
    break;
  }
  // Padding after an instruction that does not fall through (the nops before a switch's case) is never run: the
  // window starts at the code after it.
  while (run.length > 1 && isPadding(run[0]!)) run = run.slice(1);
  const stepOvers: StepOver[] = run
    .filter((i) => specs.has(i.address))
    .map((i) => ({ address: i.address, size: i.size, popBytes: specs.get(i.address)!.popBytes, registers: specs.get(i.address)!.registers }));
  const recorded = site.context?.registers ?? {};
  const recordedUnknown = new Set<RegisterName>(site.context?.unknown ?? []);
  const notes: string[] = [];
  const mask = registerMask(arch);

  const anchorCfa = anchorFrame(options.unwind, arch, anchor, recorded, recordedUnknown);
  // The function a call anchor enters saves registers before changing them (push rbp): the dump has the callee's
  // values, its slots the caller's: every start is probed and replayed with the caller's.
  const saveable = archRegisters(arch).calleeSaved.filter((r) => !recordedUnknown.has(r));
  const callerSaved = anchor.kind === 'transfer' && anchor.instruction.kind === 'call' && !anchor.epilogue
    ? savedByCallee(dump, anchor, recorded, new Set([...recordedUnknown, ...saveable]), saveable, site.pc).filter((r) => r.value !== recorded[r.register])
    : [];
  const callerValues = Object.fromEntries(callerSaved.map((r) => [r.register, r.value]));
  // What the trapping instruction may have written before it trapped; undefined when its bytes are not known.
  const faultBytes = code.knownBytes(site.pc, arch === 'arm64' ? 4 : 15);
  const faultWrites = faultBytes.length > 0 ? new Set(effects.of(faultBytes, site.pc)?.written ?? []) : undefined;
  for (let i = 0; i < run.length; i++) {
    const start = run[i]!.address;
    const steps = stepOvers.filter((s) => s.address >= start);
    // Without unwind information the probe starts at the anchor's stack pointer and the difference it finds at the
    // anchor is undone; code that reads the stack (a callee's arguments) before the anchor then reads the wrong slots.
    // A frame read from the fault's frame pointer holds only where the code before the fault leaves that register
    // alone (a corrupt byte may have made an `enter` of a load).
    const pinned = anchorCfa && (anchorCfa.register === sp || !run.slice(i, -1).some((insn) => effects.of(insn.bytes, insn.address)?.written.includes(anchorCfa.register)));
    const frame = pinned && start !== anchor.instruction.address ? frameByUnwind(options.unwind!, arch, anchorCfa, start) : undefined;
    // A frame pointer pinned so (the window's `leave` restores the stack from it) is the start's, not the dump's.
    const framePointer = frame && frame.register !== sp ? frame : undefined;
    const base: RegisterValues = { ...recorded, [sp]: frame?.register === sp ? frame.value : anchor.sp, [pc]: start, ...(framePointer ? { [framePointer.register]: framePointer.value } : {}) };
    // 1. A probe from this start: does it reach the anchor, with what stack pointer, writing what?
    let probeTrace: TracedRun | undefined;
    let spAtAnchor = anchor.sp;
    if (start !== anchor.instruction.address) {
      const calls = run.slice(i).some((insn) => insn.kind === 'call');
      const probeUnknown = new Set([...recordedUnknown, ...(options.stale ?? [])].filter((r) => r !== framePointer?.register));
      const probe = new Replayer(dump, {
        start, registers: { ...base, ...callerValues, ...(framePointer ? { [framePointer.register]: framePointer.value } : {}) }, unknown: probeUnknown, maxInstructions: (run.length - i) * 2 + 16 + (calls ? PROBE_CALLEES : 0),
        until: anchor.instruction.address, stepOvers: steps,
      }, 1);
      try {
        probeTrace = probe.runTraced();
      } finally {
        probe.dispose();
      }
      const r = probeTrace.outcome.result;
      if (r.kind !== 'reached' || r.pc !== anchor.instruction.address) {
        notes.push(`a replay from ${f(start)} does not reach ${f(anchor.instruction.address)} (${r.kind})`);
        continue;
      }
      spAtAnchor = probeTrace.outcome.final[sp]!;
    }
    const startSp = (base[sp]! + (anchor.sp - spAtAnchor)) & mask;
    const written = new Set<RegisterName>(writtenOnPath(code, effects, probeTrace?.path ?? []));
    written.delete(sp);
    written.delete(pc);
    const unknown = new Set<RegisterName>([...recordedUnknown, ...written, ...(options.stale ?? [])]);
    const unknownMemory = probeTrace ? writtenRanges(probeTrace, probeTrace.path.length) : [];
    const registers: RegisterValues = { ...base, [sp]: startSp };
    const recovered: Window['recovered'] = [];
    if (framePointer) {
      unknown.delete(framePointer.register);
      recovered.push({ register: framePointer.register, slot: UNWOUND, value: framePointer.value });
    }
    for (const r of callerSaved) {
      if (unknown.has(r.register) || r.register === framePointer?.register) continue;
      registers[r.register] = r.value;
      recovered.push(r);
      written.add(r.register);
    }
    // 2. The window proper, three lanes; registers it saved before changing come back from their slots.
    let extra = options.extra;
    let extended = false;
    // Registers whose recorded value the code after the anchor made: nothing at the anchor is recovered from it.
    const changedLater = new Set<RegisterName>();
    for (let round = 0; round < 3; round++) {
      const replay: ReplayWindow = {
        start, registers, unknown, unknownMemory, stepOvers: steps,
        maxInstructions: (probeTrace?.path.length ?? 0) + 1 + extra,
        fault: anchor.kind === 'fault' ? anchor.instruction.address : undefined,
        userLevel: userLevelAt(dump, site),
        stackTied: framePointer ? [framePointer.register] : undefined,
      };
      const replayer = new Replayer(dump, replay);
      let faithful: TracedRun;
      try {
        faithful = replayer.runTraced(undefined, { code });
      } catch (error) {
        replayer.dispose();
        throw error;
      }
      // The code as written still running when the budget ends says nothing of where it goes: a fault that
      // only shortens the path would seem to explain the trap. Give every replay of the window more room.
      const end = faithful.outcome.result;
      if (end.kind === 'budget' && end.budget === 'instructions' && extra < MAX_EXTRA) {
        replayer.dispose();
        extra = Math.min(MAX_EXTRA, extra * 4);
        round--;
        continue;
      }
      // Code the emulator cannot run (an instruction Unicorn lacks, in a callee: the dynamic linker's xsavec, AVX-512
      // string functions) stops the code as written before the anchor: a later start may step past it.
      if (end.kind === 'trapped' && end.name === 'invalid instruction' && !faithful.path.includes(anchor.instruction.address)
        && !run.some((insn) => insn.address === end.pc) && i + 1 < run.length) {
        replayer.dispose();
        notes.push(`a replay from ${f(start)} stops at an instruction the emulator cannot run, at ${f(end.pc)}, before ${f(anchor.instruction.address)}`);
        break;
      }
      // Registers the code changes after a call anchor, before it returns to where the dump's state was left (the
      // callee's frame pointer): where the callee saved them, the dump holds their start values.
      if (round === 0 && !extended) {
        const more = writtenAfterAnchor(code, effects, anchor, faithful).filter((r) => r !== sp && r !== pc && !unknown.has(r));
        if (more.length > 0) {
          extended = true;
          // Not written before the anchor, their value there is their start value: where the callee saves them
          // (push rbp, stp x29, x30), the dump's slot gives it back.
          // The others keep the recorded value where the code as written changes them only past the trap's pc: a
          // fault may have left that path early, so what it writes there is no proof the dump's value is a later one.
          // (Probed from the start's registers, the callee may not be reached: its address is computed in the window
          // from values the lanes fill; the probe from the dump's registers before the starts then says.)
          const probed = savedByCallee(dump, anchor, registers, new Set([...unknown, ...more]), more, site.pc);
          const kept = [...probed, ...callerSaved.filter((c) => more.includes(c.register) && !probed.some((p) => p.register === c.register))];
          const saved = kept.filter((r) => r.value !== registers[r.register]);
          for (const r of saved) {
            registers[r.register] = r.value;
            recovered.push(r);
            written.add(r.register);
          }
          // Those the code as written changes before it first comes to the trap's pc were changed on any path that
          // came there the same way: the dump's value is a later one, and their value at the start is unknown.
          const spent = writtenBeforePc(code, effects, anchor, faithful, site.pc).filter((r) => more.includes(r) && !kept.some((s) => s.register === r));
          for (const r of spent) {
            unknown.add(r);
            changedLater.add(r);
          }
          if (saved.length > 0 || spent.length > 0) {
            replayer.dispose();
            round--;
            continue;
          }
        }
      }
      // Past a return or jump anchor the code as written went where the dump says control did not: a store there
      // never happened, and the slot holds an older value.
      const storesUntil = anchor.kind === 'transfer' && anchor.instruction.kind !== 'call' ? faithful.path.indexOf(anchor.instruction.address) : -1;
      const back = recoverFromSlots(dump, replayer, faithful, unknown, storesUntil >= 0 ? storesUntil : Infinity).filter((r) => !recordedUnknown.has(r.register));
      const saved = new Set(back.map((r) => r.register));
      const unsaved = new Set([...unknown].filter((r) => !saved.has(r) && !recordedUnknown.has(r) && !changedLater.has(r)));
      back.push(...recoverByInversion(dump, replay, anchor, unsaved, recorded));
      // What the probe could not undo (its lanes faulted before the step), the instructions may say themselves.
      const before = run.slice(i, -1);
      if (before.every((insn) => insn.kind === 'other')) {
        const inverted = new Set(back.map((r) => r.register));
        back.push(...recoverBySteps(dump, effects, before, new Set([...unsaved].filter((r) => !inverted.has(r))), recorded));
      }
      const copied = new Set(back.map((r) => r.register));
      back.push(...recoverByCopy(dump, site, faithful, anchor, new Set([...unsaved].filter((r) => !copied.has(r))), recorded, recordedUnknown, faultWrites));
      if (back.length === 0 || round === 2) {
        const anchorIndex = faithful.path.indexOf(anchor.instruction.address);
        return {
          anchor, start, instructions: run.slice(i),
          startReason: i === 0 ? stoppedBy : 'replays from earlier starts do not reach the anchor',
          replay, replayer, faithful, anchorIndex: anchorIndex >= 0 ? anchorIndex : faithful.path.length - 1,
          written, recovered, stepOvers: steps, notes,
        };
      }
      replayer.dispose();
      for (const r of back) {
        registers[r.register] = r.value;
        unknown.delete(r.register);
        recovered.push(r);
      }
    }
  }
  return { failed: `no replay from the code before ${f(anchor.instruction.address)} reaches it${notes.length ? ` (${notes[notes.length - 1]})` : ''}` };
}

/**
 * The instruction that falls into `join` from a loop's body: `join` is a
 * branch target, the instruction before it falls through, and a branch after
 * `join` goes back to or before it (the loop's back edge). Undefined otherwise.
 */
function loopBodyInto(code: CodeReader, join: Instruction): Instruction | undefined {
  const swept = code.sweepFromSymbol(join);
  const previous = swept && swept.length >= 2 ? swept[swept.length - 2] : undefined;
  if (!previous || endsFallThrough(previous.kind) || isPadding(previous) || forwardBranchesTo(code, join.address).length === 0) return undefined;
  let at = join.address;
  for (let n = 0; n < LOOP_SCAN; n++) {
    const insn = code.decodeAt(at);
    if (!insn || insn.kind === 'return') return undefined;
    const target = (insn.kind === 'jump' || insn.kind === 'conditional') ? directTarget(insn) : undefined;
    if (target !== undefined && target <= join.address && target >= swept![0]!.address) return previous;
    at += BigInt(insn.size);
  }
  return undefined;
}

/** Instructions after a join looked at for the loop's back edge. */
const LOOP_SCAN = 64;
