/**
 * Every way control could have reached the fault, each as a place to
 * anchor a replay window and the evidence for it:
 *
 * | kind | from |
 * |---|---|
 * | `fault` | the faulting instruction itself, when its bytes are known (data faults, traps, falling through into it) |
 * | `call` | a return address near sp whose preceding bytes decode as a call ending there |
 * | `ret` | the slot just below sp holds a return address: a `ret` just popped it |
 * | `link-register` | AArch64: x30 holds a return address after `bl`/`blr` (its callee's `ret` goes back through x30) |
 * | `jmp` | an indirect jump (jump table, tail call, PLT) in the function the innermost call entered |
 *
 * Only the innermost frame's registers are current: the target of an outer
 * frame's `call rax` is not today's rax, so it is left unknown.
 *
 * @example
 * ```ts
 * const candidates = findCandidates(dump, code, site);
 * // [{ kind: 'call', instruction: call dword ptr [80a5b020], sp: 0xf78aecb0n, expected: 0x8082e3e4n, … }, …]
 * ```
 */
import { pcRegister, pointerSize, registerMask, spRegister, type RegisterName, type RegisterValues } from '../../emu/registers.ts';
import type { Effects } from '../disasm/effects.ts';
import { returnsThatFit } from './return-choice.ts';
import type { Dump } from '../dumps/model.ts';
import { formatAddress } from '../format.ts';
import { compareBits } from './bits.ts';
import type { CodeReader, Instruction } from './code.ts';
import type { FaultSite } from './fault-site.ts';
import { directTarget } from './flow.ts';
import { machineFor } from './machine.ts';
import { readPointer } from './values.ts';
import type { StackWalker } from '../unwind/walk.ts';

export type CandidateKind = 'fault' | 'call' | 'ret' | 'link-register' | 'jmp';

export interface Candidate {
  kind: CandidateKind;
  /** The instruction the window is anchored at: the transfer, or the faulting instruction. */
  instruction: Instruction;
  /** The stack pointer just before `instruction` runs. */
  sp: bigint;
  /** The slot holding the return address (call, ret), when on the stack. */
  slot?: bigint;
  returnAddress?: bigint;
  /** Where the transfer should have gone, when the dump says. */
  expected?: bigint;
  /** Where the target was read from, when from memory. */
  pointer?: { address: bigint; size: number; value: bigint };
  /** Why `expected` is missing. */
  unknownReason?: string;
  /** One line each: how this candidate was found. */
  evidence: string[];
  /**
   * A `ret` that popped exactly the faulting pc from the slot just below a
   * function's return address: the function returned with its stack one slot
   * short. Its window is the epilogue alone (from the last branch or call).
   */
  popped?: true;
  /**
   * A call of an outer frame whose target comes from registers: their values
   * then are not the dump's (only the innermost frame's registers are current).
   */
  staleOperands?: true;
}

/** Stack slots scanned for return addresses, from sp up. */
const SLOTS_ABOVE = 32;

/** True when the operand of `insn` needs registers to compute (`call rax`, `call [rax+8]`), not a fixed address. */
export function usesRegisters(insn: Instruction): boolean {
  if (directTarget(insn) !== undefined) return false;
  const operand = insn.operands.split(',').pop()!.trim();
  // An absolute memory operand prints as [hex digits] (x64 RIP-relative ones are resolved to absolute).
  return !/^(?:[a-z]+ ptr )?\[[0-9a-f`]+\]$/i.test(operand);
}

/**
 * Emulates the transfer `insn` alone from `registers` (sp as it was just
 * before it) and returns where it went, and the pointer it read if any.
 */
export function transferTarget(dump: Dump, registers: RegisterValues, insn: Instruction, sp: bigint): Pick<Candidate, 'expected' | 'pointer' | 'unknownReason'> {
  const arch = dump.arch;
  const direct = directTarget(insn);
  if (direct !== undefined) return { expected: direct };
  const state = { ...registers, [spRegister(arch)]: sp, [pcRegister(arch)]: insn.address };
  const emu = machineFor(dump, state);
  const reads: Array<{ address: bigint; size: number; value: bigint }> = [];
  try {
    emu.onMemory('read', (address, size, value) => reads.push({ address, size, value }));
    const result = emu.run({ from: insn.address, count: 1, maxInstructions: 1, timeoutMs: 1000 });
    // The transfer completed when the only thing missing is the code at its target.
    const landed = result.kind === 'fault' && result.access === 'fetch' && result.pc !== insn.address;
    if (result.kind === 'fault' && !landed) return { unknownReason: `its operand is not in the dump (${result.message})` };
    if (result.kind !== 'reached' && !landed) return { unknownReason: `emulating it ended with ${result.kind}` };
    const target = emu.readRegister(pcRegister(arch));
    const pointer = reads.find((r) => r.size === pointerSize(arch) && r.value === target);
    return { expected: target, pointer };
  } finally {
    emu.dispose();
  }
}

/**
 * Candidates for `site`, the most direct first. With `unwind`, a call found
 * by the AArch64 link register is anchored where the faulting frame started
 * (its CFA): a leaf callee may have moved sp since (`sub sp, sp, #0x20`).
 */
export function findCandidates(dump: Dump, code: CodeReader, site: FaultSite, unwind?: StackWalker): Candidate[] {
  const arch = dump.arch;
  const f = (v: bigint) => formatAddress(arch, v);
  const registers = site.context?.registers;
  const sp = registers?.[spRegister(arch)];
  const out: Candidate[] = [];
  const faulting = code.decodeAt(site.pc);
  if (faulting && sp !== undefined) {
    out.push({ kind: 'fault', instruction: faulting, sp, evidence: [`${f(site.pc)} ${faulting.text} is in the dump`] });
  }
  if (!registers || sp === undefined) return out;
  const size = BigInt(pointerSize(arch));
  const mask = registerMask(arch);
  const notHeld = new Set<RegisterName>(site.context?.unknown ?? []);
  const current = (insn: Instruction) => !usesRegisters(insn) || ![...notHeld].some((r) => insn.operands.includes(r));

  // Return addresses on the stack: calls that were made.
  let innermost: { call: Instruction; target?: bigint } | undefined;
  for (let i = 0; i < SLOTS_ABOVE; i++) {
    const slot = (sp + BigInt(i) * size) & mask;
    const value = readPointer(dump, slot);
    if (value === undefined || value < 0x1000n) continue;
    const call = code.endingAt(value, (insn) => insn.kind === 'call');
    if (!call) continue;
    const innermostFrame = i === 0;
    const target = innermostFrame || !usesRegisters(call)
      ? (current(call) ? transferTarget(dump, registers, call, (slot + size) & mask) : { unknownReason: `its operand uses a register the ${site.context!.kind} does not hold` })
      : { unknownReason: `${call.text} needs registers as they were at that call; only the innermost frame's are known` };
    out.push({
      kind: 'call', instruction: call, sp: (slot + size) & mask, slot, returnAddress: value, ...target,
      ...(!innermostFrame && usesRegisters(call) ? { staleOperands: true as const } : {}),
      evidence: [`[${f(slot)}] holds ${f(value)}, the return address of ${f(call.address)} ${call.text}`],
    });
    // The function the innermost call entered: where the pc is, unless it called on (its callees have returned).
    if (innermostFrame || (!innermost && target.expected !== undefined)) innermost = { call, target: target.expected };
  }

  // Returns just taken: the return address is still where `ret` read it (the slot just below sp;
  // AArch64's x30), or the pc is one bit from a return address (the slot itself was corrupt).
  const returned = arch === 'arm64' ? { value: registers.x30, slot: undefined, sp } : { value: readPointer(dump, (sp - size) & mask), slot: (sp - size) & mask, sp: (sp - size) & mask };
  if (returned.value !== undefined) {
    const whats: Array<{ address: bigint; why: string }> = [];
    const call = code.endingAt(returned.value, (insn) => insn.kind === 'call');
    const where = returned.slot === undefined ? 'x30' : `[${f(returned.slot)}], just below sp,`;
    if (call) whats.push({ address: returned.value, why: `${where} holds ${f(returned.value)}, the return address of ${f(call.address)} ${call.text}: a ret took it` });
    else if (returned.value === site.pc) {
      for (let bit = 0; bit < Number(size) * 8; bit++) {
        const neighbour = (returned.value ^ (1n << BigInt(bit))) & mask;
        if (neighbour >= 0x1000n && code.endingAt(neighbour, (insn) => insn.kind === 'call')) {
          whats.push({ address: neighbour, why: `${where} holds ${f(returned.value)}, the pc, one bit (bit ${bit}) from ${f(neighbour)}, a return address: a ret took a corrupt value` });
        }
      }
    }
    // The pc itself just below the innermost return address: the function that call entered returned through a
    // slot of its own frame (a pop it skipped, a stack it left unbalanced, a saved value overwritten).
    const frame = out.find((c) => c.kind === 'call' && c.slot !== undefined && c.slot >= sp);
    if (whats.length === 0 && returned.slot !== undefined && returned.value === site.pc && frame?.expected !== undefined && executableStart(code, frame.expected)) {
      for (const ret of returnsIn(code, frame.expected, registers, returned.sp)) {
        out.push({
          kind: 'ret', instruction: ret, sp: returned.sp, slot: returned.slot, returnAddress: frame.returnAddress, popped: true,
          unknownReason: `the ret took [${f(returned.slot)}], below the return address at [${f(frame.slot!)}]`,
          evidence: [
            `${where} holds ${f(returned.value)}, the pc: a ret took it`,
            `${f(ret.address)} ${ret.text} returns from ${dump.symbols.format(frame.expected)}, which ${f(frame.instruction.address)} ${frame.instruction.text} called; its return address is at [${f(frame.slot!)}]`,
          ],
        });
      }
    }
    for (const w of whats) {
      const caller = code.endingAt(w.address, (insn) => insn.kind === 'call')!;
      const callee = directTarget(caller) ?? (!usesRegisters(caller) ? transferTarget(dump, registers, caller, returned.sp + (arch === 'arm64' ? 0n : size)).expected : undefined);
      if (callee === undefined) continue;
      for (const ret of returnsIn(code, callee, registers, returned.sp)) {
        out.push({ kind: 'ret', instruction: ret, sp: returned.sp, slot: returned.slot, returnAddress: w.address, expected: w.address, evidence: [w.why, `${f(ret.address)} ${ret.text} returns from ${dump.symbols.format(callee)}, which ${f(caller.address)} ${caller.text} called`] });
      }
    }
  }

  // AArch64: bl/blr leave the return address in x30.
  const lr = arch === 'arm64' ? registers.x30 : undefined;
  if (lr !== undefined && lr >= 4n) {
    const call = code.endingAt(lr, (insn) => insn.kind === 'call');
    if (call) {
      const rule = unwind?.cfaRule(site.pc);
      const base = rule && !site.context?.unknown?.includes(rule.register) ? registers[rule.register] : undefined;
      const callSp = rule && base !== undefined ? (base + rule.offset) & registerMask(arch) : sp;
      const target = transferTarget(dump, registers, call, callSp);
      out.push({ kind: 'link-register', instruction: call, sp: callSp, returnAddress: lr, ...target, evidence: [`lr = ${f(lr)}, the return address of ${f(call.address)} ${call.text}`] });
      innermost = { call, target: target.expected };
    }
  }

  // Indirect jumps in the function the innermost call entered (and those it tail-jumps to): jump tables, tail calls.
  if (innermost?.target !== undefined) {
    const functions = [innermost.target];
    for (const entry of [innermost.target]) {
      for (const jump of instructionsIn(code, entry, (insn) => insn.kind === 'jump' && directTarget(insn) !== undefined)) {
        const to = directTarget(jump)!;
        if (code.dump.symbols.lookup(to)?.offset === 0n && !functions.includes(to)) functions.push(to);
      }
    }
    // A direct branch whose target is one bit from the pc, or from code that runs straight into the pc: the CPU took
    // it and went astray (the target is in the instruction, so only a fault on its way explains the difference).
    const landings = landingsBefore(code, site.pc);
    const width = Number(size) * 8;
    const landingOf = (target: bigint) => landings.find((l) => l.address !== target && (((target ^ l.address) & ((target ^ l.address) - 1n)) === 0n) && ((target ^ l.address) >> BigInt(width)) === 0n);
    for (const branch of functions.flatMap((entry) => instructionsIn(code, entry, (insn) => (insn.kind === 'jump' || insn.kind === 'conditional') && directTarget(insn) !== undefined && landingOf(directTarget(insn)!) !== undefined))) {
      const target = directTarget(branch)!;
      const landing = landingOf(target)!;
      const to = landing.address === site.pc ? 'the pc' : `${f(landing.address)}, which runs straight into the pc (${landing.instructions} instruction${landing.instructions === 1 ? '' : 's'})`;
      out.push({
        kind: 'jmp', instruction: branch, sp, expected: target,
        evidence: [`${f(branch.address)} ${branch.text} in ${dump.symbols.format(innermost.target)} branches to ${f(target)}, one bit from ${to}`],
      });
    }
    for (const jump of functions.flatMap((entry) => indirectJumpsIn(code, entry))) {
      const target = transferTarget(dump, registers, jump, sp);
      out.push({
        kind: 'jmp', instruction: jump, sp, ...target,
        evidence: [`${f(jump.address)} ${jump.text} is an indirect jump in ${dump.symbols.format(innermost.target)}, entered by ${f(innermost.call.address)} ${innermost.call.text}`],
      });
    }
  }
  return out;
}

/** Instructions, at most, that a wrong landing may run before the fault. */
const MAX_LANDING_RUN = 4;

/**
 * The pc, and the addresses just before it from which the code runs straight
 * (no transfer) into the pc within a few instructions: where a transfer that
 * went astray may have landed.
 */
function landingsBefore(code: CodeReader, pc: bigint): Array<{ address: bigint; instructions: number }> {
  const out = [{ address: pc, instructions: 0 }];
  for (let address = pc - 1n; address >= pc - 8n * BigInt(MAX_LANDING_RUN) && address >= 0n; address--) {
    let at = address;
    for (let n = 1; n <= MAX_LANDING_RUN; n++) {
      const insn = code.decodeAt(at);
      if (!insn || (insn.kind !== 'other' && insn.kind !== 'conditional')) break;
      at += BigInt(insn.size);
      if (at === pc) {
        out.push({ address, instructions: n });
        break;
      }
      if (at > pc) break;
    }
  }
  return out;
}

/** True when the code at `entry` is in the dump. */
function executableStart(code: CodeReader, entry: bigint): boolean {
  return code.decodeAt(entry) !== undefined;
}

/** Returns of one function given windows, at most. */
const MAX_RETURNS = 3;

/** The returns of the function starting at `entry`: those whose code before them fits the dump first (return-choice.ts), a few. */
function returnsIn(code: CodeReader, entry: bigint, registers: RegisterValues, sp: bigint): Instruction[] {
  const all = instructionsIn(code, entry, (insn) => insn.kind === 'return');
  return returnsThatFit(code.dump, code, registers, all, sp, MAX_RETURNS);
}

/** Indirect jumps in the function starting at `entry`. */
export function indirectJumpsIn(code: CodeReader, entry: bigint): Instruction[] {
  return instructionsIn(code, entry, (insn) => insn.kind === 'jump' && directTarget(insn) === undefined);
}

/** Instructions of the function starting at `entry` that `accept` takes (decoded forward up to its end or 4 KiB). */
function instructionsIn(code: CodeReader, entry: bigint, accept: (insn: Instruction) => boolean): Instruction[] {
  const found: Instruction[] = [];
  const start = code.dump.symbols.lookup(entry);
  let at = entry;
  for (let n = 0; n < 2048 && at < entry + 0x1000n; n++) {
    const insn = code.decodeAt(at);
    if (!insn) break;
    if (accept(insn)) found.push(insn);
    at += BigInt(insn.size);
    const next = code.dump.symbols.lookup(at);
    if (start?.symbol && next?.symbol && next.base !== start.base) break;
  }
  return found;
}

/** Windows replayed at most. */
const MAX_WINDOWS = 4;

/**
 * The windows worth replaying, the most telling first; one per anchor. A
 * return address below sp (`ret`) is often just left over from an earlier
 * call: it counts only when the pc is that address or one bit from it.
 */
export function chooseCandidates(site: FaultSite, candidates: Candidate[], width: number): Candidate[] {
  const innermost = innermostSp(candidates);
  const related = (c: Candidate) => c.expected !== undefined && (c.expected === site.pc || compareBits(c.expected, site.pc, width).relation === 'one-bit');
  const rank = (c: Candidate): number | undefined => {
    if (c.kind === 'fault') return 0;
    if (related(c) || c.popped) return 1;
    if (c.kind === 'link-register' || (c.kind === 'call' && c.sp === innermost)) return 2;
    if (c.kind === 'jmp') return 3;
    if (c.kind === 'ret') return undefined;
    return c.expected === undefined ? 5 : 4;
  };
  const seen = new Set<string>();
  const out: Candidate[] = [];
  const ranked = candidates.map((c) => ({ c, r: rank(c) })).filter((x): x is { c: Candidate; r: number } => x.r !== undefined).sort((a, b) => a.r - b.r);
  for (const { c } of ranked) {
    const key = `${c.instruction.address}:${c.sp}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(c);
  }
  return out.slice(0, MAX_WINDOWS);
}

/** The registers an outer frame's transfer reads for its target (not the stack or program counter). */
export function staleOperands(dump: Dump, effects: Effects, insn: Instruction): RegisterName[] {
  const skip = new Set<RegisterName>([spRegister(dump.arch), pcRegister(dump.arch)]);
  return (effects.of(insn.bytes, insn.address)?.read ?? []).filter((r) => !skip.has(r));
}

/** The sp just before the innermost call on the stack (its slot is the lowest). */
function innermostSp(candidates: Candidate[]): bigint | undefined {
  let best: bigint | undefined;
  for (const c of candidates) if (c.kind === 'call' && (best === undefined || c.sp < best)) best = c.sp;
  return best;
}
