/**
 * The `Fault` a minidump's Exception stream describes, read the way its
 * platform's writer filled it: Windows' EXCEPTION_RECORD as an exception,
 * Linux's signal (Breakpad: code = signal, flags = si_code, address =
 * si_addr) as a signal, and macOS's Mach exception as an exception whose
 * parameters are the Mach code and subcode. On x86, addresses and parameters
 * are cut to 32 bits: some writers leave garbage in the upper halves (see
 * Breakpad's minidump_32bit_crash_addr.dmp).
 *
 * A Windows record whose ExceptionAddress is 0 takes the exception
 * context's pc instead: a record a handler synthesised rather than one the
 * CPU raised (the CRT's invalid-parameter handler and crashpad's
 * dump-without-crash write STATUS_INVALID_PARAMETER and friends with no
 * address; rust-minidump's invalid-parameter.dmp), whose context is where
 * the process was. Any other address is kept even when the context's pc
 * differs, since it names the faulting instruction where the context may
 * not (an x86 `int 3` leaves the pc after it).
 *
 * @example
 * ```ts
 * faultOf(exception, 'windows', 'x86', pc, notes); // { kind: 'exception', code: 0xc0000005n, … }
 * ```
 */
import type { Arch } from '../../../emu/registers.ts';
import type { DumpNote, Fault } from '../model.ts';
import type { MinidumpException } from './exception.ts';

/** Breakpad's MD_EXCEPTION_CODE_LIN_DUMP_REQUESTED: a dump taken on request, not a crash. */
const DUMP_REQUESTED = 0xffffffff;
const SIGNAL_PLATFORMS = new Set(['linux', 'android', 'solaris', 'unix', 'fuchsia', 'nacl']);
const MACH_PLATFORMS = new Set(['macos', 'ios']);

/**
 * The fault, or undefined for a dump taken on request. `pc` is the
 * exception context's pc, used as the address of a Mach exception (whose
 * record holds the faulting data address instead). Masking and requested
 * dumps are reported in `notes`.
 *
 * @example
 * ```ts
 * faultOf(exception, 'linux', 'x64', 0x402170n, notes); // { kind: 'signal', signal: 11, address: 0n, code: 1, … }
 * ```
 */
export function faultOf(exception: MinidumpException, os: string | undefined, arch: Arch, pc: bigint | undefined, notes: DumpNote[]): Fault | undefined {
  const provenance = { source: 'ExceptionStream', offset: exception.offset };
  const { threadId } = exception;
  const code = exception.exceptionCode;
  if (os !== undefined && SIGNAL_PLATFORMS.has(os)) {
    if (code === DUMP_REQUESTED) {
      notes.push({ level: 'info', message: `The dump was requested (exception code 0xffffffff), not written for a crash; thread 0x${threadId.toString(16)} requested it`, provenance });
      return undefined;
    }
    return { kind: 'signal', signal: code, address: exception.exceptionAddress, code: exception.exceptionFlags, threadId, provenance };
  }
  if (os !== undefined && MACH_PLATFORMS.has(os)) {
    return {
      kind: 'exception',
      code: BigInt(code),
      address: pc ?? exception.exceptionAddress,
      parameters: [BigInt(exception.exceptionFlags), exception.exceptionAddress],
      threadId,
      provenance,
    };
  }
  const mask = (value: bigint, what: string): bigint => {
    if (arch !== 'x86' || value <= 0xffff_ffffn) return value;
    notes.push({ level: 'warning', message: `ExceptionStream ${what} 0x${value.toString(16)} has upper bits set in an x86 dump; read as 0x${(value & 0xffff_ffffn).toString(16)}`, provenance });
    return value & 0xffff_ffffn;
  };
  let address = mask(exception.exceptionAddress, 'ExceptionAddress');
  if (address === 0n && pc !== undefined && pc !== 0n) {
    notes.push({ level: 'info', message: `ExceptionStream ExceptionAddress is 0 (a synthesised record): the fault pc is the exception context's, 0x${pc.toString(16)}`, provenance });
    address = pc;
  }
  return {
    kind: 'exception',
    code: BigInt(code),
    address,
    parameters: exception.exceptionInformation.map((value, i) => mask(value, `ExceptionInformation[${i}]`)),
    threadId,
    provenance,
  };
}
