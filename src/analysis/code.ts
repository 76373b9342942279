/**
 * Reading code out of a dump: decode the instruction at an address, find the
 * instruction that ends exactly at an address (the one before a return
 * address, or before a trapping pc), and walk back through a run of known
 * code. Debugger listings give instruction boundaries through provenance
 * (one listing line = one instruction); elsewhere candidates are decoded and
 * checked to end exactly where they must.
 *
 * @example
 * ```ts
 * const code = new CodeReader(dump, disassembler);
 * const call = code.endingAt(0x80a5d8fcn, (i) => i.kind === 'call'); // call dword ptr [80a5b020]
 * ```
 */
import type { Dump } from '../dumps/model.ts';
import type { Disassembler } from '../disasm/disassembler.ts';
import type { Effects, InstructionEffects } from '../disasm/effects.ts';
import { unemulatedInstruction } from './unemulated.ts';
import { flowKind, type FlowKind } from './instruction-kind.ts';
import { symbolizeOperandText } from '../disasm/windbg-syntax.ts';
import { exactSymbol } from '../dumps/exact-symbol.ts';

export interface Instruction {
  address: bigint;
  size: number;
  bytes: Uint8Array;
  mnemonic: string;
  operands: string;
  /** WinDbg-like text, e.g. `call dword ptr [80a5b020]`. */
  text: string;
  kind: FlowKind;
  /** True when a debugger listing says an instruction starts here. */
  listed: boolean;
}

const MAX_INSTRUCTION = 15;

/** WinDbg-style operand names from the dump's symbols (see `symbolizeOperandText`). */
export function symbolizeOperands(text: string, dump: Dump): string {
  return symbolizeOperandText(text, (address) => exactSymbol(dump.symbols, address));
}
const ADDRESS_MAX = 0xffff_ffff_ffff_ffffn;

/** Decoded instructions kept per reader (the dump's memory does not change while it is read). */
const MAX_DECODED = 200_000;

export class CodeReader {
  private readonly decoded = new Map<bigint, Instruction | undefined>();

  constructor(
    readonly dump: Dump,
    private readonly disassembler: Disassembler,
  ) {}

  /** The known bytes at `address`, up to `max` (stops at the first unknown byte). */
  knownBytes(address: bigint, max: number): Uint8Array {
    if (address < 0n) return Uint8Array.of();
    if (address + BigInt(max) - 1n <= ADDRESS_MAX) {
      const whole = this.dump.memory.read(address, max);
      if (whole) return whole;
    }
    const out: number[] = [];
    for (let i = 0; i < max && address + BigInt(i) <= ADDRESS_MAX; i++) {
      const byte = this.dump.memory.read(address + BigInt(i), 1);
      if (!byte) break;
      out.push(byte[0]!);
    }
    return Uint8Array.from(out);
  }

  /** The listing line that supplied the byte at `address`, as a key, or undefined outside listings. */
  private listingKey(address: bigint): string | undefined {
    if (address < 0n || address > ADDRESS_MAX) return undefined;
    const p = this.dump.memory.provenanceOf(address);
    return p?.line !== undefined ? `${p.source}\u0000${p.line}` : undefined;
  }

  /** Where the listing instruction containing `address` starts, if a listing covers it. */
  private listedStart(address: bigint): bigint | undefined {
    const key = this.listingKey(address);
    if (key === undefined) return undefined;
    let start = address;
    for (let i = 0; i < MAX_INSTRUCTION && this.listingKey(start - 1n) === key; i++) start--;
    return start;
  }

  /** Decodes the instruction at `address` from known bytes. */
  decodeAt(address: bigint): Instruction | undefined {
    if (this.decoded.has(address)) return this.decoded.get(address);
    const insn = this.decodeUncached(address);
    if (this.decoded.size >= MAX_DECODED) this.decoded.clear();
    this.decoded.set(address, insn);
    return insn;
  }

  /** Whether the instruction at `address` is a real one the emulator cannot run (see unemulated.ts). */
  isUnemulated(address: bigint): boolean {
    const bytes = this.knownBytes(address, this.dump.arch === 'arm64' ? 4 : MAX_INSTRUCTION);
    return bytes.length > 0 && unemulatedInstruction(this.disassembler, bytes, address) !== undefined;
  }

  private decodeUncached(address: bigint): Instruction | undefined {
    const bytes = this.knownBytes(address, this.dump.arch === 'arm64' ? 4 : MAX_INSTRUCTION);
    if (bytes.length === 0) return undefined;
    const decoded = this.disassembler.decode(bytes, address);
    if (!decoded || decoded.size > bytes.length) return undefined;
    return {
      address,
      size: decoded.size,
      bytes: bytes.slice(0, decoded.size),
      mnemonic: decoded.mnemonic,
      operands: decoded.operands,
      text: symbolizeOperands(decoded.text.replace(/\s+/, ' '), this.dump),
      kind: flowKind(this.dump.arch, decoded.mnemonic),
      listed: this.listedStart(address) === address,
    };
  }

  /**
   * The instruction ending exactly at `end` that satisfies `accept`. A listing
   * boundary wins; otherwise the shortest decoding that ends at `end` does.
   */
  endingAt(end: bigint, accept: (insn: Instruction) => boolean = () => true): Instruction | undefined {
    const listed = this.listedStart(end - 1n);
    if (listed !== undefined) {
      const insn = this.decodeAt(listed);
      if (insn && insn.address + BigInt(insn.size) === end) return accept(insn) ? insn : undefined;
    }
    const swept = this.sweepTo(end);
    if (swept) return accept(swept) ? swept : undefined;
    if (this.dump.arch === 'arm64') {
      const insn = this.decodeAt(end - 4n);
      return insn && insn.size === 4 && accept(insn) ? insn : undefined;
    }
    for (let k = 1; k <= MAX_INSTRUCTION; k++) {
      const insn = this.decodeAt(end - BigInt(k));
      if (insn && insn.size === k && accept(insn)) return insn;
    }
    return undefined;
  }

  /** The instruction ending exactly at `end`, by decoding forward from the start of its function. */
  private sweepTo(end: bigint): Instruction | undefined {
    const location = this.dump.symbols.lookup(end - 1n);
    if (!location?.symbol || location.offset > 0x4000n) return undefined;
    let at = location.base;
    let insn: Instruction | undefined;
    while (at < end) {
      insn = this.decodeAt(at);
      if (!insn) return undefined;
      at += BigInt(insn.size);
    }
    return at === end ? insn : undefined;
  }

  /**
   * Decodes forward from the start of the function containing `last` (by
   * the symbol table) and returns the instructions up to and including
   * `last`, or undefined when the sweep does not land exactly on it. Without
   * a listing this is how instruction boundaries are known: decoding
   * backwards is ambiguous on x86.
   */
  sweepFromSymbol(last: Instruction): Instruction[] | undefined {
    const location = this.dump.symbols.lookup(last.address);
    if (!location?.symbol || location.offset > 0x4000n) return undefined;
    const out: Instruction[] = [];
    let at = location.base;
    while (at < last.address) {
      const insn = this.decodeAt(at);
      if (!insn) return undefined;
      out.push(insn);
      at += BigInt(insn.size);
    }
    if (at !== last.address) return undefined;
    out.push(last);
    return out;
  }

  /** Listed instructions (a transcript's `u`/`ub`) that end at or before `end`, nearest last, at most `max`. */
  listedBefore(end: bigint, max: number): Instruction[] {
    const out: Instruction[] = [];
    let cursor = end;
    while (out.length < max) {
      const start = this.listedStart(cursor - 1n);
      if (start === undefined) break;
      const insn = this.decodeAt(start);
      if (!insn || insn.address + BigInt(insn.size) !== cursor) break;
      out.unshift(insn);
      cursor = start;
    }
    return out;
  }

  /**
   * The run of known instructions that ends with the one at `last`, walking
   * back at most `max` instructions, stopping where bytes are unknown or
   * where `stopBefore` says (e.g. a call into code the dump lacks). Returned
   * in execution order; the first element is where a replay can start.
   */
  runEndingWith(last: Instruction, max: number, stopBefore: (insn: Instruction) => boolean): Instruction[] {
    if (!last.listed) {
      const swept = this.sweepFromSymbol(last);
      if (swept) {
        const run: Instruction[] = [];
        for (let i = swept.length - 1; i >= 0 && run.length < max; i--) {
          if (i < swept.length - 1 && stopBefore(swept[i]!)) break;
          run.unshift(swept[i]!);
        }
        return run;
      }
    }
    const run: Instruction[] = [last];
    let cursor = last.address;
    while (run.length < max) {
      const prev = this.endingAt(cursor, (i) => i.listed || this.listedStart(cursor) === undefined);
      if (!prev || stopBefore(prev)) break;
      run.unshift(prev);
      cursor = prev.address;
    }
    return run;
  }
}

/** The registers the instruction at `pc` reads and writes, decoded from the bytes `code` knows there. */
export function effectsAt(code: CodeReader, effects: Effects, pc: bigint): InstructionEffects | undefined {
  return effects.of(code.knownBytes(pc, code.dump.arch === 'arm64' ? 4 : MAX_INSTRUCTION), pc);
}
