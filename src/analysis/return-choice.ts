/**
 * Which of a function's returns could have been the one that ran. A switch
 * of a dozen cases ends in a dozen `ret`s, each after code of its own (`lea
 * eax,[ecx+3]; ret`, `mov eax,ecx; sar eax,1; ret`); replaying a window for
 * each is too many. The code just before each return, run as written from
 * the dump's registers, either leaves them as the dump has them or shows
 * that this return did not run: a register it computes from values the dump
 * holds comes out other than recorded.
 *
 * The straight code before a return is replayed twice: once to see which
 * registers it changes, once with those unknown (a value it reads before it
 * writes it is not the recorded one). Code that moves the stack pointer
 * (`pop`, `leave`) says nothing here: the replay starts from the sp the
 * `ret` ran at.
 *
 * @example
 * ```ts
 * returnsThatFit(dump, code, registers, rets, slot); // the rets whose code before them fits the dump
 * ```
 */
import { pcRegister, spRegister, type RegisterName, type RegisterValues } from '../../emu/registers.ts';
import type { Dump } from '../dumps/model.ts';
import { comparedMask } from './checks.ts';
import type { CodeReader, Instruction } from './code.ts';
import { endsFallThrough } from './instruction-kind.ts';
import { Replayer } from './replay.ts';

/** Returns probed, at most. */
const MAX_PROBED = 32;

/** Instructions before a return replayed, at most. */
const MAX_BEFORE = 8;

/** The code straight before `ret`: back to an instruction that does not fall through or a call, at most MAX_BEFORE. */
function codeBefore(code: CodeReader, ret: Instruction): Instruction[] {
  const out: Instruction[] = [];
  let at = ret.address;
  while (out.length < MAX_BEFORE) {
    const previous = code.endingAt(at);
    if (!previous || endsFallThrough(previous.kind) || previous.kind === 'call' || previous.kind === 'conditional') break;
    out.unshift(previous);
    at = previous.address;
  }
  return out;
}

function replayBefore(dump: Dump, registers: RegisterValues, start: bigint, until: bigint, unknown: ReadonlySet<RegisterName>, count: number) {
  const replayer = new Replayer(dump, { start, registers, unknown, maxInstructions: count + 1, until }, unknown.size > 0 ? 3 : 1);
  try {
    return replayer.run();
  } finally {
    replayer.dispose();
  }
}

/** Whether the code before `ret`, as written from the dump's registers with sp at `sp`, contradicts them. */
function contradicts(dump: Dump, code: CodeReader, registers: RegisterValues, ret: Instruction, sp: bigint): boolean {
  const before = codeBefore(code, ret);
  if (before.length === 0) return false;
  const arch = dump.arch;
  const spName = spRegister(arch);
  const pc = pcRegister(arch);
  const start = { ...registers, [spName]: sp, [pc]: before[0]!.address };
  const first = replayBefore(dump, start, before[0]!.address, ret.address, new Set(), before.length);
  if (first.result.kind !== 'reached' || first.result.pc !== ret.address || first.final[spName] !== sp) return false;
  const changed = new Set((Object.keys(first.final) as RegisterName[]).filter((r) => r !== pc && first.final[r] !== start[r]));
  if (changed.size === 0) return false;
  const second = replayBefore(dump, start, before[0]!.address, ret.address, changed, before.length);
  if (second.result.kind !== 'reached' || !second.resultKnown) return false;
  for (const r of changed) {
    const want = registers[r];
    const got = second.final[r];
    if (second.knownRegisters.has(r) && want !== undefined && got !== undefined && ((want ^ got) & comparedMask(arch, r)) !== 0n) return true;
  }
  return false;
}

/**
 * The returns among `rets` that could have run with the dump's registers
 * (sp at `sp` when each ran), at most `max`; when none fits, the first `max`
 * (the check says nothing then).
 */
export function returnsThatFit(dump: Dump, code: CodeReader, registers: RegisterValues, rets: Instruction[], sp: bigint, max: number): Instruction[] {
  if (rets.length <= max) return rets;
  // Two small replays per return: a function of hundreds of returns is probed in its first few dozen.
  const fit = rets.slice(0, MAX_PROBED).filter((ret) => !contradicts(dump, code, registers, ret, sp));
  return (fit.length > 0 ? fit : rets).slice(0, max);
}
