/**
 * Capstone's instruction text rewritten the way WinDbg's disassembler
 * prints it:
 *
 * x86 / x64 (MASM style)
 * - mnemonic padded to 7 columns and a space; operands joined by `,`;
 * - `[rax + 8]` → `[rax+8]`, `[rbp - 0x10]` → `[rbp-10h]`;
 * - immediates in MASM hex (`28h`, `0FFFFFFF0h`, 0–9 decimal); a negative
 *   immediate as its two's complement at the operand's width;
 * - branch targets and RIP-relative operands resolved to addresses, with
 *   the symbol first when one is known: `call bugs!divide (00005555`55555210)`,
 *   `qword ptr [bugs!slot (00005555`55558010)]`;
 * - `int3` is `int 3`, `movabs` is `mov`; one-operand div/idiv/mul/imul
 *   name the accumulator (`div rax,rcx`).
 *
 * ARM64 (Microsoft's ARM64 syntax, as WinDbg, dumpbin and cl /FA print it)
 * - mnemonic padded to 11 columns and a space; operands joined by `,`;
 *   `x29`/`x30` are `fp`/`lr`; `b.ne` is `bne`;
 * - immediates keep `#`, hex digits upper-case (`#0x3E8`, `#-0x30`, `#8`);
 * - an index's shift or extend joins it without a comma: `[x9,w8 uxtw #2]`;
 * - branch and adr/adrp targets are addresses, with the symbol when known.
 *
 * @example
 * ```ts
 * windbgInstruction('x64', insn, symbols);   // 'mov     rax,qword ptr [rax+8]'
 * windbgInstruction('arm64', insn, symbols); // 'stp         fp,lr,[sp,#-0x30]!'
 * ```
 */
import type { WriterArch } from '../crash/registers.ts';
import { masmHex, windbgAddress } from '../transcript/hex.ts';
import type { Instruction } from './decoder.ts';
import { splitOperands } from './operands.ts';

/** Names for addresses: `module!symbol+0xoff`, or undefined outside every module. */
export interface AddressNames {
  format(address: bigint): string | undefined;
}

const X86_BRANCHES = /^(call|jmp|j[a-z]+|loop[a-z]*|jecxz|jrcxz|xbegin)$/;
const ARM64_BRANCHES = /^(b|bl|b\.[a-z]+|cbz|cbnz|tbz|tbnz|adr|adrp)$/;

function target(arch: WriterArch, address: bigint, names: AddressNames): string {
  const name = names.format(address);
  return name ? `${name} (${windbgAddress(arch, address)})` : windbgAddress(arch, address);
}

const REGISTER_BITS: [RegExp, number][] = [
  [/^(r\d+b|[abcd]l|[abcd]h|sil|dil|bpl|spl)$/, 8],
  [/^(r\d+w|[abcd]x|si|di|bp|sp)$/, 16],
  [/^(r\d+d|e[a-z]{2})$/, 32],
  [/^(r\d+|r[a-z]{2})$/, 64],
];

const ACCUMULATORS: Record<number, string> = { 8: 'al', 16: 'ax', 32: 'eax', 64: 'rax' };

/** The width of an instruction's operands, for printing a negative immediate. */
function operandBits(arch: WriterArch, operands: string[]): number {
  for (const op of operands) {
    const size = /^(byte|word|dword|qword) ptr/.exec(op)?.[1];
    if (size) return { byte: 8, word: 16, dword: 32, qword: 64 }[size]!;
    const width = REGISTER_BITS.find(([pattern]) => pattern.test(op))?.[1];
    if (width) return width;
  }
  return arch === 'x86' ? 32 : 64;
}

function x86Number(text: string, bits: number): string {
  const negative = text.startsWith('-');
  const value = BigInt(negative ? text.slice(1) : text);
  return masmHex(negative ? BigInt.asUintN(bits, -value) : value);
}

function x86Memory(arch: WriterArch, text: string, insn: Instruction, names: AddressNames): string {
  return text.replace(/\[(.*)\]/, (_, inner: string) => {
    const rip = /^rip\s*([+-])\s*(0x[0-9a-f]+|\d+)$/.exec(inner.trim());
    if (rip) {
      const displacement = BigInt(rip[2]!) * (rip[1] === '-' ? -1n : 1n);
      return `[${target(arch, BigInt.asUintN(64, insn.address + BigInt(insn.size) + displacement), names)}]`;
    }
    // An absolute address; fs:/gs: offsets stay numbers (`qword ptr fs:[28h]`).
    if (/^(0x[0-9a-f]+|\d+)$/.test(inner.trim())) return /[fg]s:\[/.test(text) ? `[${masmHex(BigInt(inner.trim()))}]` : `[${windbgAddress(arch, BigInt(inner.trim()))}]`;
    return `[${inner.replace(/\s*([+-])\s*/g, '$1').replace(/(^|[+-])(0x[0-9a-f]+|\d+)(?=$|[+-])/g, (_m, sign: string, n: string) => `${sign}${masmHex(BigInt(n))}`)}]`;
  });
}

function x86Text(arch: WriterArch, insn: Instruction, names: AddressNames): { mnemonic: string; operands: string } {
  let mnemonic = insn.mnemonic;
  let operands = splitOperands(insn.operands);
  if (mnemonic === 'int3') return { mnemonic: 'int', operands: '3' };
  if (mnemonic === 'movabs') mnemonic = 'mov';
  const bits = operandBits(arch, operands);
  // WinDbg names the accumulator a one-operand multiply or divide uses: `idiv eax,dword ptr [rsp+28h]`.
  if (/^(div|idiv|mul|imul)$/.test(mnemonic) && operands.length === 1) operands = [ACCUMULATORS[bits] ?? 'eax', ...operands];
  operands = operands.map((op) => {
    if (op.includes('[')) return x86Memory(arch, op, insn, names);
    if (/^-?(0x[0-9a-f]+|\d+)$/.test(op)) {
      if (X86_BRANCHES.test(mnemonic)) return target(arch, BigInt(op), names);
      return x86Number(op, bits);
    }
    return op;
  });
  return { mnemonic, operands: operands.join(',') };
}

function arm64Operand(op: string, mnemonic: string, arch: WriterArch, names: AddressNames): string {
  if (ARM64_BRANCHES.test(mnemonic) && /^#0x[0-9a-f]+$/.test(op)) {
    // adr/adrp name a page or a datum, not code: the address alone.
    return /^adrp?$/.test(mnemonic) ? windbgAddress(arch, BigInt(op.slice(1))) : target(arch, BigInt(op.slice(1)), names);
  }
  let text = op.replace(/\bx29\b/g, 'fp').replace(/\bx30\b/g, 'lr');
  text = text.replace(/#(-?)0x([0-9a-f]+)/g, (_m, sign: string, digits: string) => `#${sign}0x${digits.toUpperCase()}`);
  if (text.startsWith('[')) text = text.replace(/,\s*/g, ',').replace(/,((?:lsl|uxtw|sxtw|sxtx|uxtx)\b)/g, ' $1');
  return text;
}

/**
 * The mnemonic and operands of `insn` in WinDbg's syntax.
 *
 * @example
 * ```ts
 * windbgParts('x86', insn, names); // { mnemonic: 'call', operands: 'bugs!divide (56556210)' }
 * ```
 */
export function windbgParts(arch: WriterArch, insn: Instruction, names: AddressNames): { mnemonic: string; operands: string } {
  if (arch !== 'arm64') return x86Text(arch, insn, names);
  const mnemonic = insn.mnemonic.replace(/^b\.([a-z]+)$/, 'b$1');
  const operands = splitOperands(insn.operands).map((op) => arm64Operand(op, insn.mnemonic, arch, names));
  return { mnemonic, operands: operands.join(',') };
}

/**
 * The instruction as WinDbg prints it after the address and bytes.
 *
 * @example
 * ```ts
 * windbgInstruction('x64', int3, names); // 'int     3'
 * ```
 */
export function windbgInstruction(arch: WriterArch, insn: Instruction, names: AddressNames): string {
  const { mnemonic, operands } = windbgParts(arch, insn, names);
  const width = arch === 'arm64' ? 11 : 7;
  return operands === '' ? mnemonic : `${mnemonic.padEnd(width)} ${operands}`;
}
