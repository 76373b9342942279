/**
 * DWARF call frame information (DWARF 5 §6.4, and the `.eh_frame` variant
 * the LSB describes): CIE and FDE records read from the dump's memory, the
 * CFA program run up to a pc to get that pc's row (how to find the CFA and
 * each saved register), and the small DWARF expression machine that
 * `DW_CFA_def_cfa_expression` / `DW_CFA_expression` use (glibc's PLT and
 * signal trampolines). Everything is bounded: a program that never ends
 * stops after `limit` instructions with a `CfiError`.
 *
 * @example
 * ```ts
 * const fde = readFde(memory, fdeAddress, 'eh_frame', 8);
 * const row = cfiRow(fde, pc, 10_000);
 * row.cfa; // { kind: 'register', register: 7, offset: 16n } (rsp+16)
 * ```
 */
import { CfiError, DwarfCursor, DW_EH_PE_omit } from './dwarf-reader.ts';

/** The bytes of the dump, read by address. */
export interface ByteSource {
  read(address: bigint, length: number): Uint8Array | undefined;
}

export type CfiSection = 'eh_frame' | 'debug_frame';

/** How a register of the caller is found (DWARF 5 §6.4.1). */
export type RegisterRule =
  | { kind: 'undefined' }
  | { kind: 'same' }
  | { kind: 'offset'; offset: bigint }
  | { kind: 'val-offset'; offset: bigint }
  | { kind: 'register'; register: number }
  | { kind: 'expression'; expression: Uint8Array }
  | { kind: 'val-expression'; expression: Uint8Array };

export type CfaRule = { kind: 'register'; register: number; offset: bigint } | { kind: 'expression'; expression: Uint8Array };

/** A common information entry. */
export interface Cie {
  address: bigint;
  codeAlign: bigint;
  dataAlign: bigint;
  returnColumn: number;
  /** `DW_EH_PE_*` encoding of FDE addresses ('R'). */
  fdeEncoding: number;
  /** 'z' augmentation: FDEs carry augmentation data. */
  hasAugmentationData: boolean;
  /** 'S': the frames it describes are signal handlers' trampolines. */
  signalFrame: boolean;
  instructions: Uint8Array;
  /** The address of `instructions[0]`. */
  instructionsAt: bigint;
  wordSize: 4 | 8;
}

/** A frame description entry. */
export interface Fde {
  address: bigint;
  cie: Cie;
  start: bigint;
  /** Exclusive. */
  end: bigint;
  instructions: Uint8Array;
  instructionsAt: bigint;
}

/** The row of the CFI table at one pc. */
export interface CfiRow {
  cfa: CfaRule;
  /** DWARF register number → rule; registers not listed follow the ABI's default. */
  rules: Map<number, RegisterRule>;
  returnColumn: number;
  signalFrame: boolean;
}

/** Entries larger than this are not read (no real FDE comes close). */
const MAX_ENTRY = 1 << 20;

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** The length field at `address` and the body it announces, as a cursor. */
function readEntry(memory: ByteSource, address: bigint, wordSize: 4 | 8, what: string): { body: DwarfCursor; next: bigint; offsetSize: 4 | 8 } | undefined {
  const head = memory.read(address, 4);
  if (!head) throw new CfiError(`The ${what} length is not in the dump`, address);
  let length = BigInt(head[0]! | (head[1]! << 8) | (head[2]! << 16)) + (BigInt(head[3]!) << 24n);
  let headerSize = 4;
  let offsetSize: 4 | 8 = 4;
  if (length === 0n) return undefined;
  if (length === 0xffff_ffffn) {
    const wide = memory.read(address + 4n, 8);
    if (!wide) throw new CfiError(`The ${what} 64-bit length is not in the dump`, address);
    length = new DwarfCursor(wide, address + 4n, wordSize).unsigned(8);
    headerSize = 12;
    offsetSize = 8;
  }
  if (length > BigInt(MAX_ENTRY)) throw new CfiError(`The ${what} claims ${hex(length)} bytes`, address);
  const bodyAt = address + BigInt(headerSize);
  const bytes = memory.read(bodyAt, Number(length));
  if (!bytes) throw new CfiError(`The ${what} body (${length} bytes) is not in the dump`, bodyAt);
  return { body: new DwarfCursor(bytes, bodyAt, wordSize), next: bodyAt + length, offsetSize };
}

/**
 * The CIE at `address`.
 *
 * @example
 * ```ts
 * readCie(memory, 0x2010n, 'eh_frame', 8).returnColumn; // 16 (rip)
 * ```
 */
export function readCie(memory: ByteSource, address: bigint, section: CfiSection, wordSize: 4 | 8): Cie {
  const entry = readEntry(memory, address, wordSize, 'CIE');
  if (!entry) throw new CfiError('A zero-length entry where a CIE should be', address);
  const c = entry.body;
  const id = c.unsigned(entry.offsetSize);
  const expected = section === 'eh_frame' ? 0n : entry.offsetSize === 8 ? 0xffff_ffff_ffff_ffffn : 0xffff_ffffn;
  if (id !== expected) throw new CfiError(`The entry a FDE points to is not a CIE (id ${hex(id)})`, address);
  const version = c.u8();
  if (version !== 1 && version !== 3 && version !== 4) throw new CfiError(`CIE version ${version} is not 1, 3 or 4`, address);
  const augmentation = c.string();
  if (augmentation.includes('eh')) c.unsigned(wordSize); // GCC 2.x's eh_ptr
  if (version === 4) {
    c.u8(); // address_size
    c.u8(); // segment_selector_size
  }
  const codeAlign = c.uleb();
  const dataAlign = c.sleb();
  const returnColumn = version === 1 ? c.u8() : Number(c.uleb());
  let fdeEncoding = 0;
  let signalFrame = false;
  const hasAugmentationData = augmentation.startsWith('z');
  if (hasAugmentationData) {
    const length = Number(c.uleb());
    const end = c.offset + length;
    for (const letter of augmentation.slice(1)) {
      if (letter === 'R') fdeEncoding = c.u8();
      else if (letter === 'L') c.u8();
      else if (letter === 'P') {
        const encoding = c.u8();
        if (encoding !== DW_EH_PE_omit) c.encoded(encoding & 0x7f);
      } else if (letter === 'S') signalFrame = true;
      else break; // an unknown letter: the length says where the data ends
    }
    if (end > c.bytes.length) throw new CfiError('CIE augmentation data runs past the entry', address);
    c.offset = end;
  } else if (augmentation !== '' && augmentation !== 'eh') {
    throw new CfiError(`CIE augmentation "${augmentation}" without 'z' cannot be skipped`, address);
  }
  return {
    address, codeAlign, dataAlign, returnColumn, fdeEncoding, hasAugmentationData, signalFrame,
    instructions: c.bytes.subarray(c.offset), instructionsAt: c.at, wordSize,
  };
}

/**
 * The FDE at `address` and its CIE. `sectionStart` is needed for
 * `.debug_frame`, whose CIE pointers are section offsets.
 *
 * @example
 * ```ts
 * const fde = readFde(memory, 0x2040n, 'eh_frame', 8); // { start: 0x401126n, end: 0x40114an, … }
 * ```
 */
export function readFde(memory: ByteSource, address: bigint, section: CfiSection, wordSize: 4 | 8, sectionStart = 0n, cies = new Map<bigint, Cie>()): Fde {
  const entry = readEntry(memory, address, wordSize, 'FDE');
  if (!entry) throw new CfiError('A zero-length entry where a FDE should be', address);
  const c = entry.body;
  const pointerAt = c.at;
  const pointer = c.unsigned(entry.offsetSize);
  if (section === 'eh_frame' && pointer === 0n) throw new CfiError('A CIE where a FDE should be', address);
  const cieAddress = section === 'eh_frame' ? pointerAt - pointer : sectionStart + pointer;
  let cie = cies.get(cieAddress);
  if (!cie) {
    cie = readCie(memory, cieAddress, section, wordSize);
    cies.set(cieAddress, cie);
  }
  const encoding = section === 'eh_frame' ? cie.fdeEncoding : 0;
  const start = c.encoded(encoding);
  const range = c.encoded(encoding & 0x0f);
  if (cie.hasAugmentationData) c.offset += Number(c.uleb());
  if (c.offset > c.bytes.length) throw new CfiError('FDE augmentation data runs past the entry', address);
  return { address, cie, start, end: start + range, instructions: c.bytes.subarray(c.offset), instructionsAt: c.at };
}

/**
 * Every FDE of a CFI section from `start` to `end`, in order: for sections
 * without a search table (`.debug_frame`, `.eh_frame` without
 * `.eh_frame_hdr`). Stops at a terminator; a bad entry throws.
 */
export function* sectionFdes(memory: ByteSource, start: bigint, end: bigint, section: CfiSection, wordSize: 4 | 8): Generator<Fde> {
  const cies = new Map<bigint, Cie>();
  let address = start;
  for (let count = 0; address < end; count++) {
    if (count > 1_000_000) throw new CfiError('More than a million CFI entries', address);
    const entry = readEntry(memory, address, wordSize, 'CFI entry');
    if (!entry) return;
    const id = entry.body.unsigned(entry.offsetSize);
    const isCie = section === 'eh_frame' ? id === 0n : id === (entry.offsetSize === 8 ? 0xffff_ffff_ffff_ffffn : 0xffff_ffffn);
    if (!isCie) yield readFde(memory, address, section, wordSize, start, cies);
    address = entry.next;
  }
}

/**
 * The CFI row at `pc` for `fde`: the CIE's initial instructions, then the
 * FDE's up to `pc`. At most `limit` instructions run.
 *
 * @example
 * ```ts
 * cfiRow(fde, 0x401130n, 10_000).rules.get(6); // { kind: 'offset', offset: -16n } (rbp saved at CFA-16)
 * ```
 */
export function cfiRow(fde: Fde, pc: bigint, limit: number): CfiRow {
  const { cie } = fde;
  const row: CfiRow = { cfa: { kind: 'register', register: 0, offset: 0n }, rules: new Map(), returnColumn: cie.returnColumn, signalFrame: cie.signalFrame };
  const budget = { left: limit };
  run(new DwarfCursor(cie.instructions, cie.instructionsAt, cie.wordSize), cie, row, undefined, undefined, budget);
  const initial = new Map(row.rules);
  run(new DwarfCursor(fde.instructions, fde.instructionsAt, cie.wordSize), cie, row, { location: fde.start, target: pc }, initial, budget);
  return row;
}

/** Runs CFA instructions; with `until`, stops once the location passes `until.target`. */
function run(c: DwarfCursor, cie: Cie, row: CfiRow, until: { location: bigint; target: bigint } | undefined, initial: Map<number, RegisterRule> | undefined, budget: { left: number }): void {
  const stack: Array<{ cfa: CfaRule; rules: Map<number, RegisterRule> }> = [];
  const advance = (delta: bigint): boolean => {
    if (!until) return false;
    until.location += delta * cie.codeAlign;
    return until.location > until.target;
  };
  const restore = (register: number) => {
    const rule = initial?.get(register);
    if (rule) row.rules.set(register, rule);
    else row.rules.delete(register);
  };
  const expressionBlock = (): Uint8Array => {
    const length = Number(c.uleb());
    if (c.offset + length > c.bytes.length) throw new CfiError('A DWARF expression runs past its entry', c.at);
    const bytes = c.bytes.slice(c.offset, c.offset + length);
    c.offset += length;
    return bytes;
  };
  while (c.remaining > 0) {
    if (--budget.left < 0) throw new CfiError('The CFA program runs longer than the instruction limit', c.at);
    const op = c.u8();
    const high = op & 0xc0;
    const low = op & 0x3f;
    if (high === 0x40) {
      if (advance(BigInt(low))) return;
      continue;
    }
    if (high === 0x80) {
      row.rules.set(low, { kind: 'offset', offset: c.uleb() * cie.dataAlign });
      continue;
    }
    if (high === 0xc0) {
      restore(low);
      continue;
    }
    switch (op) {
      case 0x00: break; // DW_CFA_nop
      case 0x01: { // DW_CFA_set_loc
        const location = c.encoded(cie.fdeEncoding & 0x0f);
        if (until) {
          until.location = location;
          if (location > until.target) return;
        }
        break;
      }
      case 0x02: if (advance(BigInt(c.u8()))) return; break;
      case 0x03: if (advance(c.unsigned(2))) return; break;
      case 0x04: if (advance(c.unsigned(4))) return; break;
      case 0x05: { const r = Number(c.uleb()); row.rules.set(r, { kind: 'offset', offset: c.uleb() * cie.dataAlign }); break; }
      case 0x06: restore(Number(c.uleb())); break;
      case 0x07: row.rules.set(Number(c.uleb()), { kind: 'undefined' }); break;
      case 0x08: row.rules.set(Number(c.uleb()), { kind: 'same' }); break;
      case 0x09: { const r = Number(c.uleb()); row.rules.set(r, { kind: 'register', register: Number(c.uleb()) }); break; }
      case 0x0a: stack.push({ cfa: row.cfa, rules: new Map(row.rules) }); break;
      case 0x0b: {
        const state = stack.pop();
        if (!state) throw new CfiError('DW_CFA_restore_state without a remembered state', c.at);
        // The CFA rule comes back too, as libgcc, gdb and LLVM's libunwind restore it (GCC's epilogues rely on it).
        row.rules = state.rules;
        row.cfa = state.cfa;
        break;
      }
      case 0x0c: row.cfa = { kind: 'register', register: Number(c.uleb()), offset: c.uleb() }; break;
      case 0x0d: row.cfa = { kind: 'register', register: Number(c.uleb()), offset: row.cfa.kind === 'register' ? row.cfa.offset : 0n }; break;
      case 0x0e: row.cfa = { kind: 'register', register: row.cfa.kind === 'register' ? row.cfa.register : 0, offset: c.uleb() }; break;
      case 0x0f: row.cfa = { kind: 'expression', expression: expressionBlock() }; break;
      case 0x10: { const r = Number(c.uleb()); row.rules.set(r, { kind: 'expression', expression: expressionBlock() }); break; }
      case 0x11: { const r = Number(c.uleb()); row.rules.set(r, { kind: 'offset', offset: c.sleb() * cie.dataAlign }); break; }
      case 0x12: row.cfa = { kind: 'register', register: Number(c.uleb()), offset: c.sleb() * cie.dataAlign }; break;
      case 0x13: row.cfa = { kind: 'register', register: row.cfa.kind === 'register' ? row.cfa.register : 0, offset: c.sleb() * cie.dataAlign }; break;
      case 0x14: { const r = Number(c.uleb()); row.rules.set(r, { kind: 'val-offset', offset: c.uleb() * cie.dataAlign }); break; }
      case 0x15: { const r = Number(c.uleb()); row.rules.set(r, { kind: 'val-offset', offset: c.sleb() * cie.dataAlign }); break; }
      case 0x16: { const r = Number(c.uleb()); row.rules.set(r, { kind: 'val-expression', expression: expressionBlock() }); break; }
      case 0x2d: break; // DW_CFA_GNU_window_save / AArch64 negate_ra_state: return addresses are used as read
      case 0x2e: c.uleb(); break; // DW_CFA_GNU_args_size
      case 0x2f: { const r = Number(c.uleb()); row.rules.set(r, { kind: 'offset', offset: -c.uleb() * cie.dataAlign }); break; }
      default: throw new CfiError(`Unknown CFA instruction 0x${op.toString(16)}`, c.at - 1n);
    }
  }
}

/** What a DWARF expression may look at. */
export interface ExpressionContext {
  register(dwarfNumber: number): bigint | undefined;
  readWord(address: bigint): bigint | undefined;
  wordSize: 4 | 8;
}

/**
 * Evaluates a DWARF expression (the operations CFI uses: constants,
 * register-relative values, arithmetic, comparisons, dereference, branches),
 * with `initial` pushed first. Undefined when it needs an unknown register
 * or memory; a `CfiError` for an operation it does not know. At most 1000
 * operations run.
 *
 * @example
 * ```ts
 * evaluate(Uint8Array.of(0x77, 0x08), ctx); // DW_OP_breg7 8: rsp+8
 * ```
 */
export function evaluate(expression: Uint8Array, ctx: ExpressionContext, initial: bigint[] = []): bigint | undefined {
  const mask = ctx.wordSize === 8 ? 0xffff_ffff_ffff_ffffn : 0xffff_ffffn;
  const c = new DwarfCursor(expression, 0n, ctx.wordSize);
  const stack = [...initial];
  const pop = (): bigint => {
    const v = stack.pop();
    if (v === undefined) throw new CfiError('A DWARF expression pops an empty stack');
    return v;
  };
  const signed = (v: bigint) => BigInt.asIntN(ctx.wordSize * 8, v);
  for (let steps = 0; c.remaining > 0; steps++) {
    if (steps > 1000) throw new CfiError('A DWARF expression runs longer than 1000 operations');
    const op = c.u8();
    if (op >= 0x30 && op <= 0x4f) { stack.push(BigInt(op - 0x30)); continue; } // DW_OP_lit<n>
    if (op >= 0x50 && op <= 0x6f) { // DW_OP_reg<n>: a location, not a value; CFI never uses it
      throw new CfiError('DW_OP_reg in a CFI expression');
    }
    if (op >= 0x70 && op <= 0x8f) { // DW_OP_breg<n>
      const base = ctx.register(op - 0x70);
      const offset = c.sleb();
      if (base === undefined) return undefined;
      stack.push((base + offset) & mask);
      continue;
    }
    switch (op) {
      case 0x03: stack.push(c.unsigned(ctx.wordSize)); break; // addr
      case 0x06: { const v = ctx.readWord(pop()); if (v === undefined) return undefined; stack.push(v); break; } // deref
      case 0x08: stack.push(c.unsigned(1)); break;
      case 0x09: stack.push(c.signed(1) & mask); break;
      case 0x0a: stack.push(c.unsigned(2)); break;
      case 0x0b: stack.push(c.signed(2) & mask); break;
      case 0x0c: stack.push(c.unsigned(4)); break;
      case 0x0d: stack.push(c.signed(4) & mask); break;
      case 0x0e: stack.push(c.unsigned(8)); break;
      case 0x0f: stack.push(c.signed(8) & mask); break;
      case 0x10: stack.push(c.uleb()); break;
      case 0x11: stack.push(c.sleb() & mask); break;
      case 0x12: stack.push(stack.at(-1) ?? pop()); break; // dup
      case 0x13: pop(); break; // drop
      case 0x14: stack.push(stack.at(-2) ?? pop()); break; // over
      case 0x16: { const a = pop(); const b = pop(); stack.push(a, b); break; } // swap
      case 0x19: stack.push(signed(pop()) < 0n ? -signed(stack.pop()!) & mask : stack.pop()!); break; // abs (rare)
      case 0x1a: { const b = pop(); stack.push(pop() & b); break; }
      case 0x1c: { const b = pop(); stack.push((pop() - b) & mask); break; }
      case 0x1e: { const b = pop(); stack.push((pop() * b) & mask); break; }
      case 0x1f: stack.push(-pop() & mask); break;
      case 0x20: stack.push(~pop() & mask); break;
      case 0x21: { const b = pop(); stack.push(pop() | b); break; }
      case 0x22: { const b = pop(); stack.push((pop() + b) & mask); break; }
      case 0x23: stack.push((pop() + c.uleb()) & mask); break; // plus_uconst
      case 0x24: { const b = pop(); stack.push((pop() << b) & mask); break; }
      case 0x25: { const b = pop(); stack.push(pop() >> b); break; }
      case 0x26: { const b = pop(); stack.push(BigInt.asUintN(ctx.wordSize * 8, signed(pop()) >> b)); break; }
      case 0x27: { const b = pop(); stack.push(pop() ^ b); break; }
      case 0x29: case 0x2a: case 0x2b: case 0x2c: case 0x2d: case 0x2e: { // eq ge gt le lt ne (signed)
        const b = signed(pop());
        const a = signed(pop());
        const result = [a === b, a >= b, a > b, a <= b, a < b, a !== b][op - 0x29]!;
        stack.push(result ? 1n : 0n);
        break;
      }
      case 0x2f: { const skip = Number(c.signed(2)); c.offset += skip; break; } // skip
      case 0x28: { const skip = Number(c.signed(2)); if (pop() !== 0n) c.offset += skip; break; } // bra
      case 0x96: break; // nop
      default: throw new CfiError(`DWARF expression operation 0x${op.toString(16)} is not supported`);
    }
    if (c.offset < 0 || c.offset > expression.length) throw new CfiError('A DWARF expression branches outside itself');
  }
  return stack.pop();
}
