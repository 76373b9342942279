/**
 * Register contexts a kernel dump holds: the CONTEXT in its header (the
 * processor's state when KeBugCheckEx ran), a CONTEXT record in memory
 * that a bugcheck parameter names, and a KTRAP_FRAME (the state at the
 * trap).
 *
 * KTRAP_FRAME, x64 (`dt nt!_KTRAP_FRAME`, 0x190 bytes): Rax 0x30, Rcx 0x38,
 * Rdx 0x40, R8–R11 0x48–0x60, SegDs/Es/Fs/Gs 0x130–0x136, Rbx 0x140,
 * Rdi 0x148, Rsi 0x150, Rbp 0x158, ErrorCode 0x160, Rip 0x168, SegCs 0x170,
 * EFlags 0x178, Rsp 0x180, SegSs 0x188. The trap handler saves only the
 * volatile registers (and rbp): rbx, rdi and rsi are written on some paths
 * only, r12–r15 never, so they are *unknown*.
 *
 * KTRAP_FRAME, x86 (0x8c bytes). Up to Windows 7 (builds < 9200): SegGs
 * 0x30, SegEs 0x34, SegDs 0x38, Edx 0x3c, Ecx 0x40, Eax 0x44; from Windows 8
 * TempSegCs shrank and they moved 4 bytes down (SegGs 0x2c … Eax 0x40).
 * Both: SegFs 0x50, Edi 0x54, Esi 0x58, Ebx 0x5c, Ebp 0x60, ErrCode 0x64,
 * Eip 0x68, SegCs 0x6c, EFlags 0x70, HardwareEsp 0x74, HardwareSegSs 0x78.
 * A trap from kernel mode pushes no esp/ss: esp is the frame + 0x74 and ss
 * is the kernel's.
 *
 * @example
 * ```ts
 * const trap = readTrapFrame(memory, 'x86', va(0xf78aec38n), { build: 3790, kernelSs: 0x10n });
 * trap.registers.esp; // 0xf78aecacn
 * ```
 */
import type { Arch, RegisterName, RegisterValues } from '../../../emu/registers.ts';
import { ByteReader } from '../binary/byte-reader.ts';
import { readAmd64Context, AMD64_CONTEXT_REGISTERS_SIZE } from '../minidump/context-amd64.ts';
import { readArm64Context, ARM64_CONTEXT_REGISTERS_SIZE } from '../minidump/context-arm64.ts';
import { readX86Context, X86_CONTEXT_REGISTERS_SIZE } from '../minidump/context-x86.ts';
import type { MemoryView, RegisterContext } from '../model.ts';
import { hexOf, type Va } from './address.ts';

/** Registers an x64 trap frame does not (reliably) save. */
export const X64_TRAP_UNSAVED: readonly RegisterName[] = ['rbx', 'rsi', 'rdi', 'r12', 'r13', 'r14', 'r15'];

export const X64_TRAP_FRAME_SIZE = 0x190;
export const X86_TRAP_FRAME_SIZE = 0x8c;

/** Bytes a CONTEXT needs for its integer registers, per architecture. */
export const CONTEXT_REGISTERS_SIZE: Record<Arch, number> = {
  x86: X86_CONTEXT_REGISTERS_SIZE,
  x64: AMD64_CONTEXT_REGISTERS_SIZE,
  arm64: ARM64_CONTEXT_REGISTERS_SIZE,
};

/** The CONTEXT of `arch` at `offset` of `r`. */
export function readContextRecord(r: ByteReader, offset: number, arch: Arch): RegisterValues {
  if (arch === 'x64') return readAmd64Context(r, offset).registers;
  if (arch === 'arm64') return readArm64Context(r, offset).registers;
  return readX86Context(r, offset).registers;
}

/** A reader over `length` bytes of virtual memory at `address`, or undefined when the dump lacks any of them. */
export function memoryReader(memory: MemoryView, address: bigint, length: number, what: string, path: string): ByteReader | undefined {
  const bytes = memory.read(address, length);
  if (!bytes) return undefined;
  return new ByteReader(bytes, { path, format: 'kernel-dump', base: address, what });
}

/**
 * The CONTEXT record at `address` in memory (0x7E and 0x3B name one), or
 * undefined when the dump lacks its bytes.
 */
export function readContextAt(memory: MemoryView, arch: Arch, address: Va, label: string, path: string): RegisterContext | undefined {
  const r = memoryReader(memory, address, CONTEXT_REGISTERS_SIZE[arch], `CONTEXT at ${hexOf(address)}`, path);
  if (!r) return undefined;
  return { kind: 'context', label, address, registers: readContextRecord(r, 0, arch), provenance: { source: label } };
}

/**
 * The KTRAP_FRAME at `address`, or undefined when the dump lacks its bytes.
 * `build` picks the x86 layout; `kernelSs` is the ss of a kernel-mode trap
 * (the frame holds none).
 */
export function readTrapFrame(memory: MemoryView, arch: Arch, address: Va, options: { build: number; kernelSs?: bigint; path: string }): RegisterContext | undefined {
  const label = `.trap ${hexOf(address).slice(2)}`;
  if (arch === 'x64') {
    const r = memoryReader(memory, address, X64_TRAP_FRAME_SIZE, `KTRAP_FRAME at ${hexOf(address)}`, options.path);
    if (!r) return undefined;
    const q = (at: number, field: string): bigint => r.u64(at, field);
    const w = (at: number, field: string): bigint => BigInt(r.u16(at, field));
    const registers: RegisterValues = {
      rax: q(0x30, 'Rax'), rcx: q(0x38, 'Rcx'), rdx: q(0x40, 'Rdx'),
      r8: q(0x48, 'R8'), r9: q(0x50, 'R9'), r10: q(0x58, 'R10'), r11: q(0x60, 'R11'),
      rbx: q(0x140, 'Rbx'), rdi: q(0x148, 'Rdi'), rsi: q(0x150, 'Rsi'), rbp: q(0x158, 'Rbp'),
      rip: q(0x168, 'Rip'), cs: w(0x170, 'SegCs'), efl: BigInt(r.u32(0x178, 'EFlags')), rsp: q(0x180, 'Rsp'), ss: w(0x188, 'SegSs'),
      ds: w(0x130, 'SegDs'), es: w(0x132, 'SegEs'), fs: w(0x134, 'SegFs'), gs: w(0x136, 'SegGs'),
    };
    return { kind: 'trap-frame', label, address, registers, unknown: [...X64_TRAP_UNSAVED], errorCode: q(0x160, 'ErrorCode'), provenance: { source: label } };
  }
  if (arch !== 'x86') return undefined;
  const r = memoryReader(memory, address, X86_TRAP_FRAME_SIZE, `KTRAP_FRAME at ${hexOf(address)}`, options.path);
  if (!r) return undefined;
  const d = (at: number, field: string): bigint => BigInt(r.u32(at, field));
  const shift = options.build >= 9200 ? -4 : 0;
  const cs = d(0x6c, 'SegCs') & 0xffffn;
  const efl = d(0x70, 'EFlags');
  const fromUser = (cs & 3n) !== 0n || (efl & 0x2_0000n) !== 0n;
  const registers: RegisterValues = {
    gs: d(0x30 + shift, 'SegGs') & 0xffffn, es: d(0x34 + shift, 'SegEs') & 0xffffn, ds: d(0x38 + shift, 'SegDs') & 0xffffn,
    edx: d(0x3c + shift, 'Edx'), ecx: d(0x40 + shift, 'Ecx'), eax: d(0x44 + shift, 'Eax'),
    fs: d(0x50, 'SegFs') & 0xffffn, edi: d(0x54, 'Edi'), esi: d(0x58, 'Esi'), ebx: d(0x5c, 'Ebx'), ebp: d(0x60, 'Ebp'),
    eip: d(0x68, 'Eip'), cs, efl,
    esp: fromUser ? d(0x74, 'HardwareEsp') : address + 0x74n,
  };
  const unknown: RegisterName[] = [];
  if (fromUser) registers.ss = d(0x78, 'HardwareSegSs') & 0xffffn;
  else if (options.kernelSs !== undefined) registers.ss = options.kernelSs;
  else unknown.push('ss');
  const context: RegisterContext = { kind: 'trap-frame', label, address, registers, errorCode: d(0x64, 'ErrCode'), provenance: { source: label } };
  if (unknown.length) context.unknown = unknown;
  return context;
}
