/**
 * Types for the part of capstone-wasm faultline uses. The package ships
 * `dist/index.d.ts`, but its `exports` map names no `types`, so TypeScript's
 * NodeNext resolution cannot find them; these mirror that file (1.0.3).
 *
 * @example
 * ```ts
 * import { Capstone, Const, loadCapstone } from 'capstone-wasm';
 * await loadCapstone();
 * new Capstone(Const.CS_ARCH_X86, Const.CS_MODE_32).disasm(Uint8Array.of(0xcc), { address: 0x1000n, count: 1 });
 * ```
 */
declare module 'capstone-wasm' {
  export interface Insn {
    id: number;
    address: number | bigint;
    size: number;
    bytes: Uint8Array;
    mnemonic: string;
    opStr: string;
  }
  export class Capstone {
    constructor(arch: number, mode: number);
    readonly handle: number;
    setOption(option: number, value: number): number;
    getRegName(id: number): string;
    /** Calls a Capstone C function by name with numbers, arrays or strings. */
    static call(name: string, ...args: unknown[]): number;
    /** Throws when the bytes do not decode. */
    disasm(data: number[] | Uint8Array, options?: { address?: number | bigint; count?: number }): Insn[];
    close(): void;
  }
  export const Const: {
    readonly CS_ARCH_ARM64: number;
    readonly CS_ARCH_X86: number;
    readonly CS_MODE_ARM: number;
    readonly CS_MODE_32: number;
    readonly CS_MODE_64: number;
    readonly CS_OPT_DETAIL: number;
    readonly CS_OPT_ON: number;
  };
  /** Instantiates the WebAssembly module; call once before any Capstone is made. */
  export function loadCapstone(args?: Record<string, unknown>): Promise<void>;
}
