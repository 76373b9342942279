/**
 * The fault as WinDbg reports it: `.exr -1` in a user-mode session and
 * `.bugcheck` in a kernel one (bug check 0x1E KMODE_EXCEPTION_NOT_HANDLED:
 * the exception code, its address, and parameters 0 and 1).
 *
 * ```
 * ExceptionAddress: 00007ff66d771101 (AccessV!main+0x0000000000000101)
 *    ExceptionCode: c0000005 (Access violation)
 *   ExceptionFlags: 00000000
 * NumberParameters: 2
 *    Parameter[0]: 0000000000000001
 *    Parameter[1]: 0000000000000000
 * Attempt to write to address 0000000000000000
 *
 * Bugcheck code 0000001E
 * Arguments ffffffff`c0000005 fffff803`6f6d2316 00000000`00000000 00000000`00000014
 * ```
 *
 * `.exr` pads the symbol offset to the pointer width; x64 bug check
 * arguments sign-extend the 32-bit exception code, as WinDbg shows them.
 *
 * @example
 * ```ts
 * exceptionRecord(crash); // the lines above
 * ```
 */
import { EXCEPTION_NAMES, STATUS_ACCESS_VIOLATION, STATUS_STACK_BUFFER_OVERRUN, type WindowsException } from '../crash/exception.ts';
import { pointerSize, type WriterArch } from '../crash/registers.ts';
import type { SymbolIndex } from '../crash/symbols.ts';
import { hex, plainPointer, windbgAddress } from './hex.ts';

/** What the fault commands read of a crash. */
export interface FaultView {
  arch: WriterArch;
  exception: WindowsException;
  symbols: SymbolIndex;
}

const FAST_FAIL_NAMES: Record<string, string> = { '7': 'FAST_FAIL_FATAL_APP_EXIT' };

function accessLine(arch: WriterArch, exception: WindowsException): string | undefined {
  if (exception.code !== STATUS_ACCESS_VIOLATION || exception.parameters.length < 2) return undefined;
  const address = plainPointer(arch, exception.parameters[1]!);
  switch (exception.parameters[0]) {
    case 0n: return `Attempt to read from address ${address}`;
    case 1n: return `Attempt to write to address ${address}`;
    case 8n: return `Attempt to execute non-executable address ${address}`;
    default: return undefined;
  }
}

/**
 * `.exr -1` output.
 *
 * @example
 * ```ts
 * exceptionRecord({ arch: 'x86', exception, symbols })[1]; // '   ExceptionCode: c0000005 (Access violation)'
 * ```
 */
export function exceptionRecord(view: FaultView): string[] {
  const { arch, exception, symbols } = view;
  const digits = pointerSize(arch) * 2;
  const name = symbols.format(exception.address, digits);
  const lines = [
    `ExceptionAddress: ${plainPointer(arch, exception.address)}${name ? ` (${name})` : ''}`,
    `   ExceptionCode: ${hex(BigInt(exception.code), 8)} (${EXCEPTION_NAMES[exception.code] ?? 'Unknown exception'})`,
    `  ExceptionFlags: ${hex(BigInt(exception.flags), 8)}`,
    `NumberParameters: ${exception.parameters.length}`,
    ...exception.parameters.map((p, i) => `   Parameter[${i}]: ${plainPointer(arch, p)}`),
  ];
  const access = accessLine(arch, exception);
  if (access) lines.push(access);
  if (exception.code === STATUS_STACK_BUFFER_OVERRUN && exception.parameters[0] !== undefined) {
    const code = exception.parameters[0].toString(16);
    lines.push(`Subcode: 0x${code} ${FAST_FAIL_NAMES[code] ?? ''}`.trimEnd());
  }
  return lines;
}

/** KMODE_EXCEPTION_NOT_HANDLED. */
export const BUGCHECK_KMODE_EXCEPTION_NOT_HANDLED = 0x1en;

/**
 * The four arguments of bug check 0x1E for `exception`.
 *
 * @example
 * ```ts
 * bugcheckArguments('x64', exception); // [0xffffffffc0000005n, pc, 0n, 8n]
 * ```
 */
export function bugcheckArguments(arch: WriterArch, exception: WindowsException): bigint[] {
  const code = BigInt(exception.code);
  const wideCode = arch === 'x86' ? code : BigInt.asUintN(64, BigInt.asIntN(32, code));
  return [wideCode, exception.address, exception.parameters[0] ?? 0n, exception.parameters[1] ?? 0n];
}

/**
 * `.bugcheck` output.
 *
 * @example
 * ```ts
 * bugcheck({ arch: 'x86', exception, symbols }); // ['Bugcheck code 0000001E', 'Arguments c0000005 40001607 00000000 00000000']
 * ```
 */
export function bugcheck(view: FaultView): string[] {
  const args = bugcheckArguments(view.arch, view.exception).map((a) => windbgAddress(view.arch, a));
  return [`Bugcheck code ${hex(BUGCHECK_KMODE_EXCEPTION_NOT_HANDLED, 8).toUpperCase()}`, `Arguments ${args.join(' ')}`];
}
