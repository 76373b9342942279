/**
 * What an instruction does to control flow, from its mnemonic: enough to
 * tell a call from a jump, an unconditional transfer from a conditional one,
 * and a trap from ordinary code.
 *
 * @example
 * ```ts
 * flowKind('x86', 'call'); // 'call'
 * flowKind('arm64', 'b.ne'); // 'conditional'
 * ```
 */
import type { Arch } from '../../emu/registers.ts';

export type FlowKind = 'call' | 'jump' | 'conditional' | 'return' | 'trap' | 'other';

const X86_TRAPS = new Set(['int3', 'int', 'into', 'ud2', 'hlt', 'ud0', 'ud1']);
const X86_RETURNS = new Set(['ret', 'retf', 'iret', 'iretd', 'iretq', 'sysret', 'sysexit']);

/** The control-flow kind of an instruction with `mnemonic` (Capstone's spelling). */
export function flowKind(arch: Arch, mnemonic: string): FlowKind {
  const m = mnemonic.toLowerCase().replace(/^(bnd|notrack)\s+/, '').trim();
  if (arch === 'arm64') {
    if (m === 'bl' || m === 'blr' || m.startsWith('blra')) return 'call';
    if (m === 'b' || m === 'br' || m.startsWith('bra')) return 'jump';
    if (m.startsWith('b.') || m === 'cbz' || m === 'cbnz' || m === 'tbz' || m === 'tbnz') return 'conditional';
    if (m === 'ret' || m.startsWith('reta') || m === 'eret') return 'return';
    if (m === 'brk' || m === 'svc' || m === 'hlt' || m === 'udf' || m === 'hvc' || m === 'smc') return 'trap';
    return 'other';
  }
  if (m === 'call' || m === 'lcall') return 'call';
  if (m === 'jmp' || m === 'ljmp') return 'jump';
  if (/^j[a-z]+$/.test(m) || m.startsWith('loop') || m === 'jecxz' || m === 'jrcxz') return 'conditional';
  if (X86_RETURNS.has(m)) return 'return';
  if (X86_TRAPS.has(m)) return 'trap';
  return 'other';
}

/** True when execution never continues to the next instruction (unconditional transfer or trap). */
export function endsFallThrough(kind: FlowKind): boolean {
  return kind === 'jump' || kind === 'return' || kind === 'trap';
}

/** Instructions compilers and assemblers pad with: nops of every length, `lea esi,[esi+0]`, int 3, AArch64 udf #0. */
export function isPadding(insn: { mnemonic: string; operands: string }): boolean {
  if (insn.mnemonic === 'nop' || insn.mnemonic === 'int3' || insn.mnemonic === 'udf') return true;
  const operands = insn.operands.replace(/\s+/g, '');
  if (insn.mnemonic === 'xchg') return /^(\w+),\1$/.test(operands);
  // lea esi,[esi+eiz*1+0], lea edi,[edi]: the register onto itself.
  const lea = /^(\w+),\[(\w+)(?:\+[er]iz(?:\*1)?)?(?:\+0(?:x0)?)?\]$/.exec(operands);
  return insn.mnemonic === 'lea' && lea !== null && lea[1] === lea[2];
}
