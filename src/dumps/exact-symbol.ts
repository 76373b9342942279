/**
 * The name of the symbol that starts exactly at an address (a function's
 * first instruction, an import slot), or undefined: what WinDbg prints
 * beside an operand, and what "a known function start" means in a verdict.
 *
 * @example
 * ```ts
 * exactSymbol(dump.symbols, 0x80a5b020n); // 'hal!_imp__KiIpiServiceRoutine'
 * ```
 */
import type { SymbolTable } from './model.ts';

export function exactSymbol(symbols: SymbolTable, address: bigint): string | undefined {
  const location = symbols.lookup(address);
  return location?.symbol && location.offset === 0n ? symbols.format(address) : undefined;
}
