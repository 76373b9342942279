/**
 * Rewrites Capstone's Intel-syntax text the way WinDbg prints it, so a trace
 * line reads like the debugger output users compare it with. Modest by
 * design; the rules, in full:
 *
 * x86 and x64
 * - `int3` is `int 3`; the mnemonic is padded to 7 columns plus a space.
 * - Operands are joined by `,` without a space; `[ebp - 0x10]` is `[ebp-10h]`.
 * - An address is plain lower-case hex at pointer width, as WinDbg prints
 *   addresses: branch targets (`call 00401000`), absolute memory operands
 *   (`dword ptr [80a5b020]`) and, on x64, RIP-relative operands resolved to
 *   the address they name (`qword ptr [fffff880`3836e13b]`).
 * - Other numbers (immediates, displacements) are MASM hex as WinDbg shows
 *   them: `0Ch`, `0FFFFFFF8h`; 0 to 9 stay decimal.
 *
 * arm64
 * - The mnemonic is padded to 11 columns plus a space; operands are joined by
 *   `,` without a space; `x29` and `x30` are `fp` and `lr`.
 * - Branch and `adr`/`adrp` targets are addresses (`bl fffffe00`12340004`);
 *   other immediates keep Capstone's `#0x10`, as WinDbg does.
 *
 * Symbols are not resolved here; the text export prints them as headers.
 *
 * @example
 * ```ts
 * windbgSyntax('x86', 'call', 'dword ptr [0x80a5b020]', 0x8082e3e1n, 6); // { mnemonic: 'call', operands: 'dword ptr [80a5b020]' }
 * ```
 */
import type { Arch } from '../../emu/registers.ts';
import { formatAddress } from '../format.ts';

/** A number as WinDbg's MASM-style hex: `0Ch`, `28h`, `0FFFFFFFFh`; 0 to 9 in decimal. */
export function masmHex(value: bigint): string {
  if (value < 10n) return value.toString();
  const digits = value.toString(16).toUpperCase();
  return `${/^[A-F]/.test(digits) ? '0' : ''}${digits}h`;
}

const X86_BRANCHES = /^(call|jmp|j[a-z]+|loop[a-z]*|jecxz|jrcxz|xbegin)$/;
const ARM64_BRANCHES = /^(b|bl|b\.[a-z]+|cbz|cbnz|tbz|tbnz|adr|adrp)$/;

function parseNumber(text: string): bigint | undefined {
  const m = /^(-?)(0x[0-9a-f]+|[0-9]+)$/.exec(text);
  if (!m) return undefined;
  const value = BigInt(m[2]!);
  return m[1] ? -value : value;
}

/** Splits an operand list at commas outside brackets and braces. */
function splitOperands(text: string): string[] {
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
  const last = text.slice(start).trim();
  if (last) out.push(last);
  return out;
}

/** Inside `[...]`: `ebp - 0x10` → `ebp-10h`; a lone number is an address; `rip + d` resolves on x64. */
function x86Memory(arch: Arch, inner: string, next: bigint): string {
  const alone = parseNumber(inner.trim());
  if (alone !== undefined && alone >= 0n) return formatAddress(arch, alone);
  const rip = /^rip(?: ([+-]) (0x[0-9a-f]+|[0-9]+))?$/.exec(inner.trim());
  if (rip) {
    const disp = rip[2] ? BigInt(rip[2]) : 0n;
    return formatAddress(arch, BigInt.asUintN(64, rip[1] === '-' ? next - disp : next + disp));
  }
  return inner
    .replace(/ ([+-]) /g, '$1')
    .replace(/0x[0-9a-f]+|\b[0-9]+\b/g, (n) => masmHex(BigInt(n)));
}

function x86Operand(arch: Arch, mnemonic: string, operand: string, next: bigint): string {
  const memory = /^(.*)\[(.*)\]$/.exec(operand);
  if (memory) return `${memory[1]}[${x86Memory(arch, memory[2]!, next)}]`;
  const number = parseNumber(operand);
  if (number !== undefined && number >= 0n) {
    return X86_BRANCHES.test(mnemonic) ? formatAddress(arch, number) : masmHex(number);
  }
  return operand;
}

function arm64Operand(mnemonic: string, operand: string, isLast: boolean): string {
  if (isLast && ARM64_BRANCHES.test(mnemonic)) {
    const target = /^#(0x[0-9a-f]+|[0-9]+)$/.exec(operand);
    if (target) return formatAddress('arm64', BigInt(target[1]!));
  }
  return operand.replace(/\bx29\b/g, 'fp').replace(/\bx30\b/g, 'lr').replace(/, /g, ',');
}

/** Capstone's mnemonic and operands for the instruction at `address` of `size` bytes, as WinDbg writes them. */
export function windbgSyntax(arch: Arch, mnemonic: string, operands: string, address: bigint, size: number): { mnemonic: string; operands: string } {
  if (arch === 'arm64') {
    const list = splitOperands(operands);
    return { mnemonic, operands: list.map((op, i) => arm64Operand(mnemonic, op, i === list.length - 1)).join(',') };
  }
  if (mnemonic === 'int3') return { mnemonic: 'int', operands: '3' };
  const next = address + BigInt(size);
  return { mnemonic, operands: splitOperands(operands).map((op) => x86Operand(arch, mnemonic, op, next)).join(',') };
}

/** Mnemonic and operands as one line, the mnemonic padded to WinDbg's column for `arch`. */
export function windbgText(arch: Arch, mnemonic: string, operands: string): string {
  if (!operands) return mnemonic;
  const width = arch === 'arm64' ? 11 : 7;
  return `${mnemonic.padEnd(width)} ${operands}`;
}

/**
 * WinDbg names operand addresses that start a symbol:
 * `call dword ptr [80a5b020]` → `call dword ptr [hal!_imp__KiIpiServiceRoutine (80a5b020)]`.
 * `exactName` returns a name only for an address where a symbol starts.
 *
 * @example
 * ```ts
 * symbolizeOperandText('call 80a604be', (a) => (a === 0x80a604ben ? 'hal!HalBeginSystemInterrupt' : undefined));
 * // 'call hal!HalBeginSystemInterrupt (80a604be)'
 * ```
 */
export function symbolizeOperandText(text: string, exactName: (address: bigint) => string | undefined): string {
  return text.replace(/\b([0-9a-f]{8}(?:`[0-9a-f]{8})?)\b/g, (token) => {
    const name = exactName(BigInt(`0x${token.replace('`', '')}`));
    return name ? `${name} (${token})` : token;
  });
}
