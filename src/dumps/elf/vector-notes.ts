/**
 * x87/SSE/AVX registers from a Linux core's thread notes: `NT_X86_XSTATE`
 * (the XSAVE area, standard format: the 512-byte FXSAVE legacy region, the
 * XSAVE header at 0x200 whose XSTATE_BV says which components hold state,
 * and the AVX component, ymm bits 128–255, at 0x240), else x86-64's
 * `NT_FPREGSET` (`struct user_fpregs_struct`, the FXSAVE layout). A
 * component XSTATE_BV marks as in its initial state reads as that state
 * (zeros; x87 control word 0x37f), whatever stale bytes the area holds.
 *
 * FXSAVE layout (Intel SDM vol. 1, table 10-2): FCW 0x00 (u16), FSW 0x02,
 * abridged FTW 0x04 (u8), MXCSR 0x18 (u32), st0–st7 at 0x20 + 16·i (10
 * bytes used), xmm0–xmm15 at 0xa0 + 16·i.
 *
 * @example
 * ```ts
 * const state = readVectorState(note.desc, 'NT_X86_XSTATE', 64, { source: 'NT_X86_XSTATE', offset: note.offset });
 * state.mxcsr; // 0x1f80
 * ```
 */
import type { ByteReader } from '../binary/byte-reader.ts';
import type { Provenance, VectorState } from '../model.ts';

const FXSAVE_SIZE = 0x200;
const XSAVE_HEADER = 0x200;
const AVX_COMPONENT = 0x240;
const X87 = 1n;
const SSE = 2n;
const AVX = 4n;

function u128(reader: ByteReader, offset: number, field: string): bigint {
  return reader.u64(offset, field) | (reader.u64(offset + 8, field) << 64n);
}

/** The state in `reader` (an NT_X86_XSTATE or NT_FPREGSET descriptor) for a `bits`-bit thread. */
export function readVectorState(reader: ByteReader, kind: 'NT_X86_XSTATE' | 'NT_FPREGSET', bits: 32 | 64, provenance: Provenance): VectorState {
  const xmmCount = bits === 64 ? 16 : 8;
  let present = X87 | SSE;
  if (kind === 'NT_X86_XSTATE' && reader.length >= XSAVE_HEADER + 8) present = reader.u64(XSAVE_HEADER, 'xstate_bv');
  const x87 = (present & X87) !== 0n;
  const sse = (present & SSE) !== 0n;
  const state: VectorState = {
    fcw: x87 ? reader.u16(0x00, 'fcw') : 0x37f,
    fsw: x87 ? reader.u16(0x02, 'fsw') : 0,
    ftw: x87 ? reader.u8(0x04, 'ftw') : 0,
    // MXCSR is saved with either SSE or AVX state; the kernel always writes it.
    mxcsr: reader.u32(0x18, 'mxcsr'),
    st: Array.from({ length: 8 }, (_, i) => (x87 ? u128(reader, 0x20 + 16 * i, `st${i}`) & ((1n << 80n) - 1n) : 0n)),
    xmm: Array.from({ length: xmmCount }, (_, i) => (sse ? u128(reader, 0xa0 + 16 * i, `xmm${i}`) : 0n)),
    provenance,
  };
  if (kind === 'NT_X86_XSTATE' && reader.length >= AVX_COMPONENT + 16 * xmmCount) {
    const avx = (present & AVX) !== 0n;
    state.ymmHigh = Array.from({ length: xmmCount }, (_, i) => (avx ? u128(reader, AVX_COMPONENT + 16 * i, `ymm${i}h`) : 0n));
  }
  return state;
}

/** True when a descriptor of this note can hold the FXSAVE region this reader needs. */
export function holdsFxsave(reader: ByteReader): boolean {
  return reader.length >= FXSAVE_SIZE - 96; // xmm8–15 end at 0x1a0; the reserved tail may be cut
}
