/**
 * `kb` as WinDbg prints it after `.ecxr` or `.trap` set the context, with
 * the frames a stack scan found (see `crash/stack-scan.ts`):
 *
 * ```
 *   *** Stack trace for last set context - .thread/.cxr resets it
 *  # Child-SP          RetAddr               : Args to Child                                                           : Call Site
 * 00 000000ed`c39ed138 00007ffa`11d6af5f     : 00007ff8`a55dda02 000000ed`c39ed1a0 00000000`00000000 0000fff4`15d360e1 : ntdll!NtWaitForAlertByThreadId+0x14
 *
 *  # ChildEBP RetAddr  Args to Child
 * 00 0019f1d4 100aa414 06700ff8 0019fcd4 0019f30c FreeImaged!FreeImage_HasPixels+0x15
 * ```
 *
 * Frame i's call site is the pc (frame 0) or the previous return address;
 * its RetAddr is the i-th return address. x64/arm64: Child-SP is the stack
 * pointer in that frame (sp, then each return slot + 8) and Args to Child
 * are the four words after the return slot (the caller's home area). x86:
 * ChildEBP is the return slot − 4 (where a standard frame keeps ebp) and
 * the args are the three dwords after the return address. An address in
 * no module prints as `0x…`.
 *
 * @example
 * ```ts
 * stackTrace(view); // the header and one line a frame
 * ```
 */
import type { CrashMemory } from '../crash/memory.ts';
import { pcOf, pointerSize, spOf, type Registers, type WriterArch } from '../crash/registers.ts';
import type { ReturnAddress } from '../crash/stack-scan.ts';
import type { SymbolIndex } from '../crash/symbols.ts';
import { unreadable, windbgAddress } from './hex.ts';

/** What `kb` reads of a crash. */
export interface StackView {
  arch: WriterArch;
  memory: CrashMemory;
  symbols: SymbolIndex;
  registers: Registers;
  returnAddresses: ReturnAddress[];
}

export const LAST_SET_CONTEXT = '  *** Stack trace for last set context - .thread/.cxr resets it';

/**
 * A call site: `module!symbol+0xoff`, or `0x…` outside every module.
 *
 * @example
 * ```ts
 * callSite(view, 0n); // '0x00000000`00000000' on x64, '0x0' on x86
 * ```
 */
export function callSite(view: { arch: WriterArch; symbols: SymbolIndex }, address: bigint): string {
  return view.symbols.format(address) ?? (view.arch === 'x86' ? `0x${address.toString(16)}` : `0x${windbgAddress(view.arch, address)}`);
}

function word(view: StackView, address: bigint): string {
  const size = pointerSize(view.arch);
  const value = view.memory.readPointer(address, size);
  return value === undefined ? unreadable(size, size === 8) : windbgAddress(view.arch, value);
}

/**
 * `kb` output for the context in `view.registers`.
 *
 * @example
 * ```ts
 * stackTrace(view)[1]; // ' # Child-SP          RetAddr               : Args to Child …'
 * ```
 */
export function stackTrace(view: StackView): string[] {
  const { arch } = view;
  // With no return address found, one frame whose return address is 0, as WinDbg shows an ended walk.
  const returnAddresses = view.returnAddresses.length > 0 ? view.returnAddresses : [{ address: 0n }];
  const size = BigInt(pointerSize(arch));
  const sp = spOf(arch, view.registers);
  const pc = pcOf(arch, view.registers);
  const lines = [LAST_SET_CONTEXT];
  lines.push(arch === 'x86' ? ' # ChildEBP RetAddr  Args to Child              ' : ` # Child-SP          RetAddr               : Args to Child${' '.repeat(59)}: Call Site`);
  returnAddresses.forEach((ret, i) => {
    const index = i.toString(16).padStart(2, '0');
    const site = callSite(view, i === 0 ? pc : returnAddresses[i - 1]!.address);
    const slot = ret.slot ?? sp;
    if (arch === 'x86') {
      const args = [1n, 2n, 3n].map((k) => word(view, slot + k * size));
      lines.push(`${index} ${windbgAddress(arch, slot - size)} ${windbgAddress(arch, ret.address)} ${args.join(' ')} ${site}`);
      return;
    }
    const previous = i === 0 ? undefined : returnAddresses[i - 1]!.slot;
    const childSp = previous === undefined ? sp : previous + size;
    const args = [1n, 2n, 3n, 4n].map((k) => word(view, (ret.slot ?? childSp - size) + k * size));
    lines.push(`${index} ${windbgAddress(arch, childSp)} ${windbgAddress(arch, ret.address)}     : ${args.join(' ')} : ${site}`);
  });
  return lines;
}
