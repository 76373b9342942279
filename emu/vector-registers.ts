/**
 * Loads and reads the x87, SSE and AVX registers of an x86 engine: the
 * parts of a thread's state that are not 64-bit registers (xmm 128 bits,
 * ymm 256, st 80), written through `uc_reg_write` with buffers of their
 * width. Unicorn 2.0.1 register ids (unicorn/x86.h): ST0 114, XMM0 122,
 * YMM0 154, FPSW 31, FPCW 246, FPTAG 247, MXCSR 249. Its FPTAG is the full
 * tag word (two bits per register, 11 = empty), so FXSAVE's abridged tag
 * byte (one bit, 1 = valid) is widened; valid registers are tagged 00.
 *
 * @example
 * ```ts
 * writeVectorRegisters(emu, { fcw: 0x37f, fsw: 0, ftw: 0, mxcsr: 0x1f80, st: [], xmm: [1n], ymmHigh: [0n] });
 * readXmm(emu, 0); // 1n
 * ```
 */
import { EmulationError } from './errors.ts';
import { unicorn } from './ffi.ts';
import type { Emulator } from './emulator.ts';

/** The state to load (the shape of `VectorState` in src/dumps/model.ts, without its provenance). */
export interface VectorRegisters {
  fcw: number;
  fsw: number;
  ftw: number;
  mxcsr: number;
  st: readonly bigint[];
  xmm: readonly bigint[];
  ymmHigh?: readonly bigint[];
}

const ST0 = 114;
const XMM0 = 122;
const YMM0 = 154;
const FPSW = 31;
const FPCW = 246;
const FPTAG = 247;
const MXCSR = 249;

function littleEndian(value: bigint, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  let v = value;
  for (let i = 0; i < bytes; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function write(emu: Emulator, id: number, buffer: Buffer, name: string): void {
  emu.check(unicorn().uc_reg_write(emu.engine, id, buffer), `uc_reg_write(${name})`);
}

/** The full x87 tag word for FXSAVE's abridged tag byte: each valid register 00, each empty one 11. */
export function fullTagWord(abridged: number): number {
  let tags = 0;
  for (let i = 0; i < 8; i++) if (!((abridged >> i) & 1)) tags |= 3 << (2 * i);
  return tags;
}

/** Writes `state` into an x86 or x86-64 engine. FSW goes first: it holds TOP, which st0–st7 are relative to. */
export function writeVectorRegisters(emu: Emulator, state: VectorRegisters): void {
  if (emu.arch === 'arm64') throw new EmulationError('register', 'x87/SSE/AVX registers are x86 state; this engine is arm64');
  write(emu, FPCW, littleEndian(BigInt(state.fcw), 2), 'fpcw');
  write(emu, FPSW, littleEndian(BigInt(state.fsw), 2), 'fpsw');
  write(emu, FPTAG, littleEndian(BigInt(fullTagWord(state.ftw)), 2), 'fptag');
  write(emu, MXCSR, littleEndian(BigInt(state.mxcsr), 4), 'mxcsr');
  state.st.forEach((value, i) => write(emu, ST0 + i, littleEndian(value, 10), `st${i}`));
  const count = Math.min(state.xmm.length, emu.arch === 'x64' ? 16 : 8);
  for (let i = 0; i < count; i++) {
    const high = state.ymmHigh?.[i];
    if (high === undefined) write(emu, XMM0 + i, littleEndian(state.xmm[i]!, 16), `xmm${i}`);
    else write(emu, YMM0 + i, littleEndian(state.xmm[i]! | (high << 128n), 32), `ymm${i}`);
  }
}

function read(emu: Emulator, id: number, bytes: number, name: string): bigint {
  const buffer = Buffer.alloc(Math.max(bytes, 16));
  emu.check(unicorn().uc_reg_read(emu.engine, id, buffer), `uc_reg_read(${name})`);
  let value = 0n;
  for (let i = bytes - 1; i >= 0; i--) value = (value << 8n) | BigInt(buffer[i]!);
  return value;
}

/** xmm`index` as a 128-bit value. */
export function readXmm(emu: Emulator, index: number): bigint {
  return read(emu, XMM0 + index, 16, `xmm${index}`);
}

/** ymm`index` as a 256-bit value. */
export function readYmm(emu: Emulator, index: number): bigint {
  return read(emu, YMM0 + index, 32, `ymm${index}`);
}

/** MXCSR. */
export function readMxcsr(emu: Emulator): number {
  return Number(read(emu, MXCSR, 4, 'mxcsr'));
}
