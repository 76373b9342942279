/**
 * Opening a Unicorn engine with what every emulator on it needs, and what
 * stays with the engine when it is kept for the next emulator
 * (engine-pool.ts): the trap hooks (interrupts, invalid instructions,
 * syscall and sysenter), the native watchdog, exits on (x86, x64), and the
 * CPU context the engine had when new. The trap hooks call whichever
 * emulator owns the engine now.
 *
 * @example
 * ```ts
 * const slot = openSlot('x64'); // slot.engine, slot.parts.watchdog …
 * slot.owner = emulator;        // the trap hooks now stop its runs
 * if (!resetForReuse(slot, use)) slot.close();
 * ```
 */
import { unicorn, ucErrorText, InterruptCallback, InvalidInstructionCallback, CodeCallback } from './ffi.ts';
import { UC_ARCH, UC_MODE, UC_HOOK, UC_X86_INS, UC_ERR_OK, UC_CTL_USE_EXITS } from './constants.ts';
import { EmulationError } from './errors.ts';
import { HookRegistry } from './hooks.ts';
import { Watchdog } from './watchdog.ts';
import { wouldKeep, type EngineSlot } from './engine-pool.ts';
import type { GuestMemory } from './guest-memory.ts';
import type { RunExits } from './run-exits.ts';
import type { Arch } from './registers.ts';

/** What the engine's own hooks call on the emulator that owns the engine. */
export interface TrapHandler {
  /** An interrupt or exception (`int n`, a CPU exception Unicorn raises). */
  onInterrupt(intno: number): void;
  /** An invalid instruction; true when the handler stepped over it (Unicorn then stops, and the run goes on). */
  onInvalidInstruction(): boolean;
  onSystemCall(name: 'syscall' | 'sysenter'): void;
  /** Drops translated blocks (a hook was added or removed). */
  flushTranslations(): void;
}

/** What a kept engine carries to its next emulator: its trap hooks, watchdog, and CPU context when new. */
export interface EngineParts {
  traps: HookRegistry;
  watchdog: Watchdog | undefined;
  pristine: unknown;
}

export type Slot = EngineSlot<TrapHandler, EngineParts>;

/** Throws an EmulationError naming the operation when a Unicorn call failed. */
export function checkStatus(status: number, operation: string, address?: bigint): void {
  if (status === UC_ERR_OK) return;
  const text = ucErrorText(status);
  const where = address === undefined ? '' : ` at 0x${address.toString(16)}`;
  throw new EmulationError(operation, `${operation}${where} failed: ${text}`, { code: status, ucError: text, address });
}

/** A new engine for `arch`: x86 (32-bit protected mode, flat), x64 (long mode) or arm64. */
export function openSlot(arch: Arch): Slot {
  const uc = unicorn();
  const [ucArch, mode] =
    arch === 'x86' ? [UC_ARCH.x86, UC_MODE.m32] : arch === 'x64' ? [UC_ARCH.x86, UC_MODE.m64] : [UC_ARCH.arm64, UC_MODE.arm];
  const out: unknown[] = [null];
  const status = uc.uc_open(ucArch, mode, out);
  if (status !== UC_ERR_OK) {
    throw new EmulationError('uc_open', `Cannot open a Unicorn engine for ${arch}: ${ucErrorText(status)}`, { code: status, ucError: ucErrorText(status) });
  }
  const engine = out[0];
  const parts: EngineParts = { traps: undefined!, watchdog: undefined, pristine: undefined };
  const slot: Slot = {
    arch,
    engine,
    parts,
    close: () => {
      parts.watchdog?.dispose();
      if (parts.pristine !== undefined) uc.uc_context_free(parts.pristine);
      uc.uc_close(engine);
      parts.traps.dispose();
    },
  };
  const check = checkStatus;
  parts.traps = new HookRegistry(engine, check, () => slot.owner?.flushTranslations());
  try {
    installTrapHooks(slot);
    parts.watchdog = Watchdog.create({ engine });
    // With exits on, uc_emu_start's end address is ignored: the emulator passes it with the poisoned starts (run-exits.ts).
    if (arch !== 'arm64') check(uc.uc_ctl(engine, UC_CTL_USE_EXITS, 'int', 1), 'uc_ctl(USE_EXITS)');
    const context: unknown[] = [null];
    check(uc.uc_context_alloc(engine, context), 'uc_context_alloc');
    parts.pristine = context[0];
    check(uc.uc_context_save(engine, parts.pristine), 'uc_context_save');
  } catch (error) {
    slot.close();
    throw error;
  }
  return slot;
}

/** The engine's own hooks, kept with it: they stop the run of whichever emulator uses it. */
function installTrapHooks(slot: Slot): void {
  const hooks = slot.parts.traps;
  hooks.add(UC_HOOK.INTR, InterruptCallback, (_uc, intno: number) => slot.owner!.onInterrupt(intno));
  hooks.add(UC_HOOK.INSN_INVALID, InvalidInstructionCallback, () => slot.owner!.onInvalidInstruction());
  if (slot.arch !== 'arm64') {
    for (const [id, name] of [[UC_X86_INS.SYSCALL, 'syscall'], [UC_X86_INS.SYSENTER, 'sysenter']] as const) {
      hooks.add(UC_HOOK.INSN, CodeCallback, () => slot.owner!.onSystemCall(name), undefined, id);
    }
  }
}

/** What an emulator added to its engine, removed before the engine is kept. */
export interface EngineUse {
  hooks: HookRegistry;
  memory: GuestMemory;
  exits: RunExits;
  /** A recorder is still attached (the engine is then closed, not kept). */
  observed: boolean;
}

/**
 * Leaves the engine as it was when new, for the next emulator: hooks
 * removed, the translations of every mapped range dropped, memory
 * unmapped, no exits, the CPU context saved when it was opened. False
 * when the engine is not to be kept (then the caller closes it).
 */
export function resetForReuse(slot: Slot, use: EngineUse): boolean {
  const traps = slot.parts.traps;
  if (!wouldKeep(slot.arch) || !slot.parts.watchdog || use.observed || use.hooks.pendingError !== undefined || traps.pendingError !== undefined) return false;
  try {
    use.hooks.removeAll();
    use.memory.clear();
    use.exits.clearEngine();
    checkStatus(unicorn().uc_context_restore(slot.engine, slot.parts.pristine), 'uc_context_restore');
    return true;
  } catch {
    return false;
  }
}
