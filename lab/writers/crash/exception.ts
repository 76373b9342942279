/**
 * The Windows exception a Linux signal becomes, as Windows would have
 * recorded the same fault (EXCEPTION_RECORD; codes from ntstatus.h, names
 * as WinDbg's `.exr` prints them):
 *
 * | signal          | ExceptionCode                                   | parameters                       |
 * |-----------------|-------------------------------------------------|----------------------------------|
 * | SIGSEGV, SIGBUS | c0000005 Access violation                       | 0 read / 1 write / 8 execute, address |
 * | SIGILL          | c000001d Illegal instruction                    | none                             |
 * | SIGFPE          | c0000094 Integer divide-by-zero                 | none                             |
 * | SIGTRAP         | 80000003 Break instruction exception            | 0 (BREAKPOINT_BREAK)             |
 * | SIGABRT         | c0000409 Security check failure or stack buffer overrun, flags 1 (noncontinuable) | 7 FAST_FAIL_FATAL_APP_EXIT (MSVC's abort() fails fast) |
 * | SIGSEGV at a privileged x86 instruction (`hlt`, `in`, `cli`, `wrmsr`, …) | c0000096 Privileged instruction | none |
 *
 * Two differences from Linux's view: an x86 int3 is reported at the int3
 * itself, and the context's pc is moved back to it (Linux's pc is past it);
 * an x64 #GP from a non-canonical address (Linux: SIGSEGV, si_code
 * SI_KERNEL, si_addr 0) is a read of ffffffffffffffff, and so is a far
 * return or jump whose selector the CPU refused (#GP; ffffffff on x86),
 * which a qemu-i386 core records with no siginfo at all.
 *
 * @example
 * ```ts
 * const ex = windowsException(crash, decoder);
 * ex.code;       // 0xc0000005
 * ex.parameters; // [0n, 8n]: a read of address 8
 * ```
 */
import type { Decoder } from '../disasm/decoder.ts';
import { analyzeAccess, type AccessFacts, type AccessInput } from './access.ts';
import { pcOf } from './registers.ts';

export const STATUS_ACCESS_VIOLATION = 0xc0000005;
export const STATUS_ILLEGAL_INSTRUCTION = 0xc000001d;
export const STATUS_INTEGER_DIVIDE_BY_ZERO = 0xc0000094;
export const STATUS_BREAKPOINT = 0x80000003;
export const STATUS_STACK_BUFFER_OVERRUN = 0xc0000409;
export const STATUS_PRIVILEGED_INSTRUCTION = 0xc0000096;
export const FAST_FAIL_FATAL_APP_EXIT = 7n;
const SI_KERNEL = 0x80;

/** WinDbg's `.exr` name for each code. */
export const EXCEPTION_NAMES: Record<number, string> = {
  [STATUS_ACCESS_VIOLATION]: 'Access violation',
  [STATUS_ILLEGAL_INSTRUCTION]: 'Illegal instruction',
  [STATUS_INTEGER_DIVIDE_BY_ZERO]: 'Integer divide-by-zero',
  [STATUS_BREAKPOINT]: 'Break instruction exception',
  [STATUS_STACK_BUFFER_OVERRUN]: 'Security check failure or stack buffer overrun',
  [STATUS_PRIVILEGED_INSTRUCTION]: 'Privileged instruction',
};

/** x86 instructions a user-mode process may not run (Intel SDM: #GP at CPL 3 with IOPL 0), by Capstone mnemonic. */
const PRIVILEGED = new Set([
  'hlt', 'cli', 'sti', 'in', 'out', 'insb', 'insw', 'insd', 'outsb', 'outsw', 'outsd', 'clts', 'invd', 'wbinvd',
  'wrmsr', 'rdmsr', 'lgdt', 'lidt', 'lldt', 'ltr', 'lmsw', 'invlpg', 'swapgs', 'sysexit',
]);
/** Far transfers, whose selector a user-mode CPU checks (#GP when it is no code segment the process may use). */
const FAR = new Set(['retf', 'retfq', 'iret', 'iretd', 'iretq', 'ljmp', 'lcall']);

/** The instruction at the crash's pc, by the writers' own decoder. */
function instructionAt(crash: SignalledCrash, decoder: Decoder, pc: bigint) {
  const bytes = crash.memory.read(pc, 15) ?? crash.memory.read(pc, 1);
  return bytes ? decoder.decode(bytes, pc) : undefined;
}

/** The Windows view of the fault. */
export interface WindowsException {
  code: number;
  /** ExceptionFlags: 1 (EXCEPTION_NONCONTINUABLE) for a fail-fast. */
  flags: number;
  /** ExceptionAddress. */
  address: bigint;
  parameters: bigint[];
  /** The pc of the exception context (the int3 itself after a breakpoint on x86). */
  contextPc: bigint;
  /** For access violations: what the instruction did. */
  access?: AccessFacts;
}

/** A crash as `windowsException` needs it. */
export interface SignalledCrash extends AccessInput {
  signal: number;
  siCode?: number;
}

/**
 * The exception for the crash's signal; throws for a signal Windows has no
 * exception for here (SIGKILL, SIGSYS, …).
 *
 * @example
 * ```ts
 * windowsException({ arch: 'x86', signal: 5, registers, memory }, decoder); // { code: 0x80000003, address: eip - 1n, … }
 * ```
 */
export function windowsException(crash: SignalledCrash, decoder: Decoder): WindowsException {
  const pc = pcOf(crash.arch, crash.registers);
  switch (crash.signal) {
    case 11:
    case 7: {
      const insn = crash.arch === 'arm64' ? undefined : instructionAt(crash, decoder, pc);
      const privileged = insn !== undefined && (PRIVILEGED.has(insn.mnemonic) || (insn.mnemonic === 'mov' && /\b[cd]r\d+\b/.test(insn.operands)));
      if (privileged) return { code: STATUS_PRIVILEGED_INSTRUCTION, flags: 0, address: pc, parameters: [], contextPc: pc };
      const all = crash.arch === 'x86' ? 0xffff_ffffn : 0xffff_ffff_ffff_ffffn;
      if (insn !== undefined && FAR.has(insn.mnemonic) && crash.siAddr === undefined) {
        const access = analyzeAccess({ ...crash, siAddr: undefined }, decoder);
        return { code: STATUS_ACCESS_VIOLATION, flags: 0, address: pc, parameters: [0n, all], contextPc: pc, access: { ...access, kind: 'read', address: all, how: `a general-protection fault (${insn.mnemonic} to a selector the CPU refused)` } };
      }
      if (crash.arch === 'x64' && crash.siCode === SI_KERNEL && (crash.siAddr ?? 0n) === 0n) {
        // #GP: Windows reports an access violation reading ffffffffffffffff.
        const access = analyzeAccess({ ...crash, siAddr: undefined }, decoder);
        return { code: STATUS_ACCESS_VIOLATION, flags: 0, address: pc, parameters: [0n, 0xffff_ffff_ffff_ffffn], contextPc: pc, access: { ...access, kind: 'read', address: 0xffff_ffff_ffff_ffffn, how: 'a general-protection fault (si_code SI_KERNEL)' } };
      }
      const access = analyzeAccess(crash, decoder);
      const kind = access.kind === 'execute' ? 8n : access.kind === 'write' ? 1n : 0n;
      return { code: STATUS_ACCESS_VIOLATION, flags: 0, address: pc, parameters: [kind, access.address ?? 0n], contextPc: pc, access };
    }
    case 4:
      return { code: STATUS_ILLEGAL_INSTRUCTION, flags: 0, address: pc, parameters: [], contextPc: pc };
    case 8:
      return { code: STATUS_INTEGER_DIVIDE_BY_ZERO, flags: 0, address: pc, parameters: [], contextPc: pc };
    case 5: {
      let at = pc;
      if (crash.arch !== 'arm64') {
        if (crash.memory.read(pc - 1n, 1)?.[0] === 0xcc) at = pc - 1n;
        else if (crash.memory.read(pc - 2n, 2)?.join(',') === '205,3') at = pc - 2n;
      }
      return { code: STATUS_BREAKPOINT, flags: 0, address: at, parameters: [0n], contextPc: at };
    }
    case 6:
      return { code: STATUS_STACK_BUFFER_OVERRUN, flags: 1, address: pc, parameters: [FAST_FAIL_FATAL_APP_EXIT], contextPc: pc };
    default:
      throw new RangeError(`Signal ${crash.signal} has no Windows exception in the lab writers (SIGSEGV 11, SIGBUS 7, SIGILL 4, SIGTRAP 5, SIGABRT 6, SIGFPE 8)`);
  }
}
