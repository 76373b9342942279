/**
 * Chooses the replay window that leads to a transfer: the run of known
 * instructions before the call, starting after the last call into code the
 * dump lacks (unless the user stated its effect), and the stack pointer to
 * start with, chosen so that the window's pushes land where the stack shows
 * them (the call's return address in its slot).
 *
 * @example
 * ```ts
 * const w = chooseWindow(dump, code, transfer, site, { stepOvers, maxInstructions: 100 });
 * // { start: 0x80a5d8e6n, registers: { …, esp: 0xf78aecb8n }, instructions: [...] }
 * ```
 */
import { pcRegister, spRegister, registerMask, type RegisterValues } from '../../emu/registers.ts';
import type { Dump } from '../dumps/model.ts';
import { formatAddress } from '../format.ts';
import type { CodeReader, Instruction } from './code.ts';
import type { FaultSite } from './fault-site.ts';
import { Replayer, type StepOver } from './replay.ts';
import { spAtCall, type Transfer } from './transfers.ts';

/** A user's statement of what an absent callee does: `ADDR:ret=0xc,eax=1`. */
export interface StepOverSpec {
  address: bigint;
  popBytes: bigint;
  registers: RegisterValues;
}

export interface ChosenWindow {
  start: bigint;
  registers: RegisterValues;
  /** The static instructions from start to the transfer, in address order. */
  instructions: Instruction[];
  stepOvers: StepOver[];
  /** Why the window starts where it does. */
  startReason: string;
  notes: string[];
}

/** True when `insn` calls code the dump does not hold. */
function callsUnknownCode(code: CodeReader, insn: Instruction): bigint | undefined {
  if (insn.kind !== 'call') return undefined;
  const target = /^(?:0x)?([0-9a-f`]+)$/i.exec(insn.operands.trim().replace(/.*\(([0-9a-f`]+)\)$/i, '$1'));
  if (!target) return undefined;
  const address = BigInt(`0x${target[1]!.replace(/`/g, '')}`);
  return code.knownBytes(address, 1).length === 0 ? address : undefined;
}

export function chooseWindow(
  dump: Dump,
  code: CodeReader,
  transfer: Transfer,
  site: FaultSite,
  options: { stepOvers: StepOverSpec[]; maxInstructions: number },
): ChosenWindow | undefined {
  const arch = dump.arch;
  const f = (v: bigint) => formatAddress(arch, v);
  const specs = new Map(options.stepOvers.map((s) => [s.address, s]));
  const notes: string[] = [];
  let stoppedAt: Instruction | undefined;
  const run = code.runEndingWith(transfer.call, options.maxInstructions, (insn) => {
    if (specs.has(insn.address)) return false;
    if (callsUnknownCode(code, insn) !== undefined) {
      stoppedAt = insn;
      return true;
    }
    return false;
  });
  const stepOvers: StepOver[] = run
    .filter((i) => specs.has(i.address))
    .map((i) => ({ address: i.address, size: i.size, popBytes: specs.get(i.address)!.popBytes, registers: specs.get(i.address)!.registers }));
  const startReason = stoppedAt
    ? `${f(stoppedAt.address)} ${stoppedAt.text} calls code the dump lacks; the window starts after it (state its effect with --step-over ${f(stoppedAt.address)}:ret=N,REG=VALUE to start earlier)`
    : run.length >= options.maxInstructions
      ? `the window is limited to ${options.maxInstructions} instructions`
      : `no known code before ${f(run[0]!.address)}`;

  const base = site.context?.registers ?? {};
  const sp = spRegister(arch);
  const wantSpAtCall = spAtCall(dump, base, transfer.slot) ?? 0n;
  // Try the earliest start first; a start whose replay does not reach the call is dropped.
  for (let i = 0; i < run.length; i++) {
    const start = run[i]!.address;
    const provisional = { ...base, [sp]: wantSpAtCall, [pcRegister(arch)]: start };
    const probe = new Replayer(dump, { start, registers: provisional, maxInstructions: options.maxInstructions * 2 + 16, until: transfer.call.address, stepOvers: stepOvers.filter((s) => s.address >= start) });
    try {
      // A window that is the call alone needs no probe (and Unicorn cannot stop where it starts).
      const outcome = start === transfer.call.address ? undefined : probe.run();
      if (outcome && (outcome.result.kind !== 'reached' || outcome.result.pc !== transfer.call.address)) {
        notes.push(`a replay from ${f(start)} does not reach the call at ${f(transfer.call.address)} (${outcome.result.kind})`);
        continue;
      }
      const spAtCall = outcome ? outcome.final[sp]! : wantSpAtCall;
      const startSp = (wantSpAtCall + (wantSpAtCall - spAtCall)) & registerMask(arch);
      return {
        start,
        registers: { ...base, [sp]: startSp, [pcRegister(arch)]: start },
        instructions: run.slice(i),
        stepOvers: stepOvers.filter((s) => s.address >= start),
        startReason: i === 0 ? startReason : `replays from earlier starts do not reach the call`,
        notes,
      };
    } finally {
      probe.dispose();
    }
  }
  return undefined;
}
