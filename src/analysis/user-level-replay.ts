/**
 * A replay's engine runs at CPL 0; the CPU that crashed ran the process at
 * CPL 3 and refused instructions there (emu/user-level.ts). A lane calls
 * `refuseAtUserLevel` from a hook before the instruction at the recorded
 * fault's pc, so that a replay of corrupt code traps where the CPU did.
 *
 * @example
 * ```ts
 * emu.onInstructionAt(userLevel.pc, () => refuseAtUserLevel(emu, dump.arch, userLevel.codeSelector));
 * ```
 */
import type { Emulator } from '../../emu/emulator.ts';
import { pcRegister, registerMask, spRegister, type Arch } from '../../emu/registers.ts';
import { userLevelRefusal } from '../../emu/user-level.ts';

/**
 * The instruction at the pc as a user-level CPU takes it: a privileged one,
 * or a far return to a selector other than the process's code segment
 * (`codeSelector`), raises #GP before it runs (the run stops trapped there);
 * a far return to the same segment is a return (Unicorn would pop with a
 * 16-bit stack pointer). Reads the bytes as they are now (an injection may
 * have changed them).
 */
export function refuseAtUserLevel(emu: Emulator, arch: Arch, codeSelector: bigint): void {
  const pc = emu.pc();
  const refusal = userLevelRefusal(arch, emu.tryRead(pc, 16));
  if (!refusal) return;
  const protection = () => emu.stopWith({ kind: 'trapped', vector: 13, name: `general protection (${refusal.name})`, pc });
  if (refusal.kind === 'privileged') return protection();
  const sp = spRegister(arch);
  const top = emu.readRegister(sp);
  const size = refusal.operandSize;
  if (!emu.pageIn(top, 2 * size)) return;
  const selector = emu.readValue(top + BigInt(size), size) & 0xffffn;
  if (selector !== codeSelector) return protection();
  if (refusal.name === 'iret') return;
  emu.writeRegister(sp, (top + BigInt(2 * size + refusal.popped)) & registerMask(arch));
  emu.writeRegister(pcRegister(arch), emu.readValue(top, size));
}
