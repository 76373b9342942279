/**
 * One instruction at a time, decoded by Capstone (the capstone-wasm
 * package, the project's disassembler library) in its Intel / ARM syntax.
 * The writers turn the text into WinDbg's syntax themselves
 * (`windbg-text.ts`), so they share no code with faultline's disassembler.
 *
 * @example
 * ```ts
 * const decoder = await createDecoder('x64');
 * decoder.decode(Uint8Array.of(0x48, 0x8b, 0x40, 0x08), 0x1000n); // { size: 4, mnemonic: 'mov', operands: 'rax, qword ptr [rax + 8]', … }
 * decoder.close();
 * ```
 */
import { Capstone, Const, loadCapstone } from 'capstone-wasm';
import type { WriterArch } from '../crash/registers.ts';

/** A decoded instruction, in Capstone's text. */
export interface Instruction {
  address: bigint;
  size: number;
  bytes: Uint8Array;
  mnemonic: string;
  operands: string;
}

export interface Decoder {
  readonly arch: WriterArch;
  /** The first instruction of `bytes` at `address`, or undefined when they do not decode. */
  decode(bytes: Uint8Array, address: bigint): Instruction | undefined;
  close(): void;
}

let loading: Promise<void> | undefined;

/**
 * A decoder for `arch`; the WebAssembly module is loaded on first use.
 *
 * @example
 * ```ts
 * (await createDecoder('arm64')).decode(Uint8Array.of(0x00, 0x00, 0x20, 0xd4), 0n)?.mnemonic; // 'brk'
 * ```
 */
export async function createDecoder(arch: WriterArch): Promise<Decoder> {
  loading ??= loadCapstone();
  await loading;
  const capstone =
    arch === 'x64' ? new Capstone(Const.CS_ARCH_X86, Const.CS_MODE_64)
    : arch === 'x86' ? new Capstone(Const.CS_ARCH_X86, Const.CS_MODE_32)
    : new Capstone(Const.CS_ARCH_ARM64, Const.CS_MODE_ARM);
  let open = true;
  return {
    arch,
    decode(bytes: Uint8Array, address: bigint): Instruction | undefined {
      if (!open) throw new Error(`The ${arch} decoder was used after close()`);
      if (bytes.length === 0) return undefined;
      try {
        const insn = capstone.disasm(bytes, { address, count: 1 })[0];
        if (!insn) return undefined;
        return { address, size: insn.size, bytes: bytes.slice(0, insn.size), mnemonic: insn.mnemonic, operands: insn.opStr };
      } catch {
        return undefined; // capstone-wasm throws for bytes that are not an instruction
      }
    },
    close(): void {
      if (open) capstone.close();
      open = false;
    },
  };
}
