/**
 * Access violations by a data access (a load or store, not a jump): replay
 * the faulting instruction alone from the recorded context, check that it
 * faults at the recorded address, and find the register the address came
 * from. A register holding a fill pattern (`41414141`, `baadf00d`) or null
 * is a software bug, never a hardware one; an address one bit from memory
 * the process has mapped is reported as possible, not concluded.
 *
 * @example
 * ```ts
 * const result = explainDataFault(dump, site, faulting); // verdict 'software' for mov eax,[eax] with eax=41414141
 * ```
 */
import { pointerSize, spRegister, type RegisterName } from '../../emu/registers.ts';
import type { Dump } from '../dumps/model.ts';
import { formatAddress, hex } from '../format.ts';
import { compareOutcome, nonCanonicalAsRecorded, summarize } from './checks.ts';
import type { RunResult } from '../../emu/run-result.ts';
import type { Instruction } from './code.ts';
import type { FaultSite } from './fault-site.ts';
import type { Hypothesis } from './hypotheses.ts';
import { isPoison } from './pointer-evidence.ts';
import { Replayer } from './replay.ts';
import type { Verdict } from './verdict.ts';

export interface DataFaultResult {
  faithful: Hypothesis;
  verdict: Verdict;
}

/**
 * The faulting instruction replayed alone from the fault's registers, as the
 * no-fault hypothesis. It did not retire, so every register is carried.
 */
export function replayFaultingInstruction(dump: Dump, site: FaultSite): { faithful: Hypothesis; result: RunResult } {
  const registers = site.context?.registers ?? {};
  const replayer = new Replayer(dump, { start: site.pc, registers, maxInstructions: 1 });
  try {
    const outcome = replayer.run();
    const checks = compareOutcome(dump, site, outcome, { carried: new Set(Object.keys(registers) as RegisterName[]), stated: {} });
    const summary = summarize(checks);
    const faithful: Hypothesis = {
      id: 'no-fault', class: 'no-fault', location: 'none', description: 'the CPU executed the faulting instruction as written',
      explains: checks[0]?.status === 'match' && summary.mismatch === 0, summary, checks,
    };
    return { faithful, result: outcome.result };
  } finally {
    replayer.dispose();
  }
}

/** The register whose value the faulting address is (or is near: base + displacement). */
function addressRegister(site: FaultSite, address: bigint): { name: RegisterName; value: bigint } | undefined {
  const registers = site.context?.registers ?? {};
  let best: { name: RegisterName; value: bigint; distance: bigint } | undefined;
  for (const [name, value] of Object.entries(registers) as Array<[RegisterName, bigint | undefined]>) {
    if (value === undefined || ['eip', 'rip', 'pc', 'efl', 'nzcv', 'cs', 'ss', 'ds', 'es', 'fs', 'gs'].includes(name)) continue;
    const distance = address >= value ? address - value : value - address;
    if (distance < 0x1000n && (!best || distance < best.distance)) best = { name, value, distance };
  }
  return best;
}

/** A mapped range the dump holds that is one bit from `address`, if any. */
function oneBitFromMapped(dump: Dump, address: bigint): { bit: number; address: bigint } | undefined {
  const width = pointerSize(dump.arch) * 8;
  for (let bit = 0; bit < width; bit++) {
    const candidate = address ^ (1n << BigInt(bit));
    if (dump.memory.read(candidate, 1)) return { bit, address: candidate };
  }
  return undefined;
}

export function explainDataFault(dump: Dump, site: FaultSite, faulting: Instruction): DataFaultResult {
  const f = (v: bigint) => formatAddress(dump.arch, v);
  let address = site.accessAddress!;
  let access = site.access;
  const { faithful, result } = replayFaultingInstruction(dump, site);
  const checks = faithful.checks;
  // For a non-canonical address Windows records ffffffffffffffff: the replay knows the real one.
  if (result.kind === 'fault' && nonCanonicalAsRecorded(dump.arch, address, result.address)) {
    address = result.address;
    access = result.access === 'write' ? 'write' : 'read';
  }
  const text = `${f(site.pc)} ${faulting.text}`;
  const verb = access === 'write' ? 'wrote to' : access === 'read' ? 'read' : 'accessed';
  const reasons: string[] = [];
  reasons.push(`${access ?? 'access'} of ${f(address)} by ${text}${address !== site.accessAddress ? ` (recorded as ${f(site.accessAddress!)}: the CPU reports no address for a non-canonical one)` : ''}`);
  reasons.push(faithful.explains
    ? `replaying ${faulting.text} from the recorded registers faults at ${f(address)} as recorded`
    : `replaying ${faulting.text} from the recorded registers does not fault as recorded (${checks[0]?.actual})`);
  const source = addressRegister(site, address);
  const poison = isPoison(source?.value ?? address, dump.arch) ?? isPoison(address, dump.arch);
  const base = { expected: undefined, observed: hex(address), reasons, hypothesis: 'no-fault' };
  if (source) reasons.push(`the address comes from ${source.name}=${f(source.value)}${source.value === address ? '' : ` (${address > source.value ? '+' : '-'}0x${(address > source.value ? address - source.value : source.value - address).toString(16)})`}`);
  if (faithful.explains && poison) {
    reasons.push(poison === 'null' ? `${f(source?.value ?? address)} is a null pointer` : `${f(source?.value ?? address)} is a fill pattern, not an address: the data was overwritten or never initialised`);
    return {
      faithful,
      verdict: {
        ...base, class: 'software', location: 'register', confidence: 0.9, confidenceLabel: 'high',
        summary: `A software bug: ${text} ${verb} ${f(address)} through ${source ? `${source.name}, which holds ${poison === 'null' ? 'null' : 'a poison pattern'}` : `a ${poison} address`}. The CPU did what the code said; no single-bit fault makes ${f(address)} from a valid pointer.`,
      },
    };
  }
  const near = oneBitFromMapped(dump, address);
  if (faithful.explains && near && source && source.name !== spRegister(dump.arch)) {
    reasons.push(`${f(address)} is one bit (bit ${near.bit}) from ${f(near.address)}, which the dump holds: a flipped bit in ${source.name} would explain it, but the dump does not hold the code that computed ${source.name}`);
    return {
      faithful,
      verdict: { ...base, class: 'inconclusive', bit: near.bit, expected: hex(near.address), confidence: 0.3, confidenceLabel: 'low', summary: `Inconclusive: ${f(address)} is one bit from mapped memory; a register bit flip is possible but cannot be checked from this dump.` },
    };
  }
  if (faithful.explains) {
    return {
      faithful,
      verdict: { ...base, class: 'software', location: 'register', confidence: 0.6, confidenceLabel: 'medium', summary: `A software bug (a wild pointer): ${text} ${verb} ${f(address)}, which is not one bit from any memory the dump holds.` },
    };
  }
  return {
    faithful,
    verdict: { ...base, class: 'inconclusive', confidence: 0, confidenceLabel: 'none', summary: `Inconclusive: replaying the faulting instruction does not reproduce the recorded fault.` },
  };
}

/**
 * A divide error, invalid or privileged instruction: replay the instruction
 * alone from the recorded registers. When it traps the same way, the
 * recorded state itself leads to the trap: a software bug as far as the dump
 * can tell (the state could have been corrupted earlier, but nothing in the
 * dump says so).
 */
export function explainInstructionTrap(dump: Dump, site: FaultSite, faulting: Instruction): DataFaultResult {
  const f = (v: bigint) => formatAddress(dump.arch, v);
  const { faithful } = replayFaultingInstruction(dump, site);
  const checks = faithful.checks;
  const text = `${f(site.pc)} ${faulting.text}`;
  const what = site.kind === 'divide-error' ? 'divides by zero (or overflows)' : site.kind === 'illegal-instruction' ? 'is not a valid instruction here' : 'is privileged';
  const reasons = [
    `${site.kind} at ${text}`,
    faithful.explains
      ? `replaying ${faulting.text} from the recorded registers traps the same way: with these values it ${what}`
      : `replaying ${faulting.text} from the recorded registers does not trap as recorded (${checks[0]?.actual})`,
  ];
  if (faithful.explains) {
    return {
      faithful,
      verdict: {
        class: 'software', location: 'none', observed: hex(site.pc), confidence: 0.6, confidenceLabel: 'medium', reasons, hypothesis: 'no-fault',
        summary: `A software bug as far as the dump shows: ${text} ${what} with the values recorded; no fault is needed to explain the trap.`,
      },
    };
  }
  return {
    faithful,
    verdict: { class: 'inconclusive', confidence: 0, confidenceLabel: 'none', observed: hex(site.pc), reasons, summary: 'Inconclusive: replaying the faulting instruction does not reproduce the recorded trap.' },
  };
}
