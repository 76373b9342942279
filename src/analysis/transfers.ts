/**
 * How execution could have reached the faulting pc: return addresses on the
 * stack near sp whose preceding bytes decode as a `call` ending exactly
 * there, and for each the transfer's expected target, computed by emulating
 * that one call from the recorded state (sp moved back above the pushed
 * return address, other registers from the fault context, memory from the
 * dump). The emulation also says where the target came from: a pointer in
 * memory (`[80a5b020]`) or a register.
 *
 * @example
 * ```ts
 * const transfers = findTransfers(dump, code, site); // [{ call: call dword ptr [80a5b020], expected: 0x8082e3e4n, … }]
 * ```
 */
import { pcRegister, pointerSize, spRegister, registerMask, type RegisterValues } from '../../emu/registers.ts';
import type { Dump } from '../dumps/model.ts';
import { machineFor } from './machine.ts';
import type { CodeReader, Instruction } from './code.ts';
import type { FaultSite } from './fault-site.ts';

export interface Transfer {
  /** The call instruction. */
  call: Instruction;
  /** The stack slot holding its return address (undefined when the link register holds it), and that address. */
  slot?: bigint;
  returnAddress: bigint;
  /** Where the return address was found: a stack slot (x86, x64) or the link register (AArch64 `bl`/`blr`). */
  via: 'stack' | 'link-register';
  /** The target computed by emulating the call, or undefined when the dump lacks what it needs. */
  expected?: bigint;
  /** Where the target was read from: a memory pointer, or undefined for a register or direct call. */
  pointer?: { address: bigint; size: number; value: bigint };
  /** Why `expected` is missing. */
  unknownReason?: string;
}

/** Stack slots scanned, from two below sp to this many above. */
const SLOTS_ABOVE = 32;

/** Return-address candidates on the stack near sp, nearest first. */
export function findTransfers(dump: Dump, code: CodeReader, site: FaultSite): Transfer[] {
  const registers = site.context?.registers;
  const sp = registers?.[spRegister(dump.arch)];
  if (!registers || sp === undefined) return [];
  const size = pointerSize(dump.arch);
  const transfers: Transfer[] = [];
  for (let i = -2; i < SLOTS_ABOVE; i++) {
    const slot = sp + BigInt(i * size);
    const bytes = dump.memory.read(slot, size);
    if (!bytes) continue;
    let value = 0n;
    for (let k = size - 1; k >= 0; k--) value = (value << 8n) | BigInt(bytes[k]!);
    if (value < 0x1000n) continue;
    const call = code.endingAt(value, (insn) => insn.kind === 'call');
    if (!call) continue;
    transfers.push({ call, slot, returnAddress: value, via: 'stack', ...expectedTarget(dump, registers, call, slot) });
  }
  // AArch64 `bl`/`blr` leave the return address in x30, not on the stack.
  const lr = dump.arch === 'arm64' ? registers.x30 : undefined;
  if (lr !== undefined && lr >= 4n) {
    const call = code.endingAt(lr, (insn) => insn.kind === 'call');
    if (call) transfers.unshift({ call, returnAddress: lr, via: 'link-register', ...expectedTarget(dump, registers, call, undefined) });
  }
  return transfers;
}

/** Where sp was when the call ran: just above the slot it pushed to, or unchanged for a link-register call. */
export function spAtCall(dump: Dump, registers: RegisterValues, slot: bigint | undefined): bigint | undefined {
  if (slot === undefined) return registers[spRegister(dump.arch)];
  return (slot + BigInt(pointerSize(dump.arch))) & registerMask(dump.arch);
}

/** Emulates `call` alone from the recorded registers, with sp as it was at the call. */
export function expectedTarget(
  dump: Dump,
  registers: RegisterValues,
  call: Instruction,
  slot: bigint | undefined,
): Pick<Transfer, 'expected' | 'pointer' | 'unknownReason'> {
  const arch = dump.arch;
  const state = { ...registers, [spRegister(arch)]: spAtCall(dump, registers, slot)!, [pcRegister(arch)]: call.address };
  const emu = machineFor(dump, state);
  const reads: Array<{ address: bigint; size: number; value: bigint }> = [];
  try {
    emu.onMemory('read', (address, size, value) => reads.push({ address, size, value }));
    const result = emu.run({ from: call.address, count: 1, maxInstructions: 1, timeoutMs: 1000 });
    // The call completed when the only thing missing is the code at its target.
    const landed = result.kind === 'fault' && result.access === 'fetch' && result.pc !== call.address;
    if (result.kind === 'fault' && !landed) {
      return { unknownReason: `the call's operand is not in the dump (${result.message})` };
    }
    if (result.kind !== 'reached' && !landed) return { unknownReason: `emulating the call ended with ${result.kind}` };
    const target = emu.readRegister(pcRegister(arch));
    const pointer = reads.find((r) => r.size === pointerSize(arch) && r.value === target);
    return { expected: target, pointer };
  } finally {
    emu.dispose();
  }
}
