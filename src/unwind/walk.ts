/**
 * The stack walker: from a register context outwards, frame by frame, with
 * the best method that gives a plausible caller — unwind tables (`cfi`),
 * then the frame-pointer chain, then a stack scan for a return address
 * just after a call instruction — tagging each frame with the method, as
 * rust-minidump's stackwalker does. Works on the dump model only (x86, x64,
 * AArch64). Bounded: a frame limit, a scan window, a CFI instruction
 * budget, and a stack pointer that must grow; each end is a note.
 *
 * @example
 * ```ts
 * const walk = await walkStack(dump, dump.threads[0].contexts[0]);
 * for (const f of walk.frames) console.log(f.index, f.trust, dump.symbols.format(f.pc));
 * walk.notes; // ['The walk ended: CFI marks the return address of _start undefined (outermost frame)']
 * ```
 */
import type { RegisterName, RegisterValues } from '../../emu/registers.ts';
import { createDisassembler, type Disassembler } from '../disasm/disassembler.ts';
import { flowKind } from '../analysis/instruction-kind.ts';
import type { Dump, RegisterContext } from '../dumps/model.ts';
import { CodeMap } from './code-map.ts';
import { cfiRow, evaluate, type CfiRow, type Fde, type RegisterRule } from './dwarf-cfi.ts';
import { CfiError } from './dwarf-reader.ts';
import { elfSectionUnwindTables, elfUnwindTables, type UnwindTables } from './elf-unwind-tables.ts';
import { archRegisters, DEFAULT_LIMITS, wordMask, type ArchRegisters, type StackFrame, type StackWalk, type WalkLimits } from './frame.ts';
import { peUnwindTables, type PeUnwinder } from './pe-unwind.ts';

/** A caller found by one method, before it is checked. */
interface Candidate {
  registers: RegisterValues;
  trust: StackFrame['trust'];
  cfa?: bigint;
  returnSlot?: bigint;
  unwindSource?: string;
  /** The unwind tables say this frame is the outermost. */
  end?: string;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/**
 * A walker bound to one dump: it caches each image's unwind tables and the
 * disassembler the scan checks call sites with. `close()` releases the
 * disassembler.
 *
 * @example
 * ```ts
 * const walker = await StackWalker.create(dump);
 * const walks = dump.threads.map((t) => walker.walk(t.contexts[0]!));
 * walker.close();
 * ```
 */
export class StackWalker {
  private readonly regs: ArchRegisters;
  private readonly mask: bigint;
  private readonly code: CodeMap;
  private readonly tables = new Map<bigint, { elf?: UnwindTables; pe?: PeUnwinder; broken?: string }>();
  private readonly limits: WalkLimits;
  private decodeWanted = false;

  private constructor(private readonly dump: Dump, private readonly disassembler: Disassembler | undefined, limits: Partial<WalkLimits>, private readonly ownsDisassembler = true) {
    this.regs = archRegisters(dump.arch);
    this.mask = wordMask(this.regs.wordSize);
    this.code = new CodeMap(dump);
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  static async create(dump: Dump, limits: Partial<WalkLimits> = {}): Promise<StackWalker> {
    let disassembler: Disassembler | undefined;
    try {
      disassembler = await createDisassembler(dump.arch);
    } catch {
      disassembler = undefined; // scans then accept no return address
    }
    return new StackWalker(dump, disassembler, limits);
  }

  /** A walker on a disassembler the caller keeps (and closes); without one, scans accept no return address. */
  static using(dump: Dump, disassembler: Disassembler | undefined, limits: Partial<WalkLimits> = {}): StackWalker {
    return new StackWalker(dump, disassembler, limits, false);
  }

  /** True once a walk of this walker, made without a disassembler, met code whose call site it would have decoded. */
  get wantedDisassembler(): boolean {
    return this.decodeWanted;
  }

  close(): void {
    if (this.ownsDisassembler) this.disassembler?.close();
  }

  /**
   * What the unwind information says of the innermost frame at `registers`'
   * pc: the canonical frame address, whether it is computed from the stack
   * pointer, the slot the return address must be in, and the start of the
   * function the rule covers. Undefined where no CFI covers the pc, the
   * tables are unusable, or the return address is not on the stack (a leaf
   * AArch64 function keeps it in x30).
   */
  frameRule(registers: RegisterValues): { cfa: bigint; fromSp: boolean; returnSlot: bigint; functionStart: bigint; source: string } | undefined {
    const pc = registers[this.regs.pc];
    const found = pc === undefined ? undefined : this.rowAt(pc);
    if (!found) return undefined;
    const { fde, row, source } = found;
    const caller = this.applyRow({ index: 0, trust: 'context', pc: pc!, sp: registers[this.regs.sp] ?? 0n, registers }, row, source);
    if (!caller || caller.cfa === undefined || caller.returnSlot === undefined) return undefined;
    const fromSp = row.cfa.kind === 'register' && this.regs.dwarf[row.cfa.register] === this.regs.sp;
    return { cfa: caller.cfa, fromSp, returnSlot: caller.returnSlot, functionStart: fde.start, source };
  }

  /**
   * How the unwind information computes the canonical frame address at `pc`
   * (`register + offset`), and the start of the function its entry covers.
   * Undefined where no CFI covers the pc, the tables are unusable, or the
   * rule is an expression.
   */
  cfaRule(pc: bigint): { register: RegisterName; offset: bigint; functionStart: bigint } | undefined {
    const found = this.rowAt(pc);
    if (!found || found.row.cfa.kind !== 'register') return undefined;
    const register = this.regs.dwarf[found.row.cfa.register];
    return register === undefined ? undefined : { register, offset: found.row.cfa.offset, functionStart: found.fde.start };
  }

  /** The CFI row at `pc` and the entry it comes from; undefined where no usable ELF table covers it. */
  private rowAt(pc: bigint): { fde: Fde; row: CfiRow; source: string } | undefined {
    const tables = this.tablesFor(pc, []);
    if (!tables?.elf || tables.broken) return undefined;
    try {
      const fde = tables.elf.find(pc);
      return fde ? { fde, row: cfiRow(fde, pc, this.limits.cfiInstructions), source: tables.elf.source } : undefined;
    } catch (error) {
      if (error instanceof CfiError) return undefined;
      throw error;
    }
  }

  /** Walks the stack of `context`. */
  walk(context: RegisterContext): StackWalk {
    const { regs, limits } = this;
    const notes: string[] = [];
    const unknown = new Set<RegisterName>(context.unknown ?? []);
    const registers: RegisterValues = {};
    for (const [name, value] of Object.entries(context.registers) as [RegisterName, bigint][]) {
      if (!unknown.has(name) && value !== undefined) registers[name] = value;
    }
    const pc = registers[regs.pc];
    const sp = registers[regs.sp];
    if (pc === undefined || sp === undefined) return { frames: [], notes: [`The context ${context.label} has no ${pc === undefined ? regs.pc : regs.sp}`] };
    const frames: StackFrame[] = [{ index: 0, trust: 'context', pc, sp, registers }];
    const seen = new Set<string>([`${pc}:${sp}`]);
    while (frames.length < limits.maxFrames) {
      const callee = frames.at(-1)!;
      const caller = this.callerOf(callee, notes);
      if (!caller) break;
      const cpc = caller.registers[regs.pc]!;
      const csp = caller.registers[regs.sp]!;
      const key = `${cpc}:${csp}`;
      if (seen.has(key)) {
        notes.push(`The walk ended: frame ${frames.length} would repeat pc ${hex(cpc)} sp ${hex(csp)} (a loop)`);
        break;
      }
      seen.add(key);
      callee.cfa = caller.cfa;
      callee.unwindSource = caller.unwindSource;
      frames.push({ index: frames.length, trust: caller.trust, pc: cpc, sp: csp, registers: caller.registers, ...(caller.returnSlot !== undefined ? { returnSlot: caller.returnSlot } : {}) });
    }
    if (frames.length >= limits.maxFrames) notes.push(`The walk stopped at the frame limit (${limits.maxFrames})`);
    return { frames, notes };
  }

  /** The caller of `callee` by the best method that gives a plausible one, or undefined at the end. */
  private callerOf(callee: StackFrame, notes: string[]): Candidate | undefined {
    if (callee.index === 0 && !this.code.isCode(callee.pc)) {
      // A call to a bad address: the return address is where the call left it (AArch64: x30; else at sp).
      const landed = this.landedCaller(callee);
      if (landed) return landed;
    }
    const cfi = this.cfiCaller(callee, notes);
    if (cfi?.end) {
      notes.push(`The walk ended: ${cfi.end}`);
      return undefined;
    }
    if (cfi && this.plausible(callee, cfi)) return cfi;
    const lr = this.linkRegisterCaller(callee);
    if (lr && this.plausible(callee, lr)) return lr;
    const fp = this.framePointerCaller(callee);
    if (fp && this.plausible(callee, fp)) return fp;
    const scan = this.scanCaller(callee);
    if (scan) return scan;
    notes.push(`The walk ended at frame ${callee.index}: no unwind rule, frame pointer or return address on the stack leads further`);
    return undefined;
  }

  /** A caller is plausible when its pc can be code and its stack pointer is above the callee's. */
  private plausible(callee: StackFrame, caller: Candidate): boolean {
    const pc = caller.registers[this.regs.pc];
    const sp = caller.registers[this.regs.sp];
    if (pc === undefined || sp === undefined || !this.code.isCode(pc)) return false;
    // A leaf AArch64 function's caller has the same sp (the return address is in x30).
    return sp > callee.sp || (sp === callee.sp && this.dump.arch === 'arm64' && callee.index === 0 && caller.trust !== 'frame-pointer');
  }

  private tablesFor(pc: bigint, notes: string[]): { elf?: UnwindTables; pe?: PeUnwinder; broken?: string } | undefined {
    const image = this.code.imageOf(pc);
    if (!image) return undefined;
    let tables = this.tables.get(image.base);
    if (!tables) {
      tables = {};
      try {
        tables.elf = elfUnwindTables(this.dump.memory, image.base, image.name);
        // The module's file: the one matched to it (--binary, --sysroot), else where the dump names it (NT_FILE).
        const module = this.dump.modules.find((m) => m.base === image.base);
        const path = this.dump.files?.find((u) => u.used && u.for === (module?.name ?? image.name))?.file ?? module?.path;
        if (!tables.elf && path !== undefined) tables.elf = elfSectionUnwindTables(this.dump.memory, image.base, image.name, path);
        if (!tables.elf && this.dump.arch === 'x64') tables.pe = peUnwindTables(this.dump.memory, image.base, image.name);
      } catch (error) {
        tables.broken = (error as Error).message;
        notes.push(`The unwind tables of ${image.name} are unusable (${tables.broken}): its frames fall back to frame pointers and scans`);
      }
      this.tables.set(image.base, tables);
    }
    return tables;
  }

  private cfiCaller(callee: StackFrame, notes: string[]): Candidate | undefined {
    // A return address is after the call; the call itself is what the caller's row must describe.
    const lookup = callee.index === 0 ? callee.pc : callee.pc - 1n;
    const tables = this.tablesFor(lookup, notes);
    if (!tables || tables.broken) return undefined;
    try {
      if (tables.pe) return tables.pe.caller(callee.registers, lookup, callee.index === 0);
      const fde = tables.elf?.find(lookup);
      if (!fde) return undefined;
      const row = cfiRow(fde, lookup, this.limits.cfiInstructions);
      return this.applyRow(callee, row, tables.elf!.source);
    } catch (error) {
      if (!(error instanceof CfiError)) throw error;
      notes.push(`Frame ${callee.index}: the CFI of ${hex(callee.pc)} is unusable (${error.message}); falling back`);
      return undefined;
    }
  }

  /** The caller's registers by the rules of `row`. */
  private applyRow(callee: StackFrame, row: CfiRow, source: string): Candidate | undefined {
    const { regs, mask } = this;
    const readWord = (address: bigint) => this.readWord(address);
    const register = (n: number) => {
      const name = regs.dwarf[n];
      return name === undefined ? undefined : callee.registers[name];
    };
    const ctx = { register, readWord, wordSize: regs.wordSize };
    let cfa: bigint | undefined;
    if (row.cfa.kind === 'register') {
      const base = register(row.cfa.register);
      cfa = base === undefined ? undefined : (base + row.cfa.offset) & mask;
    } else cfa = evaluate(row.cfa.expression, ctx);
    if (cfa === undefined) return undefined;
    const value = (rule: RegisterRule, n: number): bigint | undefined => {
      switch (rule.kind) {
        case 'undefined': return undefined;
        case 'same': return register(n);
        case 'offset': return readWord((cfa! + rule.offset) & mask);
        case 'val-offset': return (cfa! + rule.offset) & mask;
        case 'register': return register(rule.register);
        case 'expression': {
          const at = evaluate(rule.expression, ctx, [cfa!]);
          return at === undefined ? undefined : readWord(at);
        }
        case 'val-expression': return evaluate(rule.expression, ctx, [cfa!]);
      }
    };
    const returnRule = row.rules.get(row.returnColumn);
    if (returnRule?.kind === 'undefined') return { registers: {}, trust: 'cfi', end: `CFI marks the return address in frame ${callee.index} undefined (the outermost frame)` };
    const registers: RegisterValues = {};
    const calleeSaved = new Set(regs.calleeSaved);
    regs.dwarf.forEach((name, n) => {
      if (name === undefined || name === regs.sp) return;
      const rule = row.rules.get(n);
      const v = rule ? value(rule, n) : calleeSaved.has(name) ? callee.registers[name] : undefined;
      if (v !== undefined) registers[name] = v;
    });
    const spRule = row.rules.get(regs.dwarf.indexOf(regs.sp));
    registers[regs.sp] = spRule ? value(spRule, regs.dwarf.indexOf(regs.sp)) ?? cfa : cfa;
    const ret = returnRule ? value(returnRule, row.returnColumn) : register(row.returnColumn);
    const returnSlot = returnRule?.kind === 'offset' ? (cfa + returnRule.offset) & mask : undefined;
    // The walk ends there, but where the frame is does not depend on what its return slot holds (see frameRule).
    if (ret === undefined || ret === 0n) {
      return { registers: {}, trust: 'cfi', end: `the return address of frame ${callee.index} is ${ret === undefined ? 'unknown' : 'zero'}`, cfa, ...(returnSlot !== undefined ? { returnSlot } : {}) };
    }
    registers[regs.pc] = ret;
    if (regs.lr) delete registers[regs.lr]; // AArch64: x30 is the return address, not a preserved value
    if (regs.lr && returnRule && returnRule.kind !== 'same' && returnRule.kind !== 'register') registers[regs.lr] = ret;
    return { registers, trust: 'cfi', cfa, unwindSource: source, ...(returnSlot !== undefined ? { returnSlot } : {}) };
  }

  private framePointerCaller(callee: StackFrame): Candidate | undefined {
    const { regs, mask } = this;
    const fp = callee.registers[regs.fp];
    const w = BigInt(regs.wordSize);
    if (fp === undefined || fp < callee.sp || fp % w !== 0n || fp - callee.sp > 0x100_0000n) return undefined;
    const savedFp = this.readWord(fp);
    const ret = this.readWord((fp + w) & mask);
    if (savedFp === undefined || ret === undefined) return undefined;
    const registers: RegisterValues = { [regs.fp]: savedFp, [regs.sp]: (fp + 2n * w) & mask, [regs.pc]: ret };
    // The saved frame pointer must lead up the stack or end the chain.
    if (savedFp !== 0n && savedFp <= fp) delete registers[regs.fp];
    return { registers, trust: 'frame-pointer', returnSlot: (fp + w) & mask };
  }

  /**
   * AArch64 frame 0 without unwind tables, in a leaf function: the caller
   * is at x30 when x30 follows a call (`bl`/`blr`) in another function, and
   * sp has not moved.
   */
  private linkRegisterCaller(callee: StackFrame): Candidate | undefined {
    const { regs } = this;
    if (!regs.lr || callee.index !== 0) return undefined;
    const lr = callee.registers[regs.lr];
    if (lr === undefined || !this.isReturnAddress(lr)) return undefined;
    // x30 into the interrupted function itself is the return from its own last call, not its caller.
    const own = this.dump.symbols.lookup(callee.pc);
    const target = this.dump.symbols.lookup(lr - 4n);
    if (own?.symbol !== undefined && target?.symbol === own.symbol && target.base === own.base) return undefined;
    return { registers: { ...this.preserved(callee), [regs.sp]: callee.sp, [regs.pc]: lr }, trust: 'scan' };
  }

  /** The caller of a frame 0 whose pc is no code, if the call that got there can be seen. */
  private landedCaller(callee: StackFrame): Candidate | undefined {
    const { regs } = this;
    const lr = regs.lr && callee.registers[regs.lr];
    if (lr !== undefined && this.isReturnAddress(lr)) {
      const registers: RegisterValues = { ...this.preserved(callee), [regs.sp]: callee.sp, [regs.pc]: lr };
      return { registers, trust: 'scan' };
    }
    const ret = regs.lr ? undefined : this.readWord(callee.sp);
    if (ret === undefined || !this.isReturnAddress(ret)) return undefined;
    const registers: RegisterValues = { ...this.preserved(callee), [regs.sp]: (callee.sp + BigInt(regs.wordSize)) & this.mask, [regs.pc]: ret };
    return { registers, trust: 'scan', returnSlot: callee.sp };
  }

  /** The callee-saved registers known in `frame`: a frame that never ran has changed none. */
  private preserved(frame: StackFrame): RegisterValues {
    const out: RegisterValues = {};
    for (const name of this.regs.calleeSaved) if (frame.registers[name] !== undefined) out[name] = frame.registers[name];
    return out;
  }

  private scanCaller(callee: StackFrame): Candidate | undefined {
    const { regs, mask } = this;
    const w = BigInt(regs.wordSize);
    const words = callee.index === 0 ? this.limits.scanWords : Math.min(this.limits.scanWords, 256);
    // Above the return slot the previous method used, never below the callee's sp.
    for (let i = 0; i < words; i++) {
      const slot = (callee.sp + BigInt(i) * w) & mask;
      const value = this.readWord(slot);
      if (value === undefined) return undefined;
      if (this.isReturnAddress(value)) {
        const registers: RegisterValues = { [regs.sp]: (slot + w) & mask, [regs.pc]: value };
        if (slot + w <= callee.sp) continue;
        return { registers, trust: 'scan', returnSlot: slot };
      }
    }
    return undefined;
  }

  /** True when `address` is in code and the instruction that ends just before it is a call. */
  isReturnAddress(address: bigint): boolean {
    if (!this.code.isCode(address)) return false;
    if (this.dump.arch === 'arm64') {
      const bytes = this.dump.memory.read(address - 4n, 4);
      if (!bytes || !this.canDecode()) return false;
      const insn = this.disassembler!.decode(bytes, address - 4n);
      return insn !== undefined && flowKind('arm64', insn.mnemonic) === 'call';
    }
    const before = this.dump.memory.read(address - 8n, 8) ?? this.dump.memory.read(address - 5n, 5);
    if (!before || !this.canDecode()) return false;
    for (let length = Math.min(before.length, 8); length >= 2; length--) {
      const insn = this.disassembler!.decode(before.subarray(before.length - length), address - BigInt(length));
      if (insn && insn.size === length && flowKind(this.dump.arch, insn.mnemonic) === 'call') return true;
    }
    return false;
  }

  /** True with a disassembler; without one, notes that a call site was there to decode (see `walkEach`). */
  private canDecode(): boolean {
    if (this.disassembler) return true;
    this.decodeWanted = true;
    return false;
  }

  private readWord(address: bigint): bigint | undefined {
    const bytes = this.dump.memory.read(address, this.regs.wordSize);
    if (!bytes) return undefined;
    let value = 0n;
    for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
    return value;
  }
}

/**
 * Walks the stack of `context` in `dump` (a walker made and released for
 * this one walk).
 *
 * @example
 * ```ts
 * const { frames, notes } = await walkStack(dump, dump.threads[0]!.contexts[0]!);
 * ```
 */
export async function walkStack(dump: Dump, context: RegisterContext, limits: Partial<WalkLimits> = {}): Promise<StackWalk> {
  return (await walkEach(dump, [context], limits))[0]!;
}

/**
 * Walks the stack of each of `contexts`, as a walker from `StackWalker.create`
 * would, but instantiates Capstone (a 1.7 MB wasm, tens of milliseconds of a
 * short command's start) only when needed: the walks run without it first,
 * and again with it when a scan met code whose call site it would have
 * decoded. Many dumps need none (info on them starts faster).
 *
 * @example
 * ```ts
 * const [walk] = await walkEach(dump, [dump.threads[0]!.contexts[0]!]);
 * ```
 */
export async function walkEach(dump: Dump, contexts: RegisterContext[], limits: Partial<WalkLimits> = {}): Promise<StackWalk[]> {
  const plain = StackWalker.using(dump, undefined, limits);
  const walks = contexts.map((context) => plain.walk(context));
  if (!plain.wantedDisassembler) return walks;
  const walker = await StackWalker.create(dump, limits);
  try {
    return contexts.map((context) => walker.walk(context));
  } finally {
    walker.close();
  }
}
