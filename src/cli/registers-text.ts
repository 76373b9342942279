/**
 * A register context printed the way WinDbg's `r` (x86, x64) or gdb's
 * `info registers` (AArch64) lays it out; registers the dump lacks are
 * left out, not shown as zero, and registers the context does not hold
 * (an x64 trap frame's rbx, rsi, rdi, r12–r15) show as `(not saved)`
 * whatever value the dump printed for them.
 *
 * @example
 * ```ts
 * registerLines('x86', { eax: 1n, eip: 0x401000n });
 * // ['eax=00000001 eip=00401000']
 * registerLines('x64', { rax: 0n, rbx: 0n }, ['rbx']);
 * // ['rax=0000000000000000 rbx=(not saved)']
 * ```
 */
import type { Arch, RegisterName, RegisterValues } from '../../emu/registers.ts';
import { formatValue } from '../format.ts';
import type { VectorState } from '../dumps/model.ts';

const LAYOUT: Record<Arch, RegisterName[][]> = {
  x86: [['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi'], ['eip', 'esp', 'ebp', 'efl'], ['cs', 'ss', 'ds', 'es', 'fs', 'gs']],
  x64: [['rax', 'rbx', 'rcx'], ['rdx', 'rsi', 'rdi'], ['rip', 'rsp', 'rbp'], ['r8', 'r9', 'r10'], ['r11', 'r12', 'r13'], ['r14', 'r15', 'efl'], ['cs', 'ss', 'ds', 'es', 'fs', 'gs'], ['fs_base', 'gs_base']],
  arm64: [
    ...Array.from({ length: 8 }, (_, row) => Array.from({ length: 4 }, (_, col) => `x${row * 4 + col}` as RegisterName).filter((r) => r !== 'x31' as RegisterName)),
    ['sp', 'pc', 'nzcv'],
  ],
};

const SELECTORS = new Set<RegisterName>(['cs', 'ss', 'ds', 'es', 'fs', 'gs']);

/** What `info` prints for a register the context does not hold. */
const NOT_SAVED = '(not saved)';

export function registerLines(arch: Arch, registers: RegisterValues, unknown: readonly RegisterName[] = []): string[] {
  const lines: string[] = [];
  for (const row of LAYOUT[arch]) {
    const cells = row
      .filter((name) => registers[name] !== undefined || unknown.includes(name))
      .map((name) => {
        const value = registers[name];
        const text = unknown.includes(name) || value === undefined
          ? NOT_SAVED
          : SELECTORS.has(name) ? value.toString(16).padStart(4, '0') : name === 'efl' ? value.toString(16).padStart(8, '0') : formatValue(arch, value);
        return `${name.padStart(arch === 'x64' && name.length === 2 ? 3 : 0)}=${text}`;
      });
    if (cells.length) lines.push(cells.join(' '));
  }
  return lines;
}

/**
 * The x87/SSE/AVX state as `r` shows it with WinDbg's `rM 0x1ff`-style
 * extras: control words, then xmm (or ymm, 64 hex digits, when the dump
 * holds AVX state), two to a line; registers that are zero are left out.
 */
export function vectorLines(state: VectorState): string[] {
  const lines = [`fpcw=${state.fcw.toString(16).padStart(4, '0')} fpsw=${state.fsw.toString(16).padStart(4, '0')} fptw=${state.ftw.toString(16).padStart(2, '0')} mxcsr=${state.mxcsr.toString(16).padStart(8, '0')}`];
  const cells: string[] = [];
  state.xmm.forEach((low, i) => {
    const high = state.ymmHigh?.[i];
    const value = high === undefined ? low : low | (high << 128n);
    if (value === 0n) return;
    cells.push(`${high === undefined ? 'xmm' : 'ymm'}${i}=${value.toString(16).padStart(high === undefined ? 32 : 64, '0')}`);
  });
  for (let i = 0; i < cells.length; i += 2) lines.push(cells.slice(i, i + 2).join(' '));
  return lines;
}
