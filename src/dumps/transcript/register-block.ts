/**
 * WinDbg register blocks, as `r`, `.trap`, `.cxr` and `.ecxr` print them:
 *
 * ```
 * eax=0e364a01 ebx=f78aed50 ecx=f78aecb8 edx=000000e1 esi=f7727ec0 edi=f75d9ca2
 * eip=8082e3e1 esp=f78aecac ebp=f78aecc0 iopl=0         nv up ei pl nz na po nc
 * cs=0008  ss=0010  ds=0023  es=0023  fs=0030  gs=0000             efl=00000202
 * ```
 *
 * the x64 layout (`rax=… rbx=… rcx=…` three a line, ` r8=`…`r15=`, then
 * `iopl=0 …` and the segment line), and the ARM64 one (four a line):
 *
 * ```
 *  x0=00000055000212a0   x1=0000000000000003   x2=0000000000000000   x3=0000000000000018
 * x28=0000000000000000   fp=00000055028215d0   lr=0000005500000a84   sp=00000055028215d0
 *  pc=0000005500000da4  psr=80000000 N--- EL0
 * ```
 *
 * `fp` and `lr` are recorded as x29 and x30, `psr` (or `cpsr`) as `nzcv`
 * (its bits 31–28, kept in place as Unicorn's NZCV register holds them).
 * Only registers printed are recorded; one that is absent stays absent. The
 * flag words (`nv up ei pl nz na po nc`, `iopl`, `N---`) describe part of
 * `efl` or `nzcv`; they are returned with the bits they cover (see
 * flag-mnemonics.ts) so the caller can check them against the register or
 * use them when it is missing (x64 `.trap` prints no `efl=`).
 *
 * @example
 * ```ts
 * const lines = [{ text: 'eax=00000001 eip=8082e3e1 iopl=0 nv up ei pl nz na po nc', line: 7 }];
 * const block = readRegisterBlock(lines, 0, (message, line) => { throw new Error(`${line}: ${message}`); });
 * block.registers.eip;  // 0x8082e3e1n
 * block.shownFlags;     // { register: 'efl', value: 0x202n, mask: 0x3ed7n }
 * ```
 */
import { X64_REGISTERS, X86_REGISTERS, type RegisterName, type RegisterValues } from '../../../emu/registers.ts';
import { parseHex } from '../hex.ts';
import { isFlagWord, shownFlags, type ShownFlags } from './flag-mnemonics.ts';
import type { TranscriptLine } from './lexer.ts';
import { shortText, quoteInput } from '../../quote.ts';

/** The architectures a register block can show. */
export type BlockArch = 'x86' | 'x64' | 'arm64';

/** A register block read from consecutive lines. */
export interface RegisterBlock {
  registers: RegisterValues;
  /** From the names shown (`eax` → x86, `rax` → x64, `x0` → arm64); undefined when only shared ones were (efl, segments). */
  arch?: BlockArch;
  /** Flag bits the flag words show, and which bits those are. */
  shownFlags?: ShownFlags;
  /** Names shown that faultline does not model (`dr0`, `cr0`, `xmm0`), in order. */
  unmodelled: string[];
  /** Line of the block's first line. */
  line: number;
  /** Index in `lines` just after the block. */
  end: number;
}

/** Called for a malformed block line; must throw. */
export type RegisterBlockFailure = (message: string, line: number) => never;

/** WinDbg's ARM64 names and the registers they are. */
const ARM64_NAMES: Record<string, RegisterName> = {
  ...Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`x${i}`, `x${i}` as RegisterName])),
  fp: 'x29', lr: 'x30', sp: 'sp', pc: 'pc',
};
/** The ARM64 status register, of which faultline keeps the NZCV bits. */
const PSR_NAMES = new Set(['psr', 'cpsr']);
const NZCV_BITS = 0xf000_0000n;

const X86_ONLY = new Set<string>(['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp', 'esp', 'eip']);
const X64_ONLY = new Set<string>(X64_REGISTERS.filter((r) => r.startsWith('r')));
const SEGMENTS = new Set<string>(['cs', 'ss', 'ds', 'es', 'fs', 'gs']);
const MODELLED = new Set<string>([...X86_REGISTERS, ...X64_REGISTERS, ...Object.keys(ARM64_NAMES), ...PSR_NAMES]);
const ASSIGNMENT = /^([a-z$@][a-z0-9_$]*)=(.*)$/i;

function firstToken(text: string): string {
  // The first run of non-space characters, without splitting the rest of a long line.
  return /\S+/.exec(text)?.[0] ?? '';
}

/**
 * True when `text` opens a register block: its first token assigns a
 * register faultline knows (`eax=`, ` r8=`, `efl=`, ` x0=`) or `iopl=`.
 *
 * @example
 * ```ts
 * startsRegisterBlock(' r8=0000000000000000  r9=0000000000000000'); // true
 * startsRegisterBlock(' x0=00000055000212a0   x1=0000000000000003'); // true
 * startsRegisterBlock('ErrCode = 00000000');                          // false
 * ```
 */
export function startsRegisterBlock(text: string): boolean {
  const match = ASSIGNMENT.exec(firstToken(text));
  return match !== null && (MODELLED.has(match[1]!.toLowerCase()) || match[1]!.toLowerCase() === 'iopl');
}

/**
 * The architecture a register name shown by WinDbg belongs to, or undefined
 * for one shared by x86 and x64 (`efl`, `cs`) or unknown.
 *
 * @example
 * ```ts
 * archOfRegisterName('lr');  // 'arm64'
 * archOfRegisterName('efl'); // undefined
 * ```
 */
export function archOfRegisterName(name: string): BlockArch | undefined {
  const lower = name.toLowerCase();
  if (X86_ONLY.has(lower)) return 'x86';
  if (X64_ONLY.has(lower)) return 'x64';
  if (lower in ARM64_NAMES || PSR_NAMES.has(lower)) return 'arm64';
  return undefined;
}

function continuesBlock(text: string): boolean {
  const tokens = text.trim().split(/\s+/).filter(Boolean);
  if (tokens.length === 0) return false;
  if (ASSIGNMENT.test(tokens[0]!)) return true;
  return tokens.every(isFlagWord);
}

function limitOf(name: string): bigint {
  if (SEGMENTS.has(name)) return 0xffffn;
  if (X86_ONLY.has(name) || PSR_NAMES.has(name)) return 0xffff_ffffn;
  return 0xffff_ffff_ffff_ffffn;
}

/**
 * Reads the register block starting at `lines[start]` (which must satisfy
 * `startsRegisterBlock`) up to the first line that is not part of it.
 * Calls `fail` for a line with a token that is neither `name=hex` nor a flag
 * word, a value that is not hex or too wide, a register shown twice with
 * two values, or a mix of two architectures' names.
 *
 * @example
 * ```ts
 * readRegisterBlock([{ text: 'efl=00000202', line: 3 }], 0, fail).registers; // { efl: 0x202n }
 * readRegisterBlock([{ text: ' pc=0000005500000da4  psr=80000000 N--- EL0', line: 9 }], 0, fail).registers;
 * // { pc: 0x5500000da4n, nzcv: 0x80000000n }
 * ```
 */
export function readRegisterBlock(lines: TranscriptLine[], start: number, fail: RegisterBlockFailure): RegisterBlock {
  const registers: RegisterValues = {};
  const unmodelled: string[] = [];
  const flagWords: string[] = [];
  let iopl: bigint | undefined;
  let first: { arch: BlockArch; name: string } | undefined;
  let end = start;
  for (; end < lines.length; end++) {
    const { text, line } = lines[end]!;
    if (end > start && !continuesBlock(text)) break;
    let swallowing = false;
    for (const token of text.trim().split(/\s+/)) {
      const assignment = ASSIGNMENT.exec(token);
      if (!assignment) {
        if (isFlagWord(token)) flagWords.push(token);
        else if (!swallowing) fail(`Cannot read ${quoteInput(token)} in register line ${quoteInput(text.trim(), 60)}: expected NAME=VALUE or a flag word such as 'nv', 'zr' or 'N---'`, line);
        continue;
      }
      const name = assignment[1]!.toLowerCase();
      const valueText = assignment[2]!;
      swallowing = false;
      if (name === 'iopl') {
        if (!/^[0-3]$/.test(valueText)) fail(`iopl ${quoteInput(valueText)} in register line ${quoteInput(text.trim(), 60)} is not 0-3`, line);
        iopl = BigInt(valueText);
        continue;
      }
      if (!MODELLED.has(name)) {
        if (valueText === '') fail(`Register ${shortText(name)} has no value in register line ${quoteInput(text.trim(), 60)}`, line);
        unmodelled.push(name);
        swallowing = true;
        continue;
      }
      const value = parseHex(valueText);
      if (value === undefined) fail(`Register ${name} has value ${quoteInput(valueText)}, which is not hex`, line);
      if (value > limitOf(name)) fail(`Register ${name} has value ${quoteInput(valueText)}, too wide for ${name}`, line);
      const arch = archOfRegisterName(name);
      if (arch) {
        first ??= { arch, name };
        if (arch !== first.arch) fail(`Register block mixes ${first.arch} (${first.name}) and ${arch} (${name}) registers`, line);
      }
      const register: RegisterName = PSR_NAMES.has(name) ? 'nzcv' : arch === 'arm64' ? ARM64_NAMES[name]! : (name as RegisterName);
      const held = PSR_NAMES.has(name) ? value & NZCV_BITS : value;
      const previous = registers[register];
      if (previous !== undefined && previous !== held) fail(`Register ${name} is shown twice with different values (${previous.toString(16)} and ${valueText})`, line);
      registers[register] = held;
    }
  }
  const block: RegisterBlock = { registers, unmodelled, line: lines[start]!.line, end };
  if (first) block.arch = first.arch;
  const flags = shownFlags(flagWords, block.arch, iopl);
  if (flags) block.shownFlags = flags;
  return block;
}
