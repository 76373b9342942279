/**
 * What the faulting instruction did to memory: read, write or execute, and
 * at which address. The rules:
 *
 * - pc == si_addr, or no code is known at the pc (nothing mapped there, or
 *   a mapping that is not executable): execute, at the pc.
 * - Otherwise the instruction at the pc is decoded. With si_addr known,
 *   the access is the memory operand (or the implicit stack slot of
 *   push/call/pop/ret) whose bytes hold it; without, the first memory
 *   operand, and the address is computed from its registers.
 * - A write is a memory destination (operand 0 on x86, except for
 *   cmp/test/bt/push/call/jmp…; a store, or an atomic read-modify-write, on
 *   arm64), or the stack slot a push or call stores to.
 *
 * @example
 * ```ts
 * analyzeAccess(crash, decoder); // { kind: 'read', address: 8n, instruction: { mnemonic: 'mov', … }, how: 'operand 1, from the registers' }
 * ```
 */
import type { Decoder, Instruction } from '../disasm/decoder.ts';
import { effectiveAddress, memoryOperands } from '../disasm/operands.ts';
import { pcOf, pointerSize, spOf, type Registers, type WriterArch } from './registers.ts';
import type { CrashMemory } from './memory.ts';

/** The access that faulted. */
export interface AccessFacts {
  kind: 'read' | 'write' | 'execute';
  /** The faulting address, when si_addr gives it or the operands tell. */
  address?: bigint;
  /** The instruction at the pc, when it decodes. */
  instruction?: Instruction;
  /** How the kind and address were decided, for a reader of the lab's notes. */
  how: string;
}

/** What `analyzeAccess` needs of a crash. */
export interface AccessInput {
  arch: WriterArch;
  registers: Registers;
  memory: CrashMemory;
  siAddr?: bigint;
}

/** x86 instructions whose memory operand 0 is only read. */
const X86_READ_ONLY_DESTINATION = new Set(['cmp', 'test', 'bt', 'push', 'call', 'jmp', 'ucomiss', 'ucomisd', 'comiss', 'comisd', 'ptest', 'vptest', 'prefetch', 'prefetchw', 'prefetchnta', 'prefetcht0', 'prefetcht1', 'prefetcht2', 'nop', 'clflush', 'div', 'idiv', 'mul', 'imul', 'fld', 'fild']);

function arm64Writes(mnemonic: string): boolean {
  return /^st/.test(mnemonic) || /^(cas|swp)/.test(mnemonic) || /^ld(add|clr|eor|set|smax|smin|umax|umin)/.test(mnemonic);
}

function writes(arch: WriterArch, insn: Instruction, position: number): boolean {
  if (arch === 'arm64') return arm64Writes(insn.mnemonic);
  const mnemonic = insn.mnemonic.replace(/^(rep|repe|repne|lock) /, '');
  return position === 0 && !X86_READ_ONLY_DESTINATION.has(mnemonic);
}

/** The stack slot push/call store to, or pop/ret load from. */
function stackAccess(arch: WriterArch, insn: Instruction, registers: Registers): { kind: 'read' | 'write'; address: bigint; size: number } | undefined {
  if (arch === 'arm64') return undefined;
  const size = pointerSize(arch);
  const sp = spOf(arch, registers);
  if (/^(push|call)/.test(insn.mnemonic)) return { kind: 'write', address: sp - BigInt(size), size };
  if (/^(pop|ret)/.test(insn.mnemonic)) return { kind: 'read', address: sp, size };
  return undefined;
}

function holds(start: bigint, size: number, address: bigint): boolean {
  return address >= start && address < start + BigInt(size > 0 ? size : 1);
}

/**
 * The access that faulted, decided as the module comment says.
 *
 * @example
 * ```ts
 * analyzeAccess({ arch: 'x64', registers, memory, siAddr: 0n }, decoder).kind; // 'execute' when rip is 0
 * ```
 */
export function analyzeAccess(crash: AccessInput, decoder: Decoder): AccessFacts {
  const { arch, registers, memory, siAddr } = crash;
  const pc = pcOf(arch, registers);
  if (siAddr !== undefined && siAddr === pc) return { kind: 'execute', address: pc, how: 'si_addr is the pc' };
  if (!memory.isCode(pc)) {
    const mapping = memory.mappingAt(pc);
    if (!mapping || !mapping.executable) return { kind: 'execute', address: pc, how: mapping ? 'the pc is in a mapping that is not executable' : 'nothing is mapped at the pc' };
  }
  const bytes = memory.readAvailable(pc, 16);
  const insn = decoder.decode(bytes, pc);
  if (!insn) return { kind: 'read', address: siAddr, how: 'the bytes at the pc do not decode; taken as a read' };
  const candidates = memoryOperands(arch, insn).map((op) => ({ op, address: effectiveAddress(arch, op, insn, registers) }));
  const stack = stackAccess(arch, insn, registers);
  if (siAddr !== undefined) {
    const match = candidates.find((c) => c.address !== undefined && holds(c.address, c.op.size, siAddr));
    if (match) return { kind: writes(arch, insn, match.op.position) ? 'write' : 'read', address: siAddr, instruction: insn, how: `si_addr is in operand ${match.op.position}` };
    if (stack && holds(stack.address, stack.size, siAddr)) return { kind: stack.kind, address: siAddr, instruction: insn, how: 'si_addr is the stack slot' };
  }
  const first = candidates[0];
  if (first) {
    const kind = writes(arch, insn, first.op.position) ? 'write' : 'read';
    const how = siAddr !== undefined ? `operand ${first.op.position} (si_addr is not among the addresses the operands give)` : `operand ${first.op.position}, from the registers`;
    return { kind, address: siAddr ?? first.address, instruction: insn, how };
  }
  if (stack) return { kind: stack.kind, address: siAddr ?? stack.address, instruction: insn, how: 'the stack slot' };
  return { kind: 'read', address: siAddr, instruction: insn, how: 'the instruction has no memory operand; taken as a read' };
}
