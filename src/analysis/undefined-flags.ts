/**
 * The x86 flags an instruction leaves architecturally undefined (Intel SDM
 * vol. 2, each instruction's "Flags Affected"): a real CPU and an emulator
 * may disagree on them without either being wrong, so trace comparisons
 * ignore them. Keyed by mnemonic; shifts and rotates are taken as if the
 * count were not 1 (OF undefined), which ignores a little more than needed.
 *
 * @example
 * ```ts
 * undefinedFlags('x64', 'imul'); // SF | ZF | AF | PF = 0xd4
 * ```
 */
import type { Arch } from '../../emu/registers.ts';
import type { RunResult } from '../../emu/run-result.ts';
import type { CodeReader } from './code.ts';

export const CF = 0x1n;
export const PF = 0x4n;
export const AF = 0x10n;
export const ZF = 0x40n;
export const SF = 0x80n;
export const OF = 0x800n;

const TABLE: Record<string, bigint> = {
  mul: SF | ZF | AF | PF, imul: SF | ZF | AF | PF,
  div: CF | OF | SF | ZF | AF | PF, idiv: CF | OF | SF | ZF | AF | PF,
  and: AF, or: AF, xor: AF, test: AF,
  shl: AF | OF, sal: AF | OF, shr: AF | OF, sar: AF | OF, shld: AF | OF, shrd: AF | OF,
  rol: OF, ror: OF, rcl: OF, rcr: OF,
  bsf: CF | OF | SF | AF | PF, bsr: CF | OF | SF | AF | PF,
  bt: OF | SF | AF | PF, bts: OF | SF | AF | PF, btr: OF | SF | AF | PF, btc: OF | SF | AF | PF,
  aaa: OF | SF | ZF | PF, aas: OF | SF | ZF | PF, aam: OF | AF | CF, aad: OF | AF | CF, daa: OF, das: OF,
  lzcnt: OF | SF | PF | AF, tzcnt: OF | SF | PF | AF,
  andn: AF | PF, bextr: AF | SF | PF, blsi: AF | PF, blsmsk: AF | PF, blsr: AF | PF, bzhi: AF | PF,
};

/** The flag bits `mnemonic` leaves undefined on x86 and x64 (0 on arm64 and for other instructions). */
export function undefinedFlags(arch: Arch, mnemonic: string): bigint {
  return arch === 'arm64' ? 0n : TABLE[mnemonic] ?? 0n;
}

const ALL = CF | PF | AF | ZF | SF | OF;
const DEFINES: Record<string, bigint> = {
  add: ALL, adc: ALL, sub: ALL, sbb: ALL, cmp: ALL, neg: ALL, xadd: ALL, cmpxchg: ALL,
  inc: PF | AF | ZF | SF | OF, dec: PF | AF | ZF | SF | OF,
  and: CF | PF | ZF | SF | OF, or: CF | PF | ZF | SF | OF, xor: CF | PF | ZF | SF | OF, test: CF | PF | ZF | SF | OF,
  popfq: ALL, popfd: ALL, popf: ALL, sahf: CF | PF | AF | ZF | SF,
  comisd: ALL, comiss: ALL, ucomisd: ALL, ucomiss: ALL, popcnt: ALL, ptest: ALL,
};

/**
 * The flag bits `mnemonic` always sets from its result (so any value they
 * held before, defined or not, no longer matters). Instructions not listed
 * count as defining none: a flag left undefined stays ignored until one of
 * these sets it (`imul` then `rol`: rol leaves PF alone, so PF stays
 * undefined after it).
 */
export function definedFlags(arch: Arch, mnemonic: string): bigint {
  return arch === 'arm64' ? 0n : DEFINES[mnemonic] ?? 0n;
}

/**
 * The flag bits left undefined after running `mnemonics` in order: each
 * instruction's undefined flags, less those a later one sets from its result.
 * `imul` then `mov`: SF, ZF, AF and PF stay undefined.
 */
export function flagsLeftUndefined(arch: Arch, mnemonics: Iterable<string | undefined>): bigint {
  let left = 0n;
  for (const m of mnemonics) if (m !== undefined) left = (left & ~definedFlags(arch, m)) | undefinedFlags(arch, m);
  return left;
}

/**
 * The flags a traced run left undefined, from the pc of every instruction it
 * reached (`path`) and how it `ended` (one it ended on by faulting did not run).
 */
export function undefinedFlagsOfRun(code: CodeReader, path: readonly bigint[], ended: RunResult): bigint {
  if (code.dump.arch === 'arm64') return 0n;
  const ranLast = !((ended.kind === 'fault' || ended.kind === 'trapped') && ended.pc === path[path.length - 1]);
  const ran = ranLast ? path : path.slice(0, -1);
  return flagsLeftUndefined(code.dump.arch, ran.map((pc) => code.decodeAt(pc)?.mnemonic));
}
