/**
 * Two symbol tables read as one: the names a dump carries (a minidump's
 * module list, a transcript's `u` headers and `ln` output) and the names
 * module files give (their `.symtab`/`.dynsym`, see module-binaries.ts).
 * An address takes the nearer of the two symbols at or below it, a named
 * symbol before a bare module, the dump's on a tie.
 *
 * @example
 * ```ts
 * const symbols = layeredSymbols(dump.symbols, () => fileIndex, 'x64');
 * symbols.format(0x5555555551a4n); // 'bugs!draw+0x4' from the file, where the dump only knew 'bugs+0x11a4'
 * ```
 */
import type { Arch } from '../../emu/registers.ts';
import type { SymbolLocation, SymbolTable } from './model.ts';
import { formatLocation } from './symbol-table.ts';

function nearer(a: SymbolLocation | undefined, b: SymbolLocation | undefined): SymbolLocation | undefined {
  if (!a || !b) return a ?? b;
  if ((a.symbol === undefined) !== (b.symbol === undefined)) return a.symbol !== undefined ? a : b;
  return b.offset < a.offset ? b : a;
}

/**
 * The table `dump` first, then `files()` (built on first use).
 *
 * @example
 * ```ts
 * layeredSymbols(dump.symbols, () => readFileSymbols(matches), dump.arch).resolve('bugs!main'); // from whichever knows it
 * ```
 */
export function layeredSymbols(dump: SymbolTable, files: () => SymbolTable, arch: Arch): SymbolTable {
  let built: SymbolTable | undefined;
  const fileTable = (): SymbolTable => (built ??= files());
  const lookup = (address: bigint): SymbolLocation | undefined => nearer(dump.lookup(address), fileTable().lookup(address));
  return {
    lookup,
    resolve: (name) => dump.resolve(name) ?? fileTable().resolve(name),
    format: (address) => formatLocation(lookup(address), address, arch),
    get size() {
      return dump.size + fileTable().size;
    },
  };
}
