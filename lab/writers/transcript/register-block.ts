/**
 * Register blocks as WinDbg prints them for `r`, `.ecxr`, `.cxr` and `.trap`:
 *
 * ```
 * x86:
 * eax=00000000 ebx=40003ff4 ecx=3f7fea50 edx=00000000 esi=3ffffa21 edi=00000000
 * eip=40001607 esp=3ffff7ac ebp=3ffff7e8 iopl=0         nv up ei pl nz na pe nc
 * cs=0023  ss=002b  ds=002b  es=002b  fs=0000  gs=0033             efl=00000206
 * x64 (three a line, names right-aligned to 3 columns):
 * rax=0000000000000000 rbx=00007ffe19b25a21 rcx=0000557e12fe02a0
 * …
 *  r8=0000000000000008  r9=0000000000021001 r10=00007f1d58ad9778
 * r14=0000557dd3eaedc8 r15=00007f1d58cf8020
 * iopl=0         nv up ei pl nz na po nc
 * cs=0033  ss=002b  ds=0000  es=0000  fs=0000  gs=0000             efl=00010202
 * arm64 (four a line, two spaces apart):
 *  x0=00000055000212a0   x1=0000000000000003   x2=0000000000000000   x3=0000000000000018
 * …
 * x28=0000000000000000   fp=00000055028215d0   lr=0000005500000a84   sp=00000055028215d0
 *  pc=0000005500000da4  psr=80000000 N--- EL0
 * ```
 *
 * The flag mnemonics are, in order, OF (ov/nv), DF (dn/up), IF (ei/di),
 * SF (ng/pl), ZF (zr/nz), AF (ac/na), PF (pe/po), CF (cy/nc). x64 WinDbg
 * prints the parity pair the other way round: `po` with PF set, `pe` with
 * it clear (every x64 session we found shows efl=00010246 as `zr na po`
 * and efl=00010202 as `nz na pe`, while x86 sessions show 0x246 as `pe`
 * and 0x202 as `po`); the writer does the same. An x64 trap
 * frame prints no segment line and zeros for the registers it does not
 * save (rbx, rsi, rdi, r12–r15), under WinDbg's NOTE.
 *
 * @example
 * ```ts
 * registerBlock('x64', registers); // the 8 lines above
 * ```
 */
import type { Registers, WriterArch } from '../crash/registers.ts';
import { hex } from './hex.ts';

/** Registers an x64 KTRAP_FRAME does not save: WinDbg shows them as zero. */
export const X64_TRAP_UNSAVED = ['rbx', 'rsi', 'rdi', 'r12', 'r13', 'r14', 'r15'];

/** WinDbg's note above an x64 `.trap` block. */
export const X64_TRAP_NOTE = ['NOTE: The trap frame does not contain all registers.', 'Some register values may be zeroed or incorrect.'];

const FLAGS: [bigint, string, string][] = [
  [0x800n, 'ov', 'nv'],
  [0x400n, 'dn', 'up'],
  [0x200n, 'ei', 'di'],
  [0x80n, 'ng', 'pl'],
  [0x40n, 'zr', 'nz'],
  [0x10n, 'ac', 'na'],
  [0x4n, 'pe', 'po'],
  [0x1n, 'cy', 'nc'],
];

/**
 * `iopl=N` and the flag mnemonics for an EFLAGS value, as WinDbg for `arch` prints them.
 *
 * @example
 * ```ts
 * flagText(0x10246n, 'x86'); // 'iopl=0         nv up ei pl zr na pe nc'
 * flagText(0x10246n, 'x64'); // 'iopl=0         nv up ei pl zr na po nc'
 * ```
 */
export function flagText(efl: bigint, arch: 'x86' | 'x64'): string {
  const mnemonics = FLAGS.map(([bit, set, clear]) => {
    const isSet = (efl & bit) !== 0n;
    return (bit === 0x4n && arch === 'x64' ? !isSet : isSet) ? set : clear;
  }).join(' ');
  return `iopl=${(efl >> 12n) & 3n}         ${mnemonics}`;
}

function field(name: string, value: bigint, digits: number): string {
  return `${name.padStart(3)}=${hex(value, digits)}`;
}

function segmentLine(r: Registers): string {
  const segments = ['cs', 'ss', 'ds', 'es', 'fs', 'gs'].map((s) => `${s}=${hex(r[s] ?? 0n, 4)}`).join('  ');
  return `${segments}             efl=${hex(r.eflags ?? 0n, 8)}`;
}

function x86Block(r: Registers): string[] {
  const value = (name: string) => r[name] ?? 0n;
  return [
    ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi'].map((n) => field(n, value(n), 8)).join(' '),
    `${['eip', 'esp', 'ebp'].map((n) => field(n, value(n), 8)).join(' ')} ${flagText(value('eflags'), 'x86')}`,
    segmentLine(r),
  ];
}

function x64Block(r: Registers, trapFrame: boolean): string[] {
  const value = (name: string) => (trapFrame && X64_TRAP_UNSAVED.includes(name) ? 0n : r[name] ?? 0n);
  const rows = [['rax', 'rbx', 'rcx'], ['rdx', 'rsi', 'rdi'], ['rip', 'rsp', 'rbp'], ['r8', 'r9', 'r10'], ['r11', 'r12', 'r13'], ['r14', 'r15']];
  const lines = rows.map((row) => row.map((n) => field(n, value(n), 16)).join(' '));
  lines.push(flagText(r.eflags ?? 0n, 'x64'));
  if (!trapFrame) lines.push(segmentLine(r));
  return lines;
}

/**
 * The NZCV letters and exception level WinDbg shows after `psr=`.
 *
 * @example
 * ```ts
 * psrText(0x60000000n); // '-ZC- EL0'
 * ```
 */
export function psrText(pstate: bigint): string {
  const letters = ['N', 'Z', 'C', 'V'].map((letter, i) => ((pstate >> BigInt(31 - i)) & 1n ? letter : '-')).join('');
  return `${letters} EL${(pstate >> 2n) & 3n}`;
}

function arm64Block(r: Registers): string[] {
  const names = [...Array.from({ length: 29 }, (_, i) => `x${i}`), 'fp', 'lr', 'sp'];
  const value = (name: string) => r[name === 'fp' ? 'x29' : name === 'lr' ? 'x30' : name] ?? 0n;
  const lines: string[] = [];
  for (let i = 0; i < names.length; i += 4) lines.push(names.slice(i, i + 4).map((n) => field(n, value(n), 16)).join('  '));
  lines.push(`${field('pc', value('pc'), 16)}  psr=${hex(value('pstate'), 8)} ${psrText(value('pstate'))}`);
  return lines;
}

/**
 * The register block for `arch`; `trapFrame` gives the x64 `.trap` form
 * (its NOTE is printed by the caller).
 *
 * @example
 * ```ts
 * registerBlock('arm64', registers).at(-1); // ' pc=0000005500000da4  psr=80000000 N--- EL0'
 * ```
 */
export function registerBlock(arch: WriterArch, registers: Registers, options: { trapFrame?: boolean } = {}): string[] {
  if (arch === 'x86') return x86Block(registers);
  if (arch === 'x64') return x64Block(registers, options.trapFrame ?? false);
  return arm64Block(registers);
}
