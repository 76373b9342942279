/**
 * Names the instruction behind an "invalid instruction" trap when a real
 * CPU would run it: Unicorn 2 lacks XSAVEC, AVX2 and AVX-512 among others,
 * which glibc picks at load time on a CPU that has them (the dynamic
 * linker's `_dl_runtime_resolve_xsavec`, the AVX2 and EVEX string
 * functions). Capstone decodes such bytes; `ud2` and bytes it cannot decode
 * are left as the code's own invalid instruction.
 *
 * @example
 * ```ts
 * unemulatedInstruction(disasm, Uint8Array.of(0x0f, 0xc7, 0x21), 0x7ffff7fdc2f8n);
 * // { mnemonic: 'xsavec', extension: 'XSAVEC', text: 'XSAVEC `xsavec [rcx]` is not emulated by Unicorn' }
 * ```
 */
import type { Disassembler } from '../disasm/disassembler.ts';

export interface UnemulatedInstruction {
  mnemonic: string;
  /** The instruction set extension, when the encoding tells it. */
  extension?: string;
  /** One line for a stop reason. */
  text: string;
}

const GENUINELY_INVALID = new Set(['ud0', 'ud1', 'ud2', 'ud2b']);

/** The extension of the instruction encoded in `bytes`, by its prefix (EVEX, VEX) or mnemonic. */
function extensionOf(bytes: Uint8Array, mnemonic: string, operands: string): string | undefined {
  let i = 0;
  while (i < bytes.length && [0x66, 0x67, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65, 0xf0].includes(bytes[i]!)) i++;
  if (bytes[i] === 0x62) return 'AVX-512';
  if (/\b[xyz]mm(1[6-9]|2\d|3[01])\b|\bzmm\d+|\bk[0-7]\b/.test(operands)) return 'AVX-512';
  if (mnemonic.startsWith('xsave') || mnemonic.startsWith('xrstor')) return mnemonic.toUpperCase().replace(/64$/, '');
  if (bytes[i] === 0xc4 || bytes[i] === 0xc5) return /\bymm/.test(operands) ? 'AVX2/AVX' : 'AVX';
  return undefined;
}

/** The instruction at `address` Unicorn trapped on as invalid, when it is a real instruction; undefined otherwise. */
export function unemulatedInstruction(disasm: Disassembler, bytes: Uint8Array, address: bigint): UnemulatedInstruction | undefined {
  const decoded = disasm.decode(bytes, address);
  if (!decoded || GENUINELY_INVALID.has(decoded.mnemonic)) return undefined;
  const extension = extensionOf(bytes.subarray(0, decoded.size), decoded.mnemonic, decoded.operands);
  const text = `${extension ? `${extension} ` : ''}\`${decoded.text.replace(/\s+/g, ' ')}\` is not emulated by Unicorn`;
  return { mnemonic: decoded.mnemonic, ...(extension ? { extension } : {}), text };
}
