/**
 * Decoders `faultline decode-check` tests against a trace: the built-in
 * Capstone (capstone-wasm), or a plug-in module. A plug-in is an ES module
 * exporting one function:
 *
 * ```js
 * // my-decoder.mjs
 * export function decode(bytes, address, arch) {
 *   // bytes: Uint8Array (up to 15 bytes from address); address: bigint; arch: 'x86' | 'x64' | 'arm64'
 *   // return undefined when the bytes do not decode, else:
 *   return { length: 3, mnemonic: 'mov', operands: 'rdi,rax', branch: false, target: undefined, writes: ['rdi'] };
 * }
 * ```
 *
 * `length` is required; `branch` (the instruction may transfer control),
 * `target` (a direct branch's destination, bigint) and `writes` (registers
 * it writes, faultline's names: `rax` for eax/ax/al, `efl` for the flags)
 * are checked when given.
 *
 * @example
 * ```ts
 * const decoder = await loadDecoder('./my-decoder.mjs', 'x64');
 * decoder.decode(Uint8Array.of(0x48, 0x89, 0xc7), 0x401000n, 'x64'); // { length: 3, mnemonic: 'mov', … }
 * ```
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import type { Arch } from '../../emu/registers.ts';
import { InputError } from '../errors.ts';
import { createDisassembler } from './disassembler.ts';
import { createEffects } from './effects.ts';

export interface CheckedDecoding {
  length: number;
  mnemonic: string;
  operands?: string;
  branch?: boolean;
  target?: bigint;
  writes?: string[];
}

export type DecodeFunction = (bytes: Uint8Array, address: bigint, arch: Arch) => CheckedDecoding | undefined;

export interface Decoder {
  name: string;
  decode: DecodeFunction;
  close(): void;
}

const X86_BRANCHES = /^(j[a-z]*|call|ret[nf]?|iret[dq]?|loop[a-z]*|syscall|sysenter|sysexit|sysret|int|int1|into|ud2|hlt)$/;
const ARM64_BRANCHES = /^(b(\..*)?|bl|br|blr|ret|cbn?z|tbn?z|svc|brk|hlt|eret)$/;

/** Capstone as a decoder under test: lengths, mnemonics, direct targets, and the registers it says are written. */
async function capstoneDecoder(arch: Arch): Promise<Decoder> {
  const disasm = await createDisassembler(arch);
  const effects = await createEffects(arch);
  return {
    name: 'capstone',
    decode(bytes, address) {
      const decoded = disasm.decode(bytes, address);
      if (!decoded) return undefined;
      const branch = (arch === 'arm64' ? ARM64_BRANCHES : X86_BRANCHES).test(decoded.mnemonic);
      const direct = /^(?:[0-9a-f]{8}`)?[0-9a-f]{8}$|^#?0x[0-9a-f]+$/i.exec(decoded.operands.trim());
      const target = branch && direct ? BigInt(`0x${decoded.operands.replace(/[`#]|0x/g, '')}`) : undefined;
      const writes = effects.of(bytes, address)?.written;
      return { length: decoded.size, mnemonic: decoded.mnemonic, operands: decoded.operands, branch, ...(target === undefined ? {} : { target }), ...(writes ? { writes } : {}) };
    },
    close() {
      disasm.close();
      effects.close();
    },
  };
}

/** `capstone`, or the path of a plug-in module exporting `decode`. */
export async function loadDecoder(spec: string, arch: Arch): Promise<Decoder> {
  if (spec === 'capstone') return capstoneDecoder(arch);
  const path = resolve(spec);
  if (!existsSync(path)) throw new InputError(`Cannot load decoder ${spec}: no such file`);
  let module: { decode?: unknown };
  try {
    module = (await import(pathToFileURL(path).href)) as { decode?: unknown };
  } catch (error) {
    throw new InputError(`Cannot load decoder ${spec}: ${(error as Error).message.split('\n')[0]}`);
  }
  if (typeof module.decode !== 'function') throw new InputError(`Decoder ${spec} exports no function decode(bytes, address, arch)`);
  const decode = module.decode as DecodeFunction;
  return { name: spec, decode, close() {} };
}
