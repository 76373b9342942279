/**
 * Can the code as written enter a window at its start with the state the
 * window starts from? A window that starts where branches join (a loop's
 * head) takes its start state from the dump: every value carried through
 * to the fault matches by construction. But each way into the start leaves
 * its mark: a fall-through from `mov rax, rdi` arrives with rax = rdi, a
 * `test rax, rax; jne` back-edge arrives only with rax non-zero. When every
 * way in contradicts the start state on values the dump holds, no account
 * in which the code before the window ran as written holds.
 *
 * Each way in is replayed backwards one instruction at a time: the last k
 * instructions before the start, with every register they write unknown
 * and every other one as at the start (nothing else changed it). A way in
 * is contradicted when the replay, on values it knows, goes elsewhere or
 * arrives with a different value.
 *
 * Only functions whose every entry is seen are judged: the function is
 * known by its symbol and decodes gap-free, has no indirect jump (a jump
 * table could enter anywhere), and the start is not the function's own.
 *
 * @example
 * ```ts
 * entryCheck(dump, code, effects, window); // { what: 'arrival', status: 'mismatch', note: 'no way into 004018f8 …' }
 * ```
 */
import { pcRegister, spRegister, type RegisterName } from '../../emu/registers.ts';
import { isMapped } from '../dumps/address-map.ts';
import type { Dump } from '../dumps/model.ts';
import type { Effects } from '../disasm/effects.ts';
import { formatAddress } from '../format.ts';
import { comparedMask, type Check } from './checks.ts';
import type { CodeReader, Instruction } from './code.ts';
import { directTarget, SWEEP_LIMIT } from './flow.ts';
import { endsFallThrough } from './instruction-kind.ts';
import { Replayer } from './replay.ts';
import { writtenOnPath } from './window-recovery.ts';
import type { Window } from './window.ts';

/** Instructions before a way in that are replayed, at most. */
const MAX_BACK = 8;

/** The instructions of the function holding `address`, from its symbol to the next one; undefined where not all decode. */
function functionCode(code: CodeReader, address: bigint): Instruction[] | undefined {
  const location = code.dump.symbols.lookup(address);
  if (!location?.symbol || location.offset === 0n || location.offset > SWEEP_LIMIT) return undefined;
  const out: Instruction[] = [];
  for (let at = location.base; at < location.base + SWEEP_LIMIT;) {
    const next = code.dump.symbols.lookup(at);
    if (at > location.base && next?.symbol && next.base !== location.base) break;
    const insn = code.decodeAt(at);
    if (!insn) return at > address ? out : undefined;
    out.push(insn);
    at += BigInt(insn.size);
  }
  return out;
}

/** Why the code as written cannot arrive at the window's start through `way` (the last instruction before it), or undefined. */
/** What the window's start state does not say of the start: registers and memory the window changes before the fault. */
interface Changed {
  registers: ReadonlySet<RegisterName>;
  memory: Array<{ address: bigint; length: number }>;
}

/** True when a conditional branch of `run` reads a register that is unknown, or computed from one earlier in the run. */
function testsUnknown(effects: Effects, run: Instruction[], unknown: ReadonlySet<RegisterName>, pc: RegisterName): boolean {
  const tainted = new Set(unknown);
  tainted.delete(pc);
  for (const insn of run) {
    const effect = effects.of(insn.bytes, insn.address);
    const reads = (effect?.read ?? []).some((r) => tainted.has(r));
    if (insn.kind === 'conditional' && reads) return true;
    for (const r of effect?.written ?? []) {
      if (reads) tainted.add(r);
      else tainted.delete(r);
    }
  }
  return false;
}

function contradiction(dump: Dump, effects: Effects, window: Window, fn: Instruction[], targets: ReadonlySet<bigint>, way: number, later: Changed): string | undefined {
  const arch = dump.arch;
  const f = (v: bigint) => formatAddress(arch, v);
  const sp = spRegister(arch);
  const start = window.start;
  const written = new Set<RegisterName>();
  for (let k = 1; k <= MAX_BACK && way - k + 1 >= 0; k++) {
    const first = fn[way - k + 1]!;
    // Only a straight run: a branch into the middle of it, or an instruction before it that does not fall through, ends it.
    if (k > 1 && (endsFallThrough(first.kind) || first.kind === 'call')) return undefined;
    const writes = effects.of(first.bytes, first.address)?.written ?? [];
    if (writes.includes(sp) || first.kind === 'call') return undefined;
    for (const r of writes) written.add(r);
    const registers = { ...window.replay.registers, [pcRegister(arch)]: first.address };
    const unknown = new Set<RegisterName>([...later.registers, ...written]);
    // A branch that tests what is not known goes either way (the lanes' fills may agree on the flags by chance), and
    // so does one that tests what the run computed from it (`cmp edx, 10h; jne` with edx unknown).
    if (testsUnknown(effects, fn.slice(way - k + 1, way + 1), unknown, pcRegister(arch))) {
      if (targets.has(first.address)) return undefined;
      continue;
    }
    const replayer = new Replayer(dump, { start: first.address, registers, unknown, unknownMemory: later.memory, maxInstructions: k + 1, until: start });
    let outcome;
    try {
      // Memory these instructions write holds, in the dump, what they wrote: what they read there before (a
      // counter's `add [rbp-0Ch], 1`) is not known.
      const own = replayer.runTraced().writes.map((w) => ({ address: w.address, length: w.size }));
      outcome = own.length > 0 ? replayer.run(undefined, { unknownMemory: own }) : replayer.run();
    } finally {
      replayer.dispose();
    }
    const r = outcome.result;
    // A fault at an address computed from known values, where the dump's address map says nothing the code may touch
    // is, stops the code there: it does not arrive this way.
    if (r.kind === 'fault' && outcome.resultKnown && r.reason !== 'not-in-dump' && r.pc !== start) {
      return `from ${f(first.address)} ${first.text} the code faults at ${f(r.pc)} (${r.access} of ${f(r.address)}, ${r.reason}) before ${f(start)}, with the values at the start`;
    }
    // Any other fault or trap on the way says nothing of where the code would have gone (its address may be one the
    // dump lacks).
    if (r.kind === 'fault' || r.kind === 'trapped') return undefined;
    const arrived = r.kind === 'reached' && r.pc === start;
    if (!arrived && outcome.resultKnown) {
      return `from ${f(first.address)} ${first.text} the code goes to ${f(r.pc)}, not ${f(start)}, with the values at the start`;
    }
    if (arrived && outcome.resultKnown) {
      for (const name of outcome.knownRegisters) {
        if (name === pcRegister(arch) || later.registers.has(name) || !written.has(name)) continue;
        const want = window.replay.registers[name];
        const got = outcome.final[name];
        if (want !== undefined && got !== undefined && ((want ^ got) & comparedMask(arch, name)) !== 0n) {
          return `${f(first.address)} ${first.text} leaves ${name} = ${f(got)} at ${f(start)}, where the window starts with ${f(want)}`;
        }
      }
    }
    // Control may enter between here and the way in from elsewhere: what ran before `first` is not certain.
    if (targets.has(first.address)) return undefined;
  }
  return undefined;
}

/** The entry check of `window`: a mismatch when no way into its start gives its start state, else undefined. */
export function entryCheck(dump: Dump, code: CodeReader, effects: Effects, window: Window): Check | undefined {
  const f = (v: bigint) => formatAddress(dump.arch, v);
  const start = window.start;
  const fn = functionCode(code, start);
  if (!fn) return undefined;
  // An indirect jump (a switch's table, a computed goto) may enter anywhere.
  if (fn.some((insn) => insn.kind === 'jump' && directTarget(insn) === undefined)) return undefined;
  const at = fn.findIndex((insn) => insn.address === start);
  if (at <= 0) return undefined;
  const ways: number[] = [];
  const previous = fn[at - 1]!;
  if (previous.kind === 'call') return undefined; // a return lands here: the callee's effects are not replayed
  if (!endsFallThrough(previous.kind)) ways.push(at - 1);
  for (const [n, insn] of fn.entries()) if ((insn.kind === 'jump' || insn.kind === 'conditional') && directTarget(insn) === start) ways.push(n);
  if (ways.length === 0) return undefined;
  const targets = new Set(fn.map(directTarget).filter((t): t is bigint => t !== undefined));
  // The window's start state holds the dump's values, which are the start's only where nothing the window runs (up
  // to the fault, past its anchor too) changed them.
  const registers = new Set<RegisterName>([...(window.replay.unknown ?? []), ...writtenOnPath(code, effects, window.faithful.path)]);
  // A register the window got back (from the slot it saved it to, by undoing its step) has its start value.
  for (const r of window.recovered) registers.delete(r.register);
  const later: Changed = { registers, memory: [...(window.replay.unknownMemory ?? []), ...window.faithful.writes.map((w) => ({ address: w.address, length: w.size }))] };
  const reasons: string[] = [];
  for (const way of ways) {
    const why = contradiction(dump, effects, window, fn, targets, way, later);
    if (!why) return undefined;
    reasons.push(why);
  }
  return {
    what: 'arrival',
    expected: `a way into ${f(start)} that gives the window's start state`,
    status: 'mismatch',
    basis: 'computed',
    note: `no way into ${f(start)} gives the state the window starts from: ${reasons.join('; ')}`,
  };
}

/**
 * At a function's first instruction (x86, x64) the stack pointer points at a
 * return address: the call that entered it pushed one there, a tail jump
 * left its caller's. A window that starts there with a stack pointer the
 * dump's complete address map says is not mapped cannot have been entered
 * so, if the code reads the stack pointer before setting it (`live`): a
 * mismatch, else undefined.
 */
export function entryStackCheck(dump: Dump, window: Pick<Window, 'start' | 'replay'>, live: boolean): Check | undefined {
  if (dump.arch === 'arm64' || !live) return undefined;
  const sp = spRegister(dump.arch);
  const value = window.replay.registers[sp];
  if (value === undefined || window.replay.unknown?.has(sp)) return undefined;
  const location = dump.symbols.lookup(window.start);
  if (!location?.symbol || location.offset !== 0n || isMapped(dump, value) !== false) return undefined;
  const f = (v: bigint) => formatAddress(dump.arch, v);
  return {
    what: 'arrival', expected: `a stack pointer at a return address when ${f(window.start)} is entered`, actual: f(value), status: 'mismatch', basis: 'computed',
    note: `${f(window.start)} starts a function, where the stack pointer points at the return address its caller left; ${f(value)} is not mapped`,
  };
}

/** True when the code of `path` (its pcs, and `bytesAt` for what ran there) reads the stack pointer before it sets it. */
export function stackPointerLive(effects: Effects, path: readonly bigint[], bytesAt: (pc: bigint) => Uint8Array | undefined, sp: RegisterName): boolean {
  for (const pc of path) {
    const bytes = bytesAt(pc);
    const effect = bytes && effects.of(bytes, pc);
    if (!effect) return true;
    if (effect.read.includes(sp)) return true;
    if (effect.written.includes(sp)) return false;
  }
  return true;
}
