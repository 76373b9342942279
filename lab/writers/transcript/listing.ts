/**
 * Disassembly as WinDbg's `u` and `ub` print it, and the instruction line
 * under a register block:
 *
 * ```
 * bugs!draw+0x4:
 * 0000557d`d3eac514 ff20            jmp     qword ptr [rax] ds:00000000`00000000=????????????????
 * 00000055`00000da4 f9400042 ldr         x2,[x2]
 * 00000000`00000000 ??              ???
 * ```
 *
 * - x86/x64: address, the bytes padded to 15 columns and a space, then the
 *   instruction; arm64: address, the instruction word (8 hex digits) and a space.
 * - A `module!symbol+0xoff:` header opens the listing and each new symbol.
 * - Bytes the dump lacks print as `??` and `???`, one byte a line.
 * - The current instruction (pc) carries WinDbg's effective-address note
 *   for its memory operand: `ds:0023:00000004=????????` on x86 (padded to
 *   column 29), `ds:00000000`00000008=…` on x64 (the selector shown only
 *   for ring-0 code, as in `ss:0018:fffff880`03836e10=…`), read from the
 *   dump or `?`s.
 *
 * `ub` sweeps forward from the function's start (its symbol) so instruction
 * boundaries are right; without a sized symbol it tries starts up to 64
 * bytes back and keeps the first whose sweep lands exactly on the address.
 *
 * @example
 * ```ts
 * unassemble(view, pc, 8);            // `u` lines
 * unassembleBefore(view, ret, 8);     // `ub` lines
 * ```
 */
import type { Decoder, Instruction } from '../disasm/decoder.ts';
import { effectiveAddress, memoryOperands } from '../disasm/operands.ts';
import { windbgInstruction } from '../disasm/windbg-text.ts';
import type { CrashMemory } from '../crash/memory.ts';
import type { Registers, WriterArch } from '../crash/registers.ts';
import type { SymbolIndex } from '../crash/symbols.ts';
import { hex, windbgAddress } from './hex.ts';

/** What a listing reads: the crash's memory, symbols and decoder. */
export interface ListingView {
  arch: WriterArch;
  memory: CrashMemory;
  symbols: SymbolIndex;
  decoder: Decoder;
}

/**
 * The header WinDbg prints before an address: `bugs!draw+0x4:`, or none outside every module.
 *
 * @example
 * ```ts
 * symbolHeader(view, pc); // 'bugs!draw+0x4:'
 * ```
 */
export function symbolHeader(view: ListingView, address: bigint): string | undefined {
  const name = view.symbols.format(address);
  return name ? `${name}:` : undefined;
}

function decodeAt(view: ListingView, address: bigint): Instruction | undefined {
  const bytes = view.memory.readAvailable(address, view.arch === 'arm64' ? 4 : 16);
  if (bytes.length === 0) return undefined;
  return view.decoder.decode(bytes, address);
}

/**
 * One instruction line, with `note` appended (the effective-address note).
 *
 * @example
 * ```ts
 * instructionLine(view, insn); // '0000557d`d3eac514 ff20            jmp     qword ptr [rax]'
 * ```
 */
export function instructionLine(view: ListingView, insn: Instruction, note?: string): string {
  const address = windbgAddress(view.arch, insn.address);
  const text = windbgInstruction(view.arch, insn, view.symbols);
  if (view.arch === 'arm64') {
    const word = new DataView(insn.bytes.buffer, insn.bytes.byteOffset, 4).getUint32(0, true);
    return `${address} ${word.toString(16).padStart(8, '0')} ${text}`;
  }
  const bytes = Buffer.from(insn.bytes).toString('hex');
  const line = `${address} ${bytes.padEnd(15)} ${text}`;
  if (!note) return line;
  if (view.arch === 'x86') return `${address} ${bytes.padEnd(15)} ${text.length < 29 ? text.padEnd(29) : `${text} `}${note}`;
  return `${line} ${note}`;
}

/**
 * The line WinDbg prints for an address whose bytes the dump lacks.
 *
 * @example
 * ```ts
 * unknownLine('x64', 0n); // '00000000`00000000 ??              ???'
 * ```
 */
export function unknownLine(arch: WriterArch, address: bigint): string {
  return `${windbgAddress(arch, address)} ${'??'.padEnd(15)} ???`;
}

/**
 * `u ADDRESS` with `count` instructions.
 *
 * @example
 * ```ts
 * unassemble(view, pc, 8).length; // 9: a header and 8 instructions
 * ```
 */
export function unassemble(view: ListingView, address: bigint, count: number): string[] {
  const lines: string[] = [];
  let at = address;
  let symbol: string | undefined;
  for (let i = 0; i < count; i++) {
    const place = view.symbols.lookup(at);
    const name = place?.symbol ?? place?.module;
    if (i === 0 || (name !== symbol && place?.offset === 0n)) {
      const header = symbolHeader(view, at);
      if (header) lines.push(header);
    }
    symbol = name;
    const insn = decodeAt(view, at);
    if (!insn) {
      lines.push(unknownLine(view.arch, at));
      at += view.arch === 'arm64' ? 4n : 1n;
      continue;
    }
    lines.push(instructionLine(view, insn));
    at += BigInt(insn.size);
  }
  return lines;
}

function sweep(view: ListingView, start: bigint, end: bigint): Instruction[] | undefined {
  const out: Instruction[] = [];
  for (let at = start; at < end; ) {
    const insn = decodeAt(view, at);
    if (!insn) return undefined;
    out.push(insn);
    at += BigInt(insn.size);
    if (at > end) return undefined;
  }
  return out;
}

/**
 * `ub ADDRESS`: the `count` instructions that end just before `address`.
 *
 * @example
 * ```ts
 * unassembleBefore(view, returnAddress, 8).at(-1); // the call that returns there
 * ```
 */
export function unassembleBefore(view: ListingView, address: bigint, count: number): string[] {
  let instructions: Instruction[] | undefined;
  if (view.arch === 'arm64') {
    instructions = sweep(view, address - BigInt(4 * count), address);
  } else {
    const fn = view.symbols.functionAt(address - 1n);
    if (fn && address - fn.start < 0x10000n) instructions = sweep(view, fn.start, address);
    for (let back = 64n; !instructions && back > 0n; back--) {
      const candidate = sweep(view, address - back, address);
      if (candidate && candidate.length >= count) instructions = candidate;
    }
  }
  if (!instructions || instructions.length === 0) {
    return Array.from({ length: count }, (_, i) => unknownLine(view.arch, address - BigInt(count - i)));
  }
  const shown = instructions.slice(-count);
  const lines: string[] = [];
  const header = symbolHeader(view, shown[0]!.address);
  if (header) lines.push(header);
  for (const insn of shown) {
    const place = view.symbols.lookup(insn.address);
    if (insn !== shown[0] && place?.symbol && place.offset === 0n) lines.push(`${view.symbols.format(insn.address)}:`);
    lines.push(instructionLine(view, insn));
  }
  return lines;
}

/**
 * WinDbg's effective-address note for the memory operand of `insn`
 * (x86/x64 only), or undefined when it has none the debugger would show.
 *
 * @example
 * ```ts
 * effectiveAddressNote(view, insn, registers); // 'ds:00000000`00000008=????????????????'
 * ```
 */
export function effectiveAddressNote(view: ListingView, insn: Instruction, registers: Registers): string | undefined {
  if (view.arch === 'arm64' || /^(lea|nop)/.test(insn.mnemonic)) return undefined;
  const op = memoryOperands(view.arch, insn)[0];
  if (!op || op.size === 0 || op.size > 8) return undefined;
  const address = effectiveAddress(view.arch, op, insn, registers);
  if (address === undefined) return undefined;
  const segment = op.segment ?? (op.base && /^[er]?(sp|bp)$/.test(op.base) ? 'ss' : 'ds');
  const selector = registers[segment] ?? 0n;
  const bytes = view.memory.read(address, op.size);
  const value = bytes ? hex(bytes.reduceRight((acc, b) => (acc << 8n) | BigInt(b), 0n), op.size * 2) : '?'.repeat(op.size * 2);
  // x64 WinDbg shows the selector only for ring-0 code (cs 0010: `ss:0018:…`, `ds:002b:…`), not for user code (cs 0033).
  const kernelCode = ((registers.cs ?? 0x33n) & 3n) === 0n;
  const where = view.arch === 'x86' || kernelCode ? `${segment}:${hex(selector, 4)}:${windbgAddress(view.arch, address)}` : `${segment}:${windbgAddress(view.arch, address)}`;
  return `${where}=${value}`;
}

/**
 * The header and instruction line WinDbg prints under a register block.
 *
 * @example
 * ```ts
 * currentInstruction(view, registers, pc); // ['bugs!draw+0x4:', '0000557d`d3eac514 ff20 … ds:…=????????????????']
 * ```
 */
export function currentInstruction(view: ListingView, registers: Registers, pc: bigint): string[] {
  const lines: string[] = [];
  const header = symbolHeader(view, pc);
  if (header) lines.push(header);
  const insn = decodeAt(view, pc);
  lines.push(insn ? instructionLine(view, insn, effectiveAddressNote(view, insn, registers)) : unknownLine(view.arch, pc));
  return lines;
}
