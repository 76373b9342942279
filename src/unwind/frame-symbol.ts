/**
 * Names a walked frame's function: a caller's is looked up at its return
 * address − 1 (the call), as gdb does, so a call that ends a function (a
 * `noreturn` callee) names that function and not the next one.
 *
 * @example
 * ```ts
 * frameSymbol(dump, frame); // { module: 'prog', symbol: 'level2', base: 0x401200n, offset: 0x5bn }
 * formatFrame(dump, frame); // 'prog!level2+0x5b'
 * ```
 */
import type { Dump, SymbolLocation } from '../dumps/model.ts';
import { formatLocation } from '../dumps/symbol-table.ts';
import type { StackFrame } from './frame.ts';

/** The frame's function and the pc's offset in it, or undefined when no symbol covers it. */
export function frameSymbol(dump: Dump, frame: Pick<StackFrame, 'index' | 'pc'>): SymbolLocation | undefined {
  const location = dump.symbols.lookup(frame.index === 0 ? frame.pc : frame.pc - 1n);
  return location && { ...location, offset: frame.pc - location.base };
}

/** `module!function+0xoff` for the frame, or its pc in WinDbg's style. */
export function formatFrame(dump: Dump, frame: Pick<StackFrame, 'index' | 'pc'>): string {
  return formatLocation(frameSymbol(dump, frame), frame.pc, dump.arch);
}
