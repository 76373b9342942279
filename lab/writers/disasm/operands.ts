/**
 * The memory operands of a decoded instruction, read from Capstone's text
 * (`qword ptr fs:[rax + rcx*8 - 0x10]`, `[x1, w2, sxtw #2]`, `[sp, #-0x30]!`),
 * and the address each one names given the registers.
 *
 * @example
 * ```ts
 * const [op] = memoryOperands('x64', { mnemonic: 'mov', operands: 'rax, qword ptr [rax + 8]', … });
 * op;                                        // { position: 1, base: 'rax', displacement: 8n, size: 8, … }
 * effectiveAddress('x64', op, insn, { rax: 0n }); // 8n
 * ```
 */
import type { Registers, WriterArch } from '../crash/registers.ts';
import type { Instruction } from './decoder.ts';

/** A memory operand: [segment:][base + index*scale + displacement]. */
export interface MemoryOperand {
  /** Index among the instruction's operands. */
  position: number;
  /** Bytes accessed (from `qword ptr` etc. on x86; from the register on arm64), 0 when unknown. */
  size: number;
  segment?: string;
  base?: string;
  index?: string;
  scale: bigint;
  /** arm64 index extension: `uxtw`, `sxtw`, `sxtx` or `lsl`. */
  extend?: string;
  displacement: bigint;
  /** arm64 post-index (`[sp], #0x10`): the access is at the base alone. */
  postIndex: boolean;
}

/**
 * Splits an operand list at the commas outside brackets.
 *
 * @example
 * ```ts
 * splitOperands('x0, [x1, x2, lsl #3]'); // ['x0', '[x1, x2, lsl #3]']
 * ```
 */
export function splitOperands(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) {
      out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (text.trim() !== '') out.push(text.slice(start).trim());
  return out;
}

const X86_SIZES: Record<string, number> = { byte: 1, word: 2, dword: 4, qword: 8, tbyte: 10, xmmword: 16, ymmword: 32, zmmword: 64 };

function parseNumber(text: string): bigint | undefined {
  const m = /^(-?)\s*(0x[0-9a-f]+|\d+)$/i.exec(text.trim());
  if (!m) return undefined;
  const value = BigInt(m[2]!);
  return m[1] ? -value : value;
}

function x86Operand(text: string, position: number): MemoryOperand | undefined {
  const m = /^(?:(\w+) ptr )?(?:(\w+):)?\[(.*)\]$/.exec(text);
  if (!m) return undefined;
  const op: MemoryOperand = { position, size: m[1] ? X86_SIZES[m[1]] ?? 0 : 0, scale: 1n, displacement: 0n, postIndex: false };
  if (m[2]) op.segment = m[2];
  for (const term of m[3]!.replace(/\s*-\s*/g, ' + -').split('+').map((t) => t.trim()).filter(Boolean)) {
    const number = parseNumber(term);
    if (number !== undefined) op.displacement += number;
    else if (term.includes('*')) {
      const [index, scale] = term.split('*');
      op.index = index!.trim();
      op.scale = BigInt(scale!.trim());
    } else if (op.base === undefined) op.base = term;
    else op.index = term;
  }
  return op;
}

function arm64Size(mnemonic: string, register: string | undefined): number {
  if (/^(ldr|str|ldur|stur|ldtr|sttr)b$|^ldrsb|^ldursb/.test(mnemonic)) return 1;
  if (/^(ldr|str|ldur|stur|ldtr|sttr)h$|^ldrsh|^ldursh/.test(mnemonic)) return 2;
  if (/^ldrsw|^ldursw/.test(mnemonic)) return 4;
  const pair = /^(ldp|stp|ldnp|stnp|ldpsw)/.test(mnemonic) ? 2 : 1;
  const width = register?.startsWith('x') ? 8 : register?.startsWith('w') ? 4 : register?.startsWith('q') ? 16 : register?.startsWith('d') ? 8 : register?.startsWith('s') ? 4 : 0;
  return width * pair;
}

function arm64Operand(operands: string[], at: number, mnemonic: string): MemoryOperand | undefined {
  const m = /^\[(.*)\](!?)$/.exec(operands[at]!);
  if (!m) return undefined;
  const parts = m[1]!.split(',').map((p) => p.trim());
  const op: MemoryOperand = { position: at, size: arm64Size(mnemonic, operands[0]), scale: 1n, displacement: 0n, postIndex: false, base: parts[0] };
  for (const part of parts.slice(1)) {
    const imm = /^#(-?0x[0-9a-f]+|-?\d+)$/i.exec(part);
    const ext = /^(uxtw|sxtw|sxtx|lsl|uxtx)(?:\s+#(\d+))?$/i.exec(part);
    if (imm) op.displacement += parseNumber(imm[1]!)!;
    else if (ext) {
      op.extend = ext[1]!.toLowerCase();
      op.scale = 1n << BigInt(ext[2] ?? '0');
    } else op.index = part;
  }
  const post = operands[at + 1];
  if (!m[2] && post && /^#/.test(post)) op.postIndex = true;
  return op;
}

/**
 * The explicit memory operands of `insn`, in operand order.
 *
 * @example
 * ```ts
 * memoryOperands('arm64', { mnemonic: 'ldp', operands: 'x29, x30, [sp], #0x30', … })[0].postIndex; // true
 * ```
 */
export function memoryOperands(arch: WriterArch, insn: Instruction): MemoryOperand[] {
  const operands = splitOperands(insn.operands);
  const out: MemoryOperand[] = [];
  operands.forEach((text, i) => {
    const op = arch === 'arm64' ? arm64Operand(operands, i, insn.mnemonic) : x86Operand(text, i);
    if (op && !(arch !== 'arm64' && insn.mnemonic === 'lea')) out.push(op);
  });
  return out;
}

const X64_LOW32: Record<string, string> = {
  eax: 'rax', ebx: 'rbx', ecx: 'rcx', edx: 'rdx', esi: 'rsi', edi: 'rdi', ebp: 'rbp', esp: 'rsp',
  ...Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`r${i + 8}d`, `r${i + 8}`])),
};

/**
 * The value of register `name` for address arithmetic, or undefined when
 * the registers lack it (`rip` is the next instruction's address).
 *
 * @example
 * ```ts
 * registerValue('x64', 'r8d', insn, { r8: 0x1_0000_0002n }); // 2n
 * ```
 */
export function registerValue(arch: WriterArch, name: string, insn: Instruction, registers: Registers): bigint | undefined {
  if (name === 'rip') return insn.address + BigInt(insn.size);
  if (name === 'eip') return insn.address + BigInt(insn.size);
  if (arch === 'x64' && X64_LOW32[name]) {
    const full = registers[X64_LOW32[name]!];
    return full === undefined ? undefined : full & 0xffff_ffffn;
  }
  if (arch === 'arm64') {
    if (name === 'xzr' || name === 'wzr') return 0n;
    if (name === 'fp') name = 'x29';
    if (name === 'lr') name = 'x30';
    const w = /^w(\d+)$/.exec(name);
    if (w) {
      const full = registers[`x${w[1]}`];
      return full === undefined ? undefined : full & 0xffff_ffffn;
    }
  }
  return registers[name];
}

/**
 * The address `op` names, or undefined when a register it uses is unknown
 * (a segment base other than fs on x64 is unknown too).
 *
 * @example
 * ```ts
 * effectiveAddress('x86', op, insn, { eax: 0x1000n, ecx: 2n }); // [eax+ecx*4+8] → 0x1010n
 * ```
 */
export function effectiveAddress(arch: WriterArch, op: MemoryOperand, insn: Instruction, registers: Registers): bigint | undefined {
  const mask = arch === 'x86' ? 0xffff_ffffn : 0xffff_ffff_ffff_ffffn;
  let address = 0n;
  if (op.segment === 'fs' || op.segment === 'gs') {
    const base = arch === 'x64' ? registers[`${op.segment}_base`] : undefined;
    if (base === undefined) return undefined;
    address += base;
  }
  if (op.base) {
    const value = registerValue(arch, op.base, insn, registers);
    if (value === undefined) return undefined;
    address += value;
  }
  if (op.postIndex) return address & mask;
  if (op.index) {
    let value = registerValue(arch, op.index, insn, registers);
    if (value === undefined) return undefined;
    if (op.extend === 'sxtw' && value >= 0x8000_0000n) value -= 0x1_0000_0000n;
    address += value * op.scale;
  }
  address += op.displacement;
  return ((address % (mask + 1n)) + mask + 1n) & mask;
}
