/**
 * The flag words WinDbg prints beside a register block, and the flag bits
 * they stand for:
 *
 * - x86 and x64: `iopl=0` and eight mnemonics, `nv up ei pl zr na po nc`
 *   (OF, DF, IF, SF, ZF, AF, PF, CF), bits of `efl`;
 * - ARM64: the NZCV letters after `psr=` (`N---`, `-ZC-`), bits 31–28 of
 *   `nzcv`, and the exception level (`EL0`), which sets no flag.
 *
 * The parity pair reads differently by architecture. x86 WinDbg shows the
 * architectural meaning: `pe` (parity even) when PF is set. x64 WinDbg shows
 * it the other way round: `po` when PF is set, `pe` when it is clear (every
 * x64 session shows efl=00010246 as `zr na po` and efl=00010202 as
 * `nz na pe`), so an x64 block is read that way.
 *
 * @example
 * ```ts
 * shownFlags(['zr', 'po'], 'x64');  // { register: 'efl', value: 0x46n, mask: 0x46n }
 * shownFlags(['zr', 'po'], 'x86');  // { register: 'efl', value: 0x42n, mask: 0x46n }
 * shownFlags(['N---'], 'arm64');    // { register: 'nzcv', value: 0x80000000n, mask: 0xf0000000n }
 * ```
 */

/** Flag bits a block's words show, and which bits those are. */
export interface ShownFlags {
  register: 'efl' | 'nzcv';
  value: bigint;
  mask: bigint;
}

/** Mnemonic → [efl bit, whether the mnemonic means the bit is set], as x86 WinDbg prints them. */
const EFL_MNEMONICS: Record<string, [bigint, boolean]> = {
  ov: [0x800n, true], nv: [0x800n, false],
  dn: [0x400n, true], up: [0x400n, false],
  ei: [0x200n, true], di: [0x200n, false],
  ng: [0x80n, true], pl: [0x80n, false],
  zr: [0x40n, true], nz: [0x40n, false],
  ac: [0x10n, true], na: [0x10n, false],
  pe: [0x4n, true], po: [0x4n, false],
  cy: [0x1n, true], nc: [0x1n, false],
  vif: [0x80000n, true], vip: [0x100000n, true],
};
const PARITY = 0x4n;
/** Bit 1 of EFLAGS always reads as 1. */
const EFL_RESERVED = 0x2n;
const IOPL_SHIFT = 12n;
const IOPL_MASK = 0x3000n;
const NZCV_LETTERS = /^[N-][Z-][C-][V-]$/;
const NZCV_MASK = 0xf000_0000n;
const EXCEPTION_LEVEL = /^EL[0-3]$/;

/**
 * True for a word that shows flags rather than a register: an efl mnemonic
 * (any case), NZCV letters, or an exception level.
 *
 * @example
 * ```ts
 * isFlagWord('zr');   // true
 * isFlagWord('-ZC-'); // true
 * isFlagWord('ss');   // false
 * ```
 */
export function isFlagWord(word: string): boolean {
  return word.toLowerCase() in EFL_MNEMONICS || NZCV_LETTERS.test(word) || EXCEPTION_LEVEL.test(word);
}

function nzcvOf(words: string[]): ShownFlags | undefined {
  const letters = words.find((w) => NZCV_LETTERS.test(w));
  if (!letters) return undefined;
  let value = 0n;
  for (let i = 0; i < 4; i++) if (letters[i] !== '-') value |= 1n << BigInt(31 - i);
  return { register: 'nzcv', value, mask: NZCV_MASK };
}

/**
 * The bits `words` (flag words in printed order) and `iopl` show, read the
 * way WinDbg for `arch` prints them; undefined when they show none. An x86
 * or x64 result always includes the reserved bit 1 of `efl`.
 *
 * @example
 * ```ts
 * shownFlags(['nv', 'up', 'ei', 'pl', 'nz', 'na', 'pe', 'nc'], 'x64', 0n).value; // 0x202n
 * ```
 */
export function shownFlags(words: string[], arch: 'x86' | 'x64' | 'arm64' | undefined, iopl?: bigint): ShownFlags | undefined {
  if (arch === 'arm64') return nzcvOf(words);
  let value = 0n;
  let mask = 0n;
  for (const word of words) {
    const flag = EFL_MNEMONICS[word.toLowerCase()];
    if (!flag) continue;
    const [bit, meansSet] = flag;
    const set = bit === PARITY && arch === 'x64' ? !meansSet : meansSet;
    mask |= bit;
    if (set) value |= bit;
  }
  if (iopl !== undefined) {
    value |= iopl << IOPL_SHIFT;
    mask |= IOPL_MASK;
  }
  if (mask === 0n) return undefined;
  return { register: 'efl', value: value | EFL_RESERVED, mask: mask | EFL_RESERVED };
}
