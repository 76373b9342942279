/**
 * A WinDbg session on a crash, saved as text: the commands an engineer
 * types, in the order they type them, with the output WinDbg prints.
 *
 * user style (cdb/WinDbg on a user dump, prompt `0:000>`), any arch:
 *   .exr -1 · .ecxr · kb · lm · u @pc · ub RET (first three return
 *   addresses) · dps @sp L40 · dq/dd @reg for registers pointing at data
 *
 * kernel style (kd, prompt `0: kd>`), x86 and x64:
 *   .bugcheck (0x1E) · .trap ADDR (the trap frame below the stack pointer:
 *   rsp − 0x190 on x64, the size of KTRAP_FRAME; esp − 0x74 on x86, where
 *   a kernel-mode trap frame ends at HardwareEsp) · then as above
 *
 * Only what these commands show is in the transcript, as in a real one.
 *
 * @example
 * ```ts
 * writeCrashTranscript(crash, 'crash.txt', { style: 'user' });
 * ```
 */
import { writeFileSync } from 'node:fs';
import type { Crash } from '../crash/load-crash.ts';
import { memoryOperands } from '../disasm/operands.ts';
import { generalRegisters, pcName, pcOf, pointerSize, spName, spOf, type Registers } from '../crash/registers.ts';
import { bugcheck, exceptionRecord } from './fault-commands.ts';
import { hex, windbgAddress } from './hex.ts';
import { currentInstruction, unassemble, unassembleBefore } from './listing.ts';
import { moduleList, pointerDisplay, valueDisplay } from './memory-commands.ts';
import { registerBlock, X64_TRAP_NOTE, X64_TRAP_UNSAVED } from './register-block.ts';
import { stackTrace } from './stack-commands.ts';

/** How many return addresses get a `ub`. */
const UB_FRAMES = 3;
/** How many registers get a `dd`/`dq`. */
const DATA_REGISTERS = 3;

/** Registers that point at data the dump holds (not code, not the stack), the faulting operand's first. */
function dataRegisters(crash: Crash, registers: Registers): string[] {
  const stack = crash.memory.regionAt(spOf(crash.arch, registers));
  const insn = crash.exception.access?.instruction;
  const operandRegisters = insn ? memoryOperands(crash.arch, insn).flatMap((op) => [op.base, op.index]).filter((r): r is string => !!r) : [];
  const candidates = [...new Set([...operandRegisters.map((r) => (r === 'fp' ? 'x29' : r)), ...generalRegisters(crash.arch)])];
  const chosen: string[] = [];
  const seen = new Set<bigint>();
  for (const name of candidates) {
    const value = registers[name];
    if (value === undefined || seen.has(value)) continue;
    const region = crash.memory.regionAt(value);
    if (!region || region.executable || region === stack || !crash.memory.read(value, pointerSize(crash.arch))) continue;
    seen.add(value);
    chosen.push(name);
    if (chosen.length === DATA_REGISTERS) break;
  }
  return chosen;
}

/**
 * Writes the session for `crash` to `out`.
 *
 * @example
 * ```ts
 * writeCrashTranscript(crash, '/tmp/bugs.txt', { style: 'kernel' }); // starts '0: kd> .bugcheck'
 * ```
 */
export function writeCrashTranscript(crash: Crash, out: string, options: { style: 'user' | 'kernel' }): void {
  writeFileSync(out, `${transcriptLines(crash, options).join('\n')}\n`);
}

/**
 * The transcript's lines.
 *
 * @example
 * ```ts
 * transcriptLines(crash, { style: 'user' })[0]; // '0:000> .exr -1'
 * ```
 */
export function transcriptLines(crash: Crash, options: { style: 'user' | 'kernel' }): string[] {
  const { arch } = crash;
  if (options.style === 'kernel' && arch === 'arm64') throw new RangeError('The kernel-style transcript is written for x86 and x64 only');
  const prompt = options.style === 'kernel' ? '0: kd>' : '0:000>';
  const lines: string[] = [];
  const command = (text: string, output: string[]) => lines.push(`${prompt} ${text}`, ...output);
  const registers = crash.contextRegisters;
  const pc = pcOf(arch, registers);
  const sp = spOf(arch, registers);

  if (options.style === 'user') {
    command('.exr -1', exceptionRecord(crash));
    command('.ecxr', [...registerBlock(arch, registers), ...currentInstruction(crash, registers, pc)]);
  } else {
    command('.bugcheck', bugcheck(crash));
    const trap = arch === 'x64' ? sp - 0x190n : sp - 0x74n;
    const header = arch === 'x64' ? X64_TRAP_NOTE : [`ErrCode = ${hex(errorCode(crash), 8)}`];
    const shown = arch === 'x64' ? { ...registers, ...Object.fromEntries(X64_TRAP_UNSAVED.map((r) => [r, 0n])) } : registers;
    command(`.trap ${arch === 'x64' ? `0x${hex(trap, 16)}` : hex(trap, 8)}`, [
      ...header,
      ...registerBlock(arch, registers, { trapFrame: true }),
      ...currentInstruction(crash, shown, pc),
    ]);
  }
  command('kb', stackTrace({ ...crash, registers }));
  command('lm', moduleList(crash, crash.modules));
  command(`u @${pcName(arch)}`, unassemble(crash, pc, 8));
  for (const ret of crash.returnAddresses.slice(0, UB_FRAMES)) command(`ub ${windbgAddress(arch, ret.address)}`, unassembleBefore(crash, ret.address, 8));
  command(`dps @${spName(arch)} L40`, pointerDisplay(crash, sp, 0x40));
  const visible = options.style === 'kernel' && arch === 'x64' ? Object.fromEntries(Object.entries(registers).filter(([r]) => !X64_TRAP_UNSAVED.includes(r))) : registers;
  for (const name of dataRegisters(crash, visible)) {
    const value = visible[name]!;
    const wide = pointerSize(arch) === 8;
    command(`${wide ? 'dq' : 'dd'} @${name} L${wide ? 4 : 8}`, valueDisplay(crash, value, wide ? 8 : 4, wide ? 4 : 8));
  }
  return lines;
}

/** The x86 page-fault error code a kernel-mode trap frame would hold: W (bit 1) for a write, I/D (bit 4) for a fetch. */
function errorCode(crash: Crash): bigint {
  const kind = crash.exception.access?.kind;
  return kind === 'write' ? 0x2n : kind === 'execute' ? 0x10n : 0n;
}
