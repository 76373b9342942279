/**
 * WinDbg register blocks, as `r`, `.trap` and `.cxr` print them:
 *
 * ```
 * eax=0e364a01 ebx=f78aed50 ecx=f78aecb8 edx=000000e1 esi=f7727ec0 edi=f75d9ca2
 * eip=8082e3e1 esp=f78aecac ebp=f78aecc0 iopl=0         nv up ei pl nz na po nc
 * cs=0008  ss=0010  ds=0023  es=0023  fs=0030  gs=0000             efl=00000202
 * ```
 *
 * and the x64 layout (`rax=… rbx=… rcx=…` three a line, ` r8=`…`r15=`, then
 * `iopl=0 …` and the segment line). Only registers printed are recorded;
 * one that is absent stays absent. The flag mnemonics (`nv up ei pl nz na po
 * nc`) and `iopl` describe part of `efl`; they are returned with the bits
 * they cover so the caller can check them against `efl=` or use them when
 * `efl=` is missing (x64 `.trap` prints no segment line).
 *
 * @example
 * ```ts
 * const lines = [{ text: 'eax=00000001 eip=8082e3e1 iopl=0 nv up ei pl nz na po nc', line: 7 }];
 * const block = readRegisterBlock(lines, 0, (message, line) => { throw new Error(`${line}: ${message}`); });
 * block.registers.eip;    // 0x8082e3e1n
 * block.mnemonicEfl;      // { value: 0x202n, mask: 0x3ed7n }
 * ```
 */
import { X64_REGISTERS, X86_REGISTERS, type RegisterName, type RegisterValues } from '../../../emu/registers.ts';
import { parseHex } from '../hex.ts';
import type { TranscriptLine } from './lexer.ts';

/** A register block read from consecutive lines. */
export interface RegisterBlock {
  registers: RegisterValues;
  /** x86 when e-registers were shown, x64 when r-registers were; undefined when only shared ones (efl, segments). */
  arch?: 'x86' | 'x64';
  /** `efl` bits the flag mnemonics and `iopl` show, and which bits those are. */
  mnemonicEfl?: { value: bigint; mask: bigint };
  /** Names shown that faultline does not model (`dr0`, `cr0`, `xmm0`), in order. */
  unmodelled: string[];
  /** Line of the block's first line. */
  line: number;
  /** Index in `lines` just after the block. */
  end: number;
}

/** Called for a malformed block line; must throw. */
export type RegisterBlockFailure = (message: string, line: number) => never;

const X86_ONLY = new Set<string>(['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp', 'esp', 'eip']);
const X64_ONLY = new Set<string>(X64_REGISTERS.filter((r) => r.startsWith('r')));
const SEGMENTS = new Set<string>(['cs', 'ss', 'ds', 'es', 'fs', 'gs']);
const MODELLED = new Set<string>([...X86_REGISTERS, ...X64_REGISTERS]);
const ASSIGNMENT = /^([a-z$@][a-z0-9_$]*)=(.*)$/i;

/** Flag mnemonic → [efl bit, whether the mnemonic means the bit is set]. */
const FLAG_MNEMONICS: Record<string, [bigint, boolean]> = {
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
/** Bit 1 of EFLAGS always reads as 1. */
const EFL_RESERVED = 0x2n;
const IOPL_MASK = 0x3000n;

function firstToken(text: string): string {
  return text.trim().split(/\s+/)[0] ?? '';
}

/**
 * True when `text` opens a register block: its first token assigns a
 * register faultline knows (`eax=`, ` r8=`, `efl=`) or `iopl=`.
 *
 * @example
 * ```ts
 * startsRegisterBlock(' r8=0000000000000000  r9=0000000000000000'); // true
 * startsRegisterBlock('ErrCode = 00000000');                          // false
 * ```
 */
export function startsRegisterBlock(text: string): boolean {
  const match = ASSIGNMENT.exec(firstToken(text));
  return match !== null && (MODELLED.has(match[1]!.toLowerCase()) || match[1]!.toLowerCase() === 'iopl');
}

function continuesBlock(text: string): boolean {
  const tokens = text.trim().split(/\s+/).filter(Boolean);
  if (tokens.length === 0) return false;
  if (ASSIGNMENT.test(tokens[0]!)) return true;
  return tokens.every((t) => t.toLowerCase() in FLAG_MNEMONICS);
}

function limitOf(name: string): bigint {
  if (SEGMENTS.has(name)) return 0xffffn;
  if (X86_ONLY.has(name)) return 0xffff_ffffn;
  return 0xffff_ffff_ffff_ffffn;
}

/**
 * Reads the register block starting at `lines[start]` (which must satisfy
 * `startsRegisterBlock`) up to the first line that is not part of it.
 * Calls `fail` for a line with a token that is neither `name=hex` nor a flag
 * mnemonic, a value that is not hex or too wide, a register shown twice with
 * two values, or a mix of x86 and x64 names.
 *
 * @example
 * ```ts
 * readRegisterBlock([{ text: 'efl=00000202', line: 3 }], 0, fail).registers; // { efl: 0x202n }
 * ```
 */
export function readRegisterBlock(lines: TranscriptLine[], start: number, fail: RegisterBlockFailure): RegisterBlock {
  const registers: RegisterValues = {};
  const unmodelled: string[] = [];
  let flagValue = 0n;
  let flagMask = 0n;
  let x86Name: string | undefined;
  let x64Name: string | undefined;
  let end = start;
  for (; end < lines.length; end++) {
    const { text, line } = lines[end]!;
    if (end > start && !continuesBlock(text)) break;
    let swallowing = false;
    for (const token of text.trim().split(/\s+/)) {
      const assignment = ASSIGNMENT.exec(token);
      const lower = token.toLowerCase();
      if (!assignment) {
        const flag = FLAG_MNEMONICS[lower];
        if (flag) {
          flagMask |= flag[0];
          if (flag[1]) flagValue |= flag[0];
        } else if (!swallowing) {
          fail(`Cannot read '${token}' in register line '${text.trim()}': expected NAME=VALUE or a flag mnemonic such as 'nv' or 'zr'`, line);
        }
        continue;
      }
      const name = assignment[1]!.toLowerCase();
      const valueText = assignment[2]!;
      swallowing = false;
      if (name === 'iopl') {
        if (!/^[0-3]$/.test(valueText)) fail(`iopl '${valueText}' in register line '${text.trim()}' is not 0-3`, line);
        flagValue |= BigInt(valueText) << 12n;
        flagMask |= IOPL_MASK;
        continue;
      }
      if (!MODELLED.has(name)) {
        if (valueText === '') fail(`Register ${name} has no value in register line '${text.trim()}'`, line);
        unmodelled.push(name);
        swallowing = true;
        continue;
      }
      const value = parseHex(valueText);
      if (value === undefined) fail(`Register ${name} has value '${valueText}', which is not hex`, line);
      if (value > limitOf(name)) fail(`Register ${name} has value '${valueText}', too wide for ${name}`, line);
      const previous = registers[name as RegisterName];
      if (previous !== undefined && previous !== value) fail(`Register ${name} is shown twice with different values (${previous.toString(16)} and ${valueText})`, line);
      registers[name as RegisterName] = value;
      if (X86_ONLY.has(name)) x86Name ??= name;
      if (X64_ONLY.has(name)) x64Name ??= name;
      if (x86Name && x64Name) fail(`Register block mixes x86 (${x86Name}) and x64 (${x64Name}) registers`, line);
    }
  }
  const block: RegisterBlock = { registers, unmodelled, line: lines[start]!.line, end };
  if (x86Name) block.arch = 'x86';
  if (x64Name) block.arch = 'x64';
  if (flagMask !== 0n) block.mnemonicEfl = { value: flagValue | EFL_RESERVED, mask: flagMask | EFL_RESERVED };
  return block;
}
