/**
 * The register contexts a bugcheck's parameters lead to, most specific
 * first, so analysis starts from the state at the trap rather than inside
 * KeBugCheckEx:
 *
 * - 0x8E KERNEL_MODE_EXCEPTION_NOT_HANDLED: parameter 3 is a KTRAP_FRAME.
 * - 0x7E SYSTEM_THREAD_EXCEPTION_NOT_HANDLED: parameter 4 is a CONTEXT
 *   (parameter 3 the EXCEPTION_RECORD).
 * - 0x3B SYSTEM_SERVICE_EXCEPTION: parameter 3 is a CONTEXT.
 * - 0x1E (pc: parameter 2), 0x50 (parameter 3), 0x0A and 0xD1
 *   (parameter 4): no pointer; the trap handler's KTRAP_FRAME is found on
 *   the stack above the bugcheck's sp as the frame whose saved pc is that
 *   instruction address and whose cs is a real code selector.
 *
 * The 0x1000_0000 twins (0x1000007E, 0x1000008E) read as their base codes.
 *
 * @example
 * ```ts
 * faultContexts(memory, 'x86', { code: 0x8en, parameters: [0x80000003n, 0x8082e3e0n, 0xf78aec38n, 0n] }, headerContext, options);
 * // [{ kind: 'trap-frame', label: '.trap f78aec38', … }]
 * ```
 */
import { pcRegister, spRegister, type Arch } from '../../../emu/registers.ts';
import type { MemoryView, RegisterContext } from '../model.ts';
import { hexOf, va } from './address.ts';
import { readContextAt, readTrapFrame, X64_TRAP_FRAME_SIZE, X86_TRAP_FRAME_SIZE } from './contexts.ts';

/** Bytes above the bugcheck's sp searched for a trap frame. */
const STACK_SEARCH = 0x4000;
const X64_CODE_SELECTORS = new Set([0x10, 0x33]);
const X86_CODE_SELECTORS = new Set([0x08, 0x1b]);

export interface ContextOptions {
  build: number;
  path: string;
  /** The kernel's ss (from the header context), for x86 kernel-mode trap frames. */
  kernelSs?: bigint;
}

/** Where to look for the fault's context, by bugcheck code. */
function plan(code: bigint, parameters: bigint[]): { trapFrame?: bigint; context?: bigint; pc?: bigint } {
  const base = code & ~0x1000_0000n;
  const p = (i: number): bigint | undefined => (parameters[i] ? parameters[i] : undefined);
  switch (base) {
    case 0x8en: return { trapFrame: p(2), pc: p(1) };
    case 0x7en: return { context: p(3), pc: p(1) };
    case 0x3bn: return { context: p(2), pc: p(1) };
    case 0x1en: return { pc: p(1) };
    case 0x50n: return { pc: p(2) };
    case 0x0an:
    case 0xd1n: return { pc: p(3) };
    default: return {};
  }
}

/**
 * The contexts bugcheck `code` leads to (none for a code that names no
 * state or whose memory the dump lacks); `header` is the header's CONTEXT,
 * whose sp starts the stack search.
 */
export function faultContexts(memory: MemoryView, arch: Arch, bugcheck: { code: bigint; parameters: bigint[] }, header: RegisterContext | undefined, options: ContextOptions): RegisterContext[] {
  const { trapFrame, context, pc } = plan(bugcheck.code, bugcheck.parameters);
  const out: RegisterContext[] = [];
  if (trapFrame !== undefined) {
    const frame = readTrapFrame(memory, arch, va(trapFrame), options);
    if (frame) out.push(frame);
  }
  if (context !== undefined) {
    const record = readContextAt(memory, arch, va(context), `.cxr ${hexOf(context).slice(2)}`, options.path);
    if (record) out.push(record);
  }
  if (out.length === 0 && pc !== undefined && header) {
    const sp = header.registers[spRegister(arch)];
    const frame = sp === undefined ? undefined : findTrapFrame(memory, arch, sp, pc, options);
    if (frame) out.push(frame);
  }
  return out;
}

/** The KTRAP_FRAME above `sp` whose saved pc is `pc`, or undefined. */
function findTrapFrame(memory: MemoryView, arch: Arch, sp: bigint, pc: bigint, options: ContextOptions): RegisterContext | undefined {
  if (arch === 'arm64' || !memory.readPartial) return undefined;
  const size = arch === 'x64' ? X64_TRAP_FRAME_SIZE : X86_TRAP_FRAME_SIZE;
  const pcAt = arch === 'x64' ? 0x168 : 0x68;
  const csAt = arch === 'x64' ? 0x170 : 0x6c;
  const selectors = arch === 'x64' ? X64_CODE_SELECTORS : X86_CODE_SELECTORS;
  const width = arch === 'x64' ? 8 : 4;
  const { bytes, known } = memory.readPartial(sp, STACK_SEARCH + size);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at + size <= bytes.length; at += width) {
    if (known[at + pcAt] !== 1 || known[at + csAt] !== 1) continue;
    const saved = width === 8 ? view.getBigUint64(at + pcAt, true) : BigInt(view.getUint32(at + pcAt, true));
    if (saved !== pc || !selectors.has(view.getUint16(at + csAt, true))) continue;
    const frame = readTrapFrame(memory, arch, va(sp + BigInt(at)), options);
    if (frame && frame.registers[pcRegister(arch)] === pc) return frame;
  }
  return undefined;
}
