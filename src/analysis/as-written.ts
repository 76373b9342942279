/**
 * The accounts in which the CPU executed the window exactly as written
 * (the faithful replay): a software bug, with the pattern it left (a null
 * or poison pointer, a non-canonical address, a stack overflow, an abort, a
 * deliberate trap); a deliberate breakpoint (no fault at all); or a value
 * the code loaded from memory that is one bit from what it should be (the
 * memory, not the code or the CPU, was wrong). They share the faithful
 * replay's checks and differ in their evidence and priors.
 *
 * @example
 * ```ts
 * const [software, ...others] = asWrittenHypotheses(ctx);
 * software.evidence; // [{ text: '00000000 is in the null page area …', weight: 2 }]
 * ```
 */
import { pointerSize, spRegister, type RegisterName } from '../../emu/registers.ts';
import { regionOf } from '../dumps/address-map.ts';
import { formatAddress, hex } from '../format.ts';
import { compareOutcome, summarize, type Check } from './checks.ts';
import type { Instruction } from './code.ts';
import { directTarget } from './flow.ts';
import type { SearchContext } from './families.ts';
import type { Evidence, Hypothesis } from './hypothesis.ts';
import { unknownBranchOf } from './unknown-branch.ts';
import { NULL_AREA, oneBitNeighbours, pointerSeenElsewhere, siblingPointers, slotsHolding, validity, valuePattern, type Neighbour, type ValueRole } from './values.ts';

/** Evidence weights (log10 likelihood ratios). */
const PATTERN_WEIGHT = 2;
const DELIBERATE_WEIGHT = 3;
const ABORT_WEIGHT = 4;
const STRONG_NEIGHBOUR_WEIGHT = 5;
const WEAK_NEIGHBOUR_WEIGHT = 1.5;
const SEEN_IN_REGISTER_WEIGHT = 1;
const SEEN_IN_MEMORY_WEIGHT = 0.3;
/** A pointer one bit from the mapping of the very slot that holds it (a link between objects there). */
const SAME_MAPPING_WEIGHT = 3.5;
/** A pointer one bit from what the words beside its slot point near (an array of pointers to like objects). */
const SIBLINGS_WEIGHT = 3.5;
/** A loaded integer whose one set bit far above its magnitude is all that sends the access out of the memory the program uses. */
const HIGH_BIT_WEIGHT = 3.5;
/** Bits a flip must sit above a loaded integer's own highest bit to count as the jump a flip makes. */
const JUMP_BITS = 8;
/** Loads of the window looked at for a one-bit repair of the fault, at most. */
const MAX_REPAIR_LOADS = 32;

/** The value that made the fault happen, where it came from, and what it should have been. */
interface Culprit {
  value: bigint;
  role: ValueRole;
  /** The register holding it at the fault, if any. */
  register?: RegisterName;
  /** The memory slot it was loaded from, when the replay saw the load. */
  slot?: bigint;
  /** What it is: "the call target", "the base address of the faulting load". */
  what: string;
  /** The transfer that went to it, for a branch target. */
  via?: Instruction;
}

const TRAP_INSTRUCTIONS = new Set(['ud2', 'ud1', 'ud0', 'udf']);

/** The register (other than the pc, sp and flags) whose value is nearest `address`, within 4 KiB. */
function nearestRegister(ctx: SearchContext, address: bigint): { name: RegisterName; value: bigint } | undefined {
  const registers = ctx.site.context?.registers ?? {};
  const skip = new Set(['eip', 'rip', 'pc', 'efl', 'nzcv', 'cs', 'ss', 'ds', 'es', 'fs', 'gs', 'fs_base', 'gs_base', 'tpidr_el0', spRegister(ctx.dump.arch)]);
  let best: { name: RegisterName; value: bigint; distance: bigint } | undefined;
  for (const [name, value] of Object.entries(registers) as Array<[RegisterName, bigint | undefined]>) {
    if (value === undefined || skip.has(name) || ctx.site.context?.unknown?.includes(name)) continue;
    const distance = address >= value ? address - value : value - address;
    if (distance < 0x1000n && (!best || distance < best.distance)) best = { name, value, distance };
  }
  return best;
}

/** The stack pointer, for an x86 access with no memory operand of its own near it (`ret`, `push`, `pop`, `call reg`). */
function stackAccess(ctx: SearchContext, faulting: Instruction, address: bigint): { name: RegisterName; value: bigint } | undefined {
  if (ctx.dump.arch === 'arm64' || faulting.operands.includes('[')) return undefined;
  const name = spRegister(ctx.dump.arch);
  const value = ctx.site.context?.registers[name];
  if (value === undefined || ctx.site.context?.unknown?.includes(name)) return undefined;
  return (address >= value ? address - value : value - address) < 0x1000n ? { name, value } : undefined;
}

/** The slot the faithful replay loaded `value` from, most recent first. */
function loadedFrom(ctx: SearchContext, value: bigint): bigint | undefined {
  const size = pointerSize(ctx.dump.arch);
  const reads = ctx.window.faithful.reads;
  for (let i = reads.length - 1; i >= 0; i--) {
    if (reads[i]!.size === size && reads[i]!.value === value) return reads[i]!.address;
  }
  return undefined;
}

/** The pointer-sized load of the window, most recent first, whose value is at most 4 KiB below `value` (and not `value`). */
function offsetFrom(ctx: SearchContext, value: bigint): { value: bigint; address: bigint } | undefined {
  const size = pointerSize(ctx.dump.arch);
  const reads = ctx.window.faithful.reads;
  for (let i = reads.length - 1; i >= 0; i--) {
    const r = reads[i]!;
    if (r.size === size && r.value >= NULL_AREA && r.value < value && value - r.value < 0x1000n) return { value: r.value, address: r.address };
  }
  return undefined;
}

function culpritOf(ctx: SearchContext, faulting: Instruction | undefined): Culprit | undefined {
  const { site } = ctx;
  const path = ctx.window.faithful.path;
  const end = ctx.window.faithful.outcome.result;
  // Arrived at the pc by a transfer: the target is the culprit. So is the target of an indirect transfer into the
  // middle of code (no function start, no return address) that then ran to the fault.
  for (let i = path.length - 1; i >= 0; i--) {
    const insn = ctx.code.decodeAt(path[i]!);
    if (!insn || (insn.kind !== 'call' && insn.kind !== 'jump' && insn.kind !== 'return')) continue;
    const target = i + 1 < path.length ? path[i + 1] : end.kind === 'fault' && end.access === 'fetch' ? end.address : undefined;
    const role: ValueRole = insn.kind === 'return' ? 'return' : 'code';
    const what = role === 'return' ? 'the return address' : 'the branch target';
    if (target === site.pc) return { value: site.pc, role, slot: loadedFrom(ctx, site.pc), what, via: insn };
    // A target the runs do not agree on was computed from values the dump does not hold: what is known is where the
    // CPU went, the pc it faulted at.
    if (!ctx.window.faithful.outcome.resultKnown && directTarget(insn) === undefined) {
      return site.access === 'execute' ? { value: site.pc, role, what: 'the address executed', via: insn } : undefined;
    }
    if (target === undefined || directTarget(insn) !== undefined || validity(ctx.dump, ctx.code, target, role)) break;
    return { value: target, role, slot: loadedFrom(ctx, target), what: `${what} of ${formatAddress(ctx.dump.arch, insn.address)} ${insn.text}`, via: insn };
  }
  if (site.kind !== 'access-violation' || site.access === 'execute') return undefined;
  const address = site.accessAddress ?? (end.kind === 'fault' && end.pc === site.pc ? end.address : undefined);
  if (address === undefined || faulting === undefined) return undefined;
  const base = stackAccess(ctx, faulting, address) ?? nearestRegister(ctx, address);
  if (!base) return { value: address, role: 'data', what: 'the address accessed' };
  // A pointer loaded before the window (by an earlier iteration of a loop) is still in the slot it came from.
  const slot = loadedFrom(ctx, base.value) ?? onlySlotHolding(ctx.dump, base.value);
  if (slot === undefined) {
    // The base was computed from a pointer the window loaded plus an index or offset (`add rax, rdx`): that pointer
    // is what the memory held.
    const pointer = offsetFrom(ctx, base.value);
    if (pointer) return { value: pointer.value, role: 'data', slot: pointer.address, what: `the pointer ${base.name} was computed from (${base.name} is the base of the access)` };
  }
  return { value: base.value, role: 'data', register: base.name, slot, what: `${base.name}, the base of the access` };
}

/** The one pointer-aligned word of writable memory that holds `value` (a pointer), if exactly one does. */
function onlySlotHolding(dump: SearchContext['dump'], value: bigint): bigint | undefined {
  if (value < NULL_AREA) return undefined;
  // Every window of an explain asks for the same culprit: the scan of writable memory is done once per dump.
  let known = onlySlots.get(dump);
  if (!known) onlySlots.set(dump, (known = new Map()));
  if (!known.has(value)) {
    const slots = slotsHolding(dump, value, 2);
    known.set(value, slots.length === 1 ? slots[0] : undefined);
  }
  return known.get(value);
}

const onlySlots = new WeakMap<SearchContext['dump'], Map<bigint, bigint | undefined>>();

/** The address the fault was at, as the replay knows it (a non-canonical one the CPU does not report), in hex. */
function faultAddress(ctx: SearchContext): string | undefined {
  const { site } = ctx;
  if (site.kind !== 'access-violation') return undefined;
  const end = ctx.window.faithful.outcome.result;
  const replayed = end.kind === 'fault' && end.pc === site.pc ? end.address : undefined;
  if (site.generalProtection || site.accessAddress === undefined || site.accessAddress === 0xffff_ffff_ffff_ffffn) return replayed === undefined ? undefined : hex(replayed);
  return hex(site.accessAddress);
}

/**
 * Software patterns in the trap and its culprit value; `flipped`: the
 * canonical value one bit from the culprit's non-canonical one, whose
 * pattern then does not count.
 */
function softwareEvidence(ctx: Pick<SearchContext, 'site' | 'dump'>, faulting: Instruction | undefined, culprit: Culprit | undefined, flipped?: Neighbour): Evidence[] {
  const { site, dump } = ctx;
  const f = (v: bigint) => formatAddress(dump.arch, v);
  const out: Evidence[] = [];
  if (site.kind === 'abort') out.push({ text: 'the program raised the signal itself (abort, a failed assertion or check)', weight: ABORT_WEIGHT });
  if (site.kind === 'divide-error') out.push({ text: `${faulting ? `${faulting.text}` : 'the instruction'} divides by zero (or overflows) with the values recorded`, weight: PATTERN_WEIGHT });
  if (faulting && (TRAP_INSTRUCTIONS.has(faulting.mnemonic) || (faulting.mnemonic === 'brk' && !/#0x0$|#0$/.test(faulting.operands)))) {
    out.push({ text: `${faulting.text} is a trap the compiler or programmer put there (__builtin_trap, a failed check)`, weight: DELIBERATE_WEIGHT });
  }
  if (flipped && culprit) {
    out.push({ text: `${culprit.what}, ${f(culprit.value)}, is not canonical, but one bit (bit ${flipped.bit}) from ${f(flipped.value)}, ${flipped.what}: a flip makes it so as well as a software bug`, weight: 0 });
  } else if (site.generalProtection && dump.arch === 'x64') {
    out.push({ text: 'a general protection fault: the address was not canonical, as a pointer from uninitialised or freed memory is', weight: PATTERN_WEIGHT / 2 });
  }
  if (culprit && !flipped) {
    const pattern = valuePattern(dump.arch, culprit.value);
    if (pattern) out.push({ text: `${culprit.what}: ${pattern.text}`, weight: PATTERN_WEIGHT });
    if (!pattern && culprit.register && site.accessAddress !== undefined && valuePattern(dump.arch, site.accessAddress)?.kind === 'null') {
      out.push({ text: `the address accessed, ${f(site.accessAddress)}, is in the null page area`, weight: PATTERN_WEIGHT });
    }
  }
  const sp = site.context?.registers[spRegister(dump.arch)];
  if (sp !== undefined && site.kind === 'access-violation' && stackAtItsEnd(dump, sp)) {
    out.push({ text: `the stack pointer ${f(sp)} is at the end of its stack, against the guard below it: a stack overflow`, weight: DELIBERATE_WEIGHT });
  } else if (sp !== undefined && site.kind === 'access-violation') {
    const address = site.accessAddress ?? site.pc;
    if (site.access === 'execute' && address + 0x100000n > sp && address < sp + 0x100000n && inStack(dump, address, sp)) {
      out.push({ text: `${f(address)} is beside the stack pointer ${f(sp)}: the CPU was sent to execute the stack (a smashed return address, a jump through stack data)`, weight: PATTERN_WEIGHT });
    } else if (address <= sp + 0x100n && address + 0x10000n >= sp && site.access !== 'execute') {
      const stack = regionOf(dump, sp);
      if ((!regionOf(dump, address) && stackJustAbove(dump, sp)) || (stack && sp - stack.start < 0x2000n)) {
        out.push({ text: `the fault is at ${f(address)}, just below the stack pointer ${f(sp)}, past the end of the stack: a stack overflow`, weight: DELIBERATE_WEIGHT });
      }
    }
  }
  return out;
}

/**
 * True when `address` is stack memory: in the mapping that holds `sp`, or,
 * without an address map, in memory the dump holds. An unmapped address
 * beside the stack (qemu-user puts the program just above it) is not.
 */
function inStack(dump: SearchContext['dump'], address: bigint, sp: bigint): boolean {
  if (dump.addressMap) {
    const stack = regionOf(dump, sp);
    return stack !== undefined && stack.start <= address && address < stack.end;
  }
  return dump.memory.read(address, 1) !== undefined;
}

/**
 * True when a stack could have grown down to `sp`: it is in writable memory,
 * or such memory starts within 64 KiB above it (a frame past the guard). A
 * stack pointer far from any stack (its upper half cut off) is no overflow.
 */
function stackJustAbove(dump: SearchContext['dump'], sp: bigint): boolean {
  for (let above = 0n; above <= 0x10000n; above += 0x1000n) {
    const at = sp + above;
    if (dump.addressMap ? regionOf(dump, at)?.write === true : dump.memory.read(at, 1) !== undefined) return true;
  }
  return false;
}

/** True when `sp` is in the last pages of its stack mapping, above a guard (or in the guard itself). */
function stackAtItsEnd(dump: SearchContext['dump'], sp: bigint): boolean {
  if (!dump.addressMap) return false;
  const region = regionOf(dump, sp);
  if (!region || !region.write) return region ? !region.read : false;
  if (sp - region.start >= 0x4000n) return false;
  const below = regionOf(dump, region.start - 1n);
  return !below || !below.write;
}

/** True when a breakpoint at the pc is part of the code (reached by falling through, or a function's first instruction), not filler. */
function deliberateBreakpoint(ctx: SearchContext, faulting: Instruction | undefined, calledHere: boolean): boolean {
  if (!faulting || ctx.site.kind !== 'breakpoint') return false;
  if (faulting.mnemonic === 'brk' && !/#0x0$|#0$/.test(faulting.operands)) return false;
  // Called on purpose, like DbgBreakPoint: the call goes to a function that starts with the breakpoint.
  if (calledHere && ctx.dump.symbols.lookup(ctx.site.pc)?.offset === 0n) return true;
  const previous = ctx.code.endingAt(ctx.site.pc);
  return previous !== undefined && previous.kind !== 'jump' && previous.kind !== 'return' && previous.kind !== 'trap';
}

/** The as-written hypotheses of the window in `ctx`. */
export function asWrittenHypotheses(ctx: SearchContext): Hypothesis[] {
  const { dump, site } = ctx;
  const f = (v: bigint) => formatAddress(dump.arch, v);
  const faulting = ctx.code.decodeAt(site.pc);
  const outcome = ctx.window.faithful.outcome;
  let checks: Check[] = compareOutcome(dump, site, outcome, ctx.checkContext);
  // A process that raised SIGABRT itself stopped in the kernel: nothing to replay to, and nothing else to explain.
  if (site.kind === 'abort') checks = [{ what: 'trap', expected: 'abort', actual: 'abort', status: 'match', basis: 'computed', note: 'the program raised the signal itself' }];
  const summary = summarize(checks);
  const explains = checks[0]!.status === 'match' && summary.mismatch === 0;
  const culprit = culpritOf(ctx, faulting);
  // A value no CPU can use as an address (non-canonical) is a software pattern, unless it is one bit, no tag bit,
  // from a function start or a return address: a single flip of bit 47 makes every user-space pointer
  // non-canonical, so then the pattern says nothing either way.
  const pattern = culprit && valuePattern(dump.arch, culprit.value);
  const flipOf = (n: Neighbour) => n.strength === 'strong' && !tagBit(dump.arch, n.bit);
  const canonicalOneBitAway = pattern?.kind === 'non-canonical' && culprit?.slot !== undefined
    ? oneBitNeighbours(dump, ctx.code, culprit.value, culprit.role, culprit.slot).find(flipOf) : undefined;
  const base = { window: ctx.windowId, explains, summary, checks, tried: 1, score: 0 };
  const out: Hypothesis[] = [{
    ...base, id: 'as-written', class: 'software', location: 'none', family: 'as-written',
    description: 'the CPU executed the code as written; the fault is the software\'s',
    observed: faultAddress(ctx),
    evidence: softwareEvidence(ctx, faulting, culprit, canonicalOneBitAway),
  }];
  if (deliberateBreakpoint(ctx, faulting, culprit?.via?.kind === 'call' && explains)) {
    out.push({
      ...base, id: 'deliberate-breakpoint', class: 'no-fault', location: 'none', family: 'deliberate',
      description: `${f(site.pc)} ${faulting!.text} is a breakpoint the code executes on purpose (a debugger break, like DbgBreakPoint)`,
      evidence: [{ text: `${f(site.pc)} ${faulting!.text} is reached by the code itself, not filler after a function`, weight: DELIBERATE_WEIGHT }],
    });
  }
  // A culprit that is itself a valid value of its kind was not corrupted. One that came into the window in a register
  // from nowhere the dump shows may have been computed as it is (a software bug) as well as read from memory: only a
  // slot that holds it says the memory held it.
  // Nor on a path the lanes took through a branch on values the dump does not hold (unknown-branch.ts).
  if (explains && culprit?.slot !== undefined && (!pattern || canonicalOneBitAway) && !validity(dump, ctx.code, culprit.value, culprit.role, culprit.slot)
    && !unknownBranchOf(ctx, undefined)) {
    for (const n of oneBitNeighbours(dump, ctx.code, culprit.value, culprit.role, culprit.slot)) {
      if (pattern && !flipOf(n)) continue;
      const where = `[${f(culprit.slot)}]`;
      const evidence: Evidence[] = [{ text: `${f(culprit.value)} is one bit from ${f(n.value)}, ${n.what}`, weight: n.strength === 'strong' ? STRONG_NEIGHBOUR_WEIGHT : WEAK_NEIGHBOUR_WEIGHT }];
      const elsewhere = pointerSeenElsewhere(dump, n.value, culprit.slot);
      // In a register, the program has the value in hand; somewhere in memory, it is only known to it.
      if (elsewhere) evidence.push({ text: `${f(n.value)} is also in ${elsewhere}: the program uses it`, weight: elsewhere.startsWith('register') ? SEEN_IN_REGISTER_WEIGHT : SEEN_IN_MEMORY_WEIGHT });
      const siblings = siblingPointers(dump, culprit.slot, n.value, culprit.value);
      if (siblings.length >= 2) {
        evidence.push({ text: `the words beside [${f(culprit.slot)}] hold ${siblings.slice(0, 2).map(f).join(' and ')}, near ${f(n.value)} and far from ${f(culprit.value)}: the slot is one of a run of pointers to neighbouring objects`, weight: SIBLINGS_WEIGHT });
      }
      if (n.strength === 'weak' && culprit.slot !== undefined && sameMapping(dump, culprit.slot, n.value) && !tagBit(dump.arch, n.bit)) {
        evidence.push({ text: `${f(n.value)} is in the same mapping as [${f(culprit.slot)}], which holds the pointer: a link between objects there, and bit ${n.bit} is no tag bit`, weight: SAME_MAPPING_WEIGHT });
      }
      out.push({
        ...base, id: `memory:${where}:${n.bit}`, class: 'memory-corruption', location: 'memory', family: 'memory-value',
        description: `${culprit.what}, ${f(culprit.value)}, was read from ${where} one bit (bit ${n.bit}) from ${f(n.value)}, ${n.what}`,
        bit: n.bit, expected: hex(n.value), observed: hex(culprit.value), address: hex(culprit.slot),
        evidence,
      });
    }
  }
  if (explains && culprit?.role === 'data' && !unknownBranchOf(ctx, undefined)) out.push(...highBitLoads(ctx, base));
  return out;
}

/** True when `a` and `b` are in one mapping of the dump's address map. */
function sameMapping(dump: SearchContext['dump'], a: bigint, b: bigint): boolean {
  const region = regionOf(dump, a);
  return region !== undefined && region.start <= b && b < region.end;
}

/** Bits software sets in pointers on purpose: alignment bits (flags in a pointer's low bits) and the top byte (tags). */
function tagBit(arch: SearchContext['dump']['arch'], bit: number): boolean {
  return bit < 3 || (pointerSize(arch) === 8 && bit >= 48);
}

/**
 * Loaded integers that a single set bit far above their magnitude turned into
 * the fault (an index or length of 0x1a read as 0x40001a): with that bit clear
 * the replay runs the faulting instruction without faulting. The value is in
 * memory as the dump holds it, so the memory was wrong, not the CPU.
 */
function highBitLoads(ctx: SearchContext, base: { window: string; explains: boolean; summary: Hypothesis['summary']; checks: Check[]; tried: number; score: number }): Hypothesis[] {
  const { dump, site } = ctx;
  const f = (v: bigint) => formatAddress(dump.arch, v);
  const out: Hypothesis[] = [];
  const seen = new Set<bigint>();
  // The newest read of a slot first: the earlier ones came back to the fault through it again.
  const reads = ctx.window.faithful.reads.filter((r) => r.pc !== site.pc).slice(-MAX_REPAIR_LOADS).reverse();
  for (const r of reads) {
    if (seen.has(r.address) || regionOf(dump, r.address)?.write === false || r.value === 0n) continue;
    seen.add(r.address);
    const top = r.value.toString(2).length - 1;
    const rest = r.value ^ (1n << BigInt(top));
    const gap = top - (rest === 0n ? 0 : rest.toString(2).length);
    if (gap < JUMP_BITS) continue;
    const repaired = ctx.window.replayer.run({ kind: 'load-bit', index: r.index, address: r.address, size: r.size, bit: top }, { lanes: 2 });
    // A window anchored elsewhere does not count its visits to the fault: it got past it when no run ends there
    // and every run went on longer than the code as written did.
    const past = repaired.passedFault || (ctx.window.replay.fault === undefined && repaired.runs.every((run) =>
      !(run.result.kind === 'fault' && run.result.pc === site.pc) && (run.result.instructions ?? 0) > ctx.window.faithful.path.length));
    if (!repaired.injected || !past) continue;
    out.push({
      ...base, id: `memory:[${r.address.toString(16)}]:${top}`, class: 'memory-corruption', location: 'memory', family: 'memory-value',
      description: `${f(r.pc)} loaded ${f(r.value)} from [${f(r.address)}], one bit (bit ${top}) from ${f(rest)}; with ${f(rest)} it runs ${f(site.pc)} without faulting`,
      bit: top, expected: hex(rest), observed: hex(r.value), address: hex(r.address),
      evidence: [{ text: `${f(r.value)} is ${f(rest)} with bit ${top} set, ${gap} bits above the rest of it: the jump a flipped bit makes, and without it the access is to memory the program uses`, weight: HIGH_BIT_WEIGHT }],
    });
  }
  return out;
}

/**
 * The software account from the fault alone, without a replay: for a fault
 * no window reaches (a jump to a null, poison or stack address; an abort),
 * the pattern is the evidence. It explains the fault only when a pattern
 * does.
 */
export function siteHypothesis(dump: SearchContext['dump'], site: SearchContext['site'], code: SearchContext['code']): Hypothesis {
  const faulting = site.access === 'execute' ? undefined : code.decodeAt(site.pc);
  const culprit: Culprit | undefined = site.kind !== 'access-violation' ? undefined
    : site.access === 'execute' ? { value: site.pc, role: 'code', what: 'the address executed' }
    : site.accessAddress !== undefined ? { value: site.accessAddress, role: 'data', what: 'the address accessed' } : undefined;
  const evidence = softwareEvidence({ dump, site }, faulting, culprit);
  const explains = evidence.reduce((n, e) => n + e.weight, 0) >= PATTERN_WEIGHT;
  const checks: Check[] = [{ what: 'trap', expected: site.summary, status: explains ? 'match' : 'unknown', basis: 'computed', note: 'not replayed: the fault itself shows the pattern' }];
  return {
    id: 'as-written:fault', class: 'software', location: 'none', family: 'as-written',
    description: 'the software sent the CPU there (a pattern in the fault itself)', explains, summary: summarize(checks), checks, evidence, tried: 1, score: 0,
    observed: culprit ? hex(culprit.value) : undefined,
  };
}
