/**
 * Decodes one instruction at a time with Capstone (capstone-wasm) and
 * returns it in WinDbg's syntax (see `windbg-syntax.ts`). One Capstone
 * handle per architecture is shared by every caller and released when the
 * last of them closes.
 *
 * @example
 * ```ts
 * const disasm = await createDisassembler('x86');
 * disasm.decode(Uint8Array.of(0xcc), 0x8082e3e1n)?.text; // 'int     3'
 * disasm.close();
 * ```
 */
import { Capstone, Const, loadCapstone } from 'capstone-wasm';
import type { Arch } from '../../emu/registers.ts';
import { windbgSyntax, windbgText } from './windbg-syntax.ts';

/** One decoded instruction. */
export interface DecodedInstruction {
  /** Bytes the instruction takes. */
  size: number;
  /** WinDbg's mnemonic (`int` for Capstone's `int3`). */
  mnemonic: string;
  /** Operands in WinDbg syntax, comma-separated without spaces. */
  operands: string;
  /** Mnemonic and operands as WinDbg prints them: `int     3`. */
  text: string;
}

export interface Disassembler {
  readonly arch: Arch;
  /** The first instruction of `bytes` placed at `address`, or undefined when the bytes do not decode. */
  decode(bytes: Uint8Array, address: bigint): DecodedInstruction | undefined;
  /** Releases this user's hold on the shared Capstone handle; later `decode` calls throw. */
  close(): void;
}

interface Shared {
  capstone: Capstone;
  users: number;
}

let loading: Promise<void> | undefined;
const shared = new Map<Arch, Shared>();

/**
 * The Emscripten module object capstone-wasm instantiates into: kept so
 * that `effects.ts` can read what Capstone writes into wasm memory.
 */
export const capstoneModule: { HEAPU8?: Uint8Array; getValue?: (pointer: number, type: string) => number } = {};

/**
 * Loads the Capstone module once. capstone-wasm keeps one instance per
 * process and fills the module object only for the first loader: after code
 * that loaded it before faultline, `capstoneModule` stays empty (the
 * disassembler does not need it; `effects.ts` says so when it does).
 */
export function loadCapstoneOnce(): Promise<void> {
  loading ??= loadCapstone(capstoneModule);
  return loading;
}

function open(arch: Arch): Capstone {
  switch (arch) {
    case 'x86': return new Capstone(Const.CS_ARCH_X86, Const.CS_MODE_32);
    case 'x64': return new Capstone(Const.CS_ARCH_X86, Const.CS_MODE_64);
    case 'arm64': return new Capstone(Const.CS_ARCH_ARM64, Const.CS_MODE_ARM);
  }
}

/** A disassembler for `arch`; the Capstone module is loaded on first use. */
export async function createDisassembler(arch: Arch): Promise<Disassembler> {
  await loadCapstoneOnce();
  let entry = shared.get(arch);
  if (!entry) {
    entry = { capstone: open(arch), users: 0 };
    shared.set(arch, entry);
  }
  entry.users++;
  const held = entry;
  let closed = false;
  return {
    arch,
    decode(bytes: Uint8Array, address: bigint): DecodedInstruction | undefined {
      if (closed) throw new Error(`Disassembler for ${arch} used after close()`);
      if (bytes.length === 0) return undefined;
      let insn;
      try {
        // capstone-wasm throws for bytes that are not an instruction.
        insn = held.capstone.disasm(bytes, { address, count: 1 })[0];
      } catch {
        return undefined;
      }
      if (!insn) return undefined;
      const { mnemonic, operands } = windbgSyntax(arch, insn.mnemonic, insn.opStr, address, insn.size);
      return { size: insn.size, mnemonic, operands, text: windbgText(arch, mnemonic, operands) };
    },
    close(): void {
      if (closed) return;
      closed = true;
      if (--held.users === 0) {
        held.capstone.close();
        shared.delete(arch);
      }
    },
  };
}

/**
 * Instruction lengths of a run of code, for the block recorder (which must
 * know how many instructions a block holds when it first runs). Stops at the
 * first bytes Capstone does not decode. The handle stays open for the process.
 *
 * @example
 * ```ts
 * const sizes = await createSizeDecoder('x64');
 * sizes(Uint8Array.of(0x48, 0x89, 0xd8, 0xc3), 0x401000n); // Uint8Array [3, 1]
 * ```
 */
export async function createSizeDecoder(arch: Arch): Promise<(bytes: Uint8Array, address: bigint) => Uint8Array> {
  await loadCapstoneOnce();
  const capstone = open(arch);
  capstone.setOption(Const.CS_OPT_DETAIL, 0);
  return (bytes, address) => {
    const sizes: number[] = [];
    let at = 0;
    while (at < bytes.length) {
      let decoded;
      try {
        decoded = capstone.disasm(bytes.subarray(at), { address: address + BigInt(at) });
      } catch {
        break;
      }
      if (decoded.length === 0) break;
      for (const insn of decoded) {
        sizes.push(insn.size);
        at += insn.size;
      }
    }
    return Uint8Array.from(sizes);
  };
}
