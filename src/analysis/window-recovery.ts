/**
 * Start values a replay window gets back for registers it overwrites before
 * its anchor: from the slot the window saved them to (a push, a spill), by
 * undoing a fixed step it applies (a loop counter), or from where the callee
 * a call anchor enters saves them. Each is tried on the window's three
 * replay lanes: a value every lane agrees on is the start value, whatever
 * the lanes filled the unknown register with.
 *
 * @example
 * ```ts
 * recoverFromSlots(dump, replayer, faithful, new Set(['rbx'])); // [{ register: 'rbx', slot: 0x7ffe…n, value: 0x2n }]
 * ```
 */
import { pcRegister, pointerSize, registerMask, spRegister, type RegisterName, type RegisterValues } from '../../emu/registers.ts';
import type { Effects } from '../disasm/effects.ts';
import type { Dump } from '../dumps/model.ts';
import { effectsAt, type CodeReader, type Instruction } from './code.ts';
import type { FaultSite } from './fault-site.ts';
import { FILLS, registerFill, Replayer, type ReplayWindow, type TracedRun } from './replay.ts';
import type { WindowAnchor } from './window.ts';

/**
 * Registers whose fill every lane stored somewhere: the window saved them
 * (push, spill) before changing them, so the slot the dump holds is their
 * start value. Each lane is looked at just after the store (a lane that went
 * on may have overwritten the slot since); the zeros lane alone is not
 * enough to match (every zero store would). Only stores before path index `end` count.
 */
export function recoverFromSlots(
  dump: Dump, replayer: Replayer, traced: TracedRun, unknown: ReadonlySet<RegisterName>, end = Infinity,
): Array<{ register: RegisterName; slot: bigint; value: bigint }> {
  const arch = dump.arch;
  const mask = registerMask(arch);
  const value = (written: Map<bigint, number>, at: bigint, size: number): bigint | undefined => {
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) {
      const byte = written.get(at + BigInt(i));
      if (byte === undefined) return undefined;
      v = (v << 8n) | BigInt(byte);
    }
    return v;
  };
  // The lanes' memory just after instruction `index`, one replay per store looked at.
  const after = new Map<number, Array<Map<bigint, number>> | undefined>();
  const lanesAfter = (index: number) => {
    if (!after.has(index)) {
      const outcome = after.size < MAX_SLOT_PROBES ? replayer.run({ kind: 'stop', index: index + 1 }) : undefined;
      after.set(index, outcome && outcome.injected && outcome.runs.length >= 3 ? outcome.runs.map((r) => r.written) : undefined);
    }
    return after.get(index);
  };
  const found: Array<{ register: RegisterName; slot: bigint; value: bigint }> = [];
  for (const register of unknown) {
    if (register === 'efl' || register === 'nzcv') continue;
    search: for (const size of pointerSize(arch) === 8 ? [8, 4] : [4]) {
      const width = (1n << BigInt(size * 8)) - 1n;
      const fills = [0n, registerFill('ones', register, mask) & width, registerFill('hash', register, mask) & width];
      for (const w of traced.writes) {
        if (w.index >= end) break;
        for (let at = w.address; at + BigInt(size) <= w.address + BigInt(w.size); at += BigInt(size)) {
          const lanes = lanesAfter(w.index);
          if (!lanes || !fills.every((fill, lane) => value(lanes[lane]!, at, size) === fill)) continue;
          const held = dump.memory.read(at, size);
          if (!held) continue;
          let v = 0n;
          for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(held[i]!);
          found.push({ register, slot: at, value: v });
          break search;
        }
      }
    }
  }
  return found;
}

/** Stores looked at, at most, to find where a window saved its registers. */
const MAX_SLOT_PROBES = 24;

/**
 * Registers the window changes by a fixed amount (a loop counter `add w21,
 * w21, #1`, a pointer stepped by 8): in every lane the value at the anchor
 * minus the fill is the same constant, so the start value is the value the
 * dump recorded minus that constant (or xor it, for a fixed xor).
 */
export function recoverByInversion(
  dump: Dump,
  replay: ReplayWindow,
  anchor: WindowAnchor,
  unknown: ReadonlySet<RegisterName>,
  recorded: RegisterValues,
): Array<{ register: RegisterName; slot: bigint; value: bigint }> {
  if (replay.start === anchor.instruction.address) return [];
  const mask = registerMask(dump.arch);
  const probe = new Replayer(dump, { ...replay, until: anchor.instruction.address });
  let outcome;
  try {
    outcome = probe.run();
  } finally {
    probe.dispose();
  }
  // Lanes that stop early (an unknown address faulted) still carry a step taken before: a constant step is one.
  const found: Array<{ register: RegisterName; slot: bigint; value: bigint }> = [];
  for (const register of unknown) {
    const value = recorded[register];
    if (value === undefined || register === 'efl' || register === 'nzcv' || register === 'x30' && anchor.instruction.kind === 'call') continue;
    const fill = (i: number) => registerFill(FILLS[i]!, register, mask);
    const final = (i: number) => outcome.runs[i]?.final[register];
    if (outcome.runs.length < 3 || [0, 1, 2].some((i) => final(i) === undefined)) continue;
    const deltas = [0, 1, 2].map((i) => (final(i)! - fill(i)) & mask);
    // Lanes that all stopped before the instructions that step the register show no step: that is no step of zero.
    if (deltas.every((d) => d === 0n) && !outcome.runs.some((r) => r.result.kind === 'reached')) continue;
    const xors = [0, 1, 2].map((i) => final(i)! ^ fill(i));
    // A 32-bit step (add w21, w21, #1) zero-extends: the low halves step alike and the high halves agree.
    const low = 0xffff_ffffn;
    const deltas32 = [0, 1, 2].map((i) => (final(i)! - fill(i)) & low);
    const highs = [0, 1, 2].map((i) => final(i)! >> 32n);
    if (deltas.every((d) => d === deltas[0])) found.push({ register, slot: -1n, value: (value - deltas[0]!) & mask });
    else if (xors.every((x) => x === xors[0])) found.push({ register, slot: -1n, value: value ^ xors[0]! });
    else if (mask > low && deltas32.every((d) => d === deltas32[0]) && highs.every((h) => h === highs[0])) {
      found.push({ register, slot: -1n, value: ((value - deltas32[0]!) & low) | (value & ~low & mask) });
    }
  }
  return found;
}

/**
 * Registers the code as written writes after a call anchor and before it
 * returns from that call (or, when it never does, before its path ends).
 */
export function writtenAfterAnchor(code: CodeReader, effects: Effects, anchor: WindowAnchor, faithful: TracedRun): RegisterName[] {
  if (anchor.kind !== 'transfer' || anchor.instruction.kind !== 'call') return [];
  const path = faithful.path;
  const at = path.indexOf(anchor.instruction.address);
  if (at < 0) return [];
  const back = path.indexOf(anchor.instruction.address + BigInt(anchor.instruction.size), at + 1);
  return writtenOnPath(code, effects, path, at + 1, back >= 0 ? back : path.length);
}

/** Registers the instructions of `path` from index `from` up to (not including) `until` write. */
export function writtenOnPath(code: CodeReader, effects: Effects, path: readonly bigint[], from = 0, until = path.length): RegisterName[] {
  const out = new Set<RegisterName>();
  for (let k = from; k < until; k++) for (const r of effectsAt(code, effects, path[k]!)?.written ?? []) out.add(r);
  return [...out];
}

/**
 * Registers the code as written changes after a call anchor and before it
 * first reaches `pc` (the trap's), or before it faults on the way there in
 * the function that holds `pc`; none when it goes elsewhere.
 */
export function writtenBeforePc(code: CodeReader, effects: Effects, anchor: WindowAnchor, faithful: TracedRun, pc: bigint): RegisterName[] {
  if (anchor.kind !== 'transfer' || anchor.instruction.kind !== 'call') return [];
  const path = faithful.path;
  const at = path.indexOf(anchor.instruction.address);
  if (at < 0) return [];
  let until = path.indexOf(pc, at + 1);
  const end = faithful.outcome.result;
  if (until < 0 && end.kind === 'fault' && sameFunction(code, end.pc, pc)) until = path.length;
  return until < 0 ? [] : writtenOnPath(code, effects, path, at + 1, until);
}

/** True when `a` and `b` are in one function by the symbols (both named, the same name). */
function sameFunction(code: CodeReader, a: bigint, b: bigint): boolean {
  const x = code.dump.symbols.lookup(a);
  const y = code.dump.symbols.lookup(b);
  return x?.symbol !== undefined && x.symbol === y?.symbol && x.module === y.module;
}

/**
 * Registers among `wanted` that the function a call anchor enters stores
 * before changing them: replayed from the anchor, each lane stores its fill
 * there, and the slot the dump holds is the value at the anchor. Only stores
 * before the trap's pc count.
 */
export function savedByCallee(
  dump: Dump, anchor: WindowAnchor, registers: RegisterValues, unknown: ReadonlySet<RegisterName>, wanted: RegisterName[], trapPc: bigint,
): Array<{ register: RegisterName; slot: bigint; value: bigint }> {
  const arch = dump.arch;
  const call = anchor.instruction;
  const probe = new Replayer(dump, {
    start: call.address, registers: { ...registers, [spRegister(arch)]: anchor.sp, [pcRegister(arch)]: call.address }, unknown,
    maxInstructions: CALLEE_PROBE, until: call.address + BigInt(call.size),
  });
  try {
    // A store the trap's instruction makes, or one after it, never happened: the slot holds an older value.
    const traced = probe.runTraced();
    const trap = traced.path.indexOf(trapPc);
    return recoverFromSlots(dump, probe, traced, new Set(wanted), trap >= 0 ? trap : Infinity);
  } finally {
    probe.dispose();
  }
}

/** Instructions of the callee replayed to find where it saves registers. */
const CALLEE_PROBE = 256;

/**
 * Registers whose start value the window's last transfer went to: each lane
 * ended fetching its own fill of the register (`mov rax, rdi; call rax`
 * with rdi unknown), so the transfer's target register held the start value
 * unchanged. A transfer through a register lands on the pc the dump
 * trapped at: either the fetch itself faulted, or the instruction there
 * trapped before it changed anything (`faultWrites`, what it may write,
 * are no carriers: a `rep movs` stopped part way has moved rdi). So the
 * register the dump holds is that start value. Two registers carrying it
 * with different recorded values say nothing.
 */
export function recoverByCopy(
  dump: Dump, site: FaultSite, faithful: TracedRun, anchor: WindowAnchor, unknown: ReadonlySet<RegisterName>,
  recorded: RegisterValues, recordedUnknown: ReadonlySet<RegisterName>, faultWrites: ReadonlySet<RegisterName> | undefined,
): Array<{ register: RegisterName; slot: bigint; value: bigint; from: RegisterName }> {
  if (anchor.kind !== 'transfer') return [];
  const fetchFault = site.kind === 'access-violation' && site.access === 'execute';
  if (!fetchFault && faultWrites === undefined) return [];
  if (faithful.path[faithful.path.length - 1] !== anchor.instruction.address) return [];
  const runs = faithful.outcome.runs;
  if (runs.length < FILLS.length) return [];
  const arch = dump.arch;
  const mask = registerMask(arch);
  const pc = pcRegister(arch);
  const found: Array<{ register: RegisterName; slot: bigint; value: bigint; from: RegisterName }> = [];
  for (const register of unknown) {
    if (recordedUnknown.has(register) || register === 'efl' || register === 'nzcv') continue;
    const fills = FILLS.map((fill) => registerFill(fill, register, mask));
    const wentToFill = runs.every((r, lane) => r.result.kind === 'fault' && r.result.access === 'fetch' && r.result.address === fills[lane]);
    if (!wentToFill) continue;
    const carriers = (Object.keys(recorded) as RegisterName[]).filter((r) => r !== pc && r !== register && !recordedUnknown.has(r) && !faultWrites?.has(r)
      && runs.every((run, lane) => run.final[r] === fills[lane]));
    const values = new Set(carriers.map((r) => recorded[r]!));
    if (values.size === 1) found.push({ register, slot: COPIED, value: [...values][0]!, from: carriers[0]! });
  }
  return found;
}

/** The `slot` of a register recovered from a register that carried its start value to the fault. */
export const COPIED = -3n;

/** A WinDbg or Capstone immediate (`8`, `10h`, `0x10`, `#0x10`), as hex; undefined when it is none. */
function immediate(text: string): bigint | undefined {
  const m = /^#?(-)?(?:0x)?([0-9a-f]+)h?$/i.exec(text.trim());
  if (!m) return undefined;
  const v = BigInt(`0x${m[2]}`);
  return m[1] ? -v : v;
}

/** The constant an instruction adds to `register` (its full width), or undefined when it writes it another way. */
function constantStep(arch: Dump['arch'], insn: { mnemonic: string; operands: string }, register: RegisterName): bigint | undefined {
  const ops = insn.operands.split(',').map((o) => o.trim().toLowerCase());
  const name = register.toLowerCase();
  if (arch === 'arm64') {
    if ((insn.mnemonic === 'add' || insn.mnemonic === 'sub') && ops.length === 3 && ops[0] === name && ops[1] === name) {
      const v = immediate(ops[2]!);
      return v === undefined ? undefined : insn.mnemonic === 'add' ? v : -v;
    }
    return undefined;
  }
  if (ops[0] !== name) return undefined;
  if (insn.mnemonic === 'inc' && ops.length === 1) return 1n;
  if (insn.mnemonic === 'dec' && ops.length === 1) return -1n;
  if ((insn.mnemonic === 'add' || insn.mnemonic === 'sub') && ops.length === 2) {
    const v = immediate(ops[1]!);
    return v === undefined ? undefined : insn.mnemonic === 'add' ? v : -v;
  }
  const lea = insn.mnemonic === 'lea' && ops.length === 2 ? /^\[(\w+)(?:([+-])(\w+))?\]$/.exec(ops[1]!.replace(/\s+/g, '')) : null;
  if (lea && lea[1] === name) {
    const v = lea[3] === undefined ? 0n : immediate(lea[3]);
    return v === undefined ? undefined : lea[2] === '-' ? -v : v;
  }
  return undefined;
}

/**
 * Registers the window steps by constants its instructions state (`add
 * rax, 4`, `lea rcx,[rcx+8]`, `sub x1, x1, #16`) and writes no other way
 * before its anchor: the start value is the recorded one less the steps.
 * Read from the instructions themselves, for where replaying them cannot
 * tell (a load through the register faults on the lanes' fills before the
 * step runs). `instructions` run from the start up to the anchor, straight.
 */
export function recoverBySteps(
  dump: Dump, effects: Effects, instructions: Instruction[], unknown: ReadonlySet<RegisterName>, recorded: RegisterValues,
): Array<{ register: RegisterName; slot: bigint; value: bigint }> {
  const mask = registerMask(dump.arch);
  const found: Array<{ register: RegisterName; slot: bigint; value: bigint }> = [];
  for (const register of unknown) {
    const value = recorded[register];
    if (value === undefined || register === 'efl' || register === 'nzcv') continue;
    let total = 0n;
    let steps = 0;
    for (const insn of instructions) {
      if (!(effects.of(insn.bytes, insn.address)?.written ?? []).includes(register)) continue;
      const step = constantStep(dump.arch, insn, register);
      if (step === undefined) {
        steps = -1;
        break;
      }
      total += step;
      steps++;
    }
    if (steps > 0) found.push({ register, slot: -1n, value: (value - total) & mask });
  }
  return found;
}
