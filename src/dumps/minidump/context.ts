/**
 * Which CONTEXT layout a thread or exception context uses, and its registers.
 * The layouts keep ContextFlags at different offsets (0x0 on x86 and ARM64,
 * 0x30 on x64), so the SystemInfo architecture picks the layout to try first
 * and the CPU bits of ContextFlags confirm it. A context whose CPU bits name
 * another layout is read as that one: an x86 CONTEXT in a dump whose
 * SystemInfo says AMD64 is a WoW64 process written by a 64-bit tool.
 *
 * @example
 * ```ts
 * const context = readContext(file, thread.context, 'x64', 'thread 0x1c8 context');
 * context.arch;         // 'x64'
 * context.registers.rip // 0x7ff738721331n
 * ```
 */
import type { Arch, RegisterValues } from '../../../emu/registers.ts';
import type { MinidumpLocation } from './header.ts';
import type { MinidumpFile } from './minidump-file.ts';
import { ARM64_CONTEXT_REGISTERS_SIZE, ARM64_CONTEXT_SIZE, CONTEXT_ARM64, readArm64Context } from './context-arm64.ts';
import { AMD64_CONTEXT_FLAGS_OFFSET, AMD64_CONTEXT_REGISTERS_SIZE, AMD64_CONTEXT_SIZE, CONTEXT_AMD64, readAmd64Context } from './context-amd64.ts';
import { CONTEXT_X86, X86_CONTEXT_REGISTERS_SIZE, readX86Context } from './context-x86.ts';

/** The CPU-type bits of ContextFlags (CONTEXT_i386, CONTEXT_AMD64, CONTEXT_ARM64). */
const CPU_MASK = 0x00ff_0000;

/** A context read from the file. */
export interface ParsedContext {
  arch: Arch;
  flags: number;
  registers: RegisterValues;
  /** File offset of the CONTEXT. */
  offset: bigint;
}

interface Layout {
  arch: Arch;
  cpu: number;
  flagsOffset: number;
  /** Bytes the registers need. */
  minimum: number;
  read: typeof readX86Context;
}

const LAYOUTS: Layout[] = [
  { arch: 'x86', cpu: CONTEXT_X86, flagsOffset: 0, minimum: X86_CONTEXT_REGISTERS_SIZE, read: readX86Context },
  { arch: 'x64', cpu: CONTEXT_AMD64, flagsOffset: AMD64_CONTEXT_FLAGS_OFFSET, minimum: AMD64_CONTEXT_REGISTERS_SIZE, read: readAmd64Context },
  { arch: 'arm64', cpu: CONTEXT_ARM64, flagsOffset: 0, minimum: ARM64_CONTEXT_REGISTERS_SIZE, read: readArm64Context },
];

/** Nothing past the registers is read; XSTATE may follow. */
const MAX_READ = Math.max(AMD64_CONTEXT_SIZE, ARM64_CONTEXT_SIZE);

/**
 * The context at `location`, read with the layout its CPU bits name, trying
 * `expected`'s layout first. Throws 'unsupported' for a CONTEXT no layout
 * matches (ARM32, Breakpad's old ARM64) and 'truncated' for one too short
 * for its registers.
 *
 * @example
 * ```ts
 * readContext(file, { dataSize: 0x2cc, rva: 0xac8 }, 'x86', 'ExceptionStream context').registers.eip; // 0x40429en
 * ```
 */
export function readContext(file: MinidumpFile, location: MinidumpLocation, expected: Arch | undefined, what: string): ParsedContext {
  const bytes = file.readLocation({ rva: location.rva, dataSize: Math.min(location.dataSize, MAX_READ) }, what);
  const offset = BigInt(location.rva);
  const ordered = [...LAYOUTS].sort((a, b) => Number(b.arch === expected) - Number(a.arch === expected));
  for (const layout of ordered) {
    if (bytes.length < layout.flagsOffset + 4) continue;
    const flags = bytes.u32(layout.flagsOffset, 'ContextFlags');
    if ((flags & CPU_MASK) !== layout.cpu) continue;
    if (bytes.length < layout.minimum) {
      throw file.error(offset, `${what} is ${location.dataSize} bytes, shorter than the ${layout.minimum} an ${layout.arch} CONTEXT needs for its registers`, 'truncated');
    }
    const { registers } = layout.read(bytes, 0);
    return { arch: layout.arch, flags, registers, offset };
  }
  const first = bytes.length >= 4 ? bytes.u32(0, 'ContextFlags') : undefined;
  throw file.error(offset,
    `${what} (${location.dataSize} bytes${first === undefined ? '' : `, first word 0x${first.toString(16)}`}) is not an x86, x64 or ARM64 CONTEXT`,
    'unsupported');
}
