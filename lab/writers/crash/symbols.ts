/**
 * Addresses to names the way WinDbg shows them: `module!symbol+0xoff`,
 * `module+0xoff` inside a module without a symbol there, or nothing. The
 * module name is WinDbg's: the file name without its last extension, with
 * characters a symbol name cannot hold turned into `_` (libc.so.6 →
 * libc_so, ld-linux-x86-64.so.2 → ld_linux_x86_64_so).
 *
 * @example
 * ```ts
 * const symbols = new SymbolIndex(modules);
 * symbols.lookup(0x557dd3eac514n); // { module: 'bugs', symbol: 'draw', start: 0x557dd3eac510n, offset: 4n }
 * symbols.format(0x557dd3eac514n); // 'bugs!draw+0x4'
 * ```
 */
import { basename } from 'node:path';
import type { CrashModule } from './modules.ts';

/** Where an address is: its module, and the symbol holding it when one does. */
export interface SymbolPlace {
  module: string;
  symbol?: string;
  /** The symbol's address, or the module's base without a symbol. */
  start: bigint;
  offset: bigint;
  /** The symbol's size, when known (0 when the symbol table gives none). */
  size?: bigint;
}

/**
 * WinDbg's module name for a file path.
 *
 * @example
 * ```ts
 * windbgModuleName('/lib/x86_64-linux-gnu/libc.so.6'); // 'libc_so'
 * windbgModuleName('/tmp/bugs');                       // 'bugs'
 * ```
 */
export function windbgModuleName(path: string): string {
  const file = basename(path);
  const dot = file.lastIndexOf('.');
  const stem = dot > 0 ? file.slice(0, dot) : file;
  return stem.replace(/[^A-Za-z0-9_]/g, '_');
}

interface Entry {
  address: bigint;
  size: bigint;
  name: string;
  code: boolean;
}

/** The symbols of every module, by run-time address. */
export class SymbolIndex {
  private readonly tables: { module: CrashModule; name: string; entries: Entry[] }[];

  constructor(modules: CrashModule[]) {
    const names = new Map<string, number>();
    this.tables = modules.map((module) => {
      let name = windbgModuleName(module.path);
      const count = names.get(name) ?? 0;
      names.set(name, count + 1);
      if (count > 0) name = `${name}_${module.base.toString(16)}`;
      const entries = module.symbols.map((s) => ({ address: s.value + module.bias, size: s.size, name: s.name, code: s.code }));
      return { module, name, entries };
    });
  }

  /**
   * The WinDbg name of `module`.
   *
   * @example
   * ```ts
   * symbols.moduleName(modules[0]); // 'bugs'
   * ```
   */
  moduleName(module: CrashModule): string {
    return this.tables.find((t) => t.module === module)?.name ?? windbgModuleName(module.path);
  }

  /**
   * Where `address` is: the function or object holding it (by size when
   * sizes are known, else the nearest one below), or just its module.
   *
   * @example
   * ```ts
   * symbols.lookup(0n); // undefined
   * ```
   */
  lookup(address: bigint): SymbolPlace | undefined {
    const table = this.tables.find((t) => address >= t.module.base && address < t.module.end);
    if (!table) return undefined;
    // The innermost symbol whose size covers the address; else, as with export
    // symbols, the nearest function below it.
    let containing: Entry | undefined;
    let nearest: Entry | undefined;
    for (const entry of table.entries) {
      if (entry.address > address) break;
      if (entry.size > 0n && address < entry.address + entry.size) containing = entry;
      if (entry.code) nearest = entry;
    }
    const best = containing ?? nearest;
    if (!best) return { module: table.name, start: table.module.base, offset: address - table.module.base };
    return { module: table.name, symbol: best.name, start: best.address, offset: address - best.address, size: best.size };
  }

  /**
   * The function holding `address`, by its symbol's size, for sweeping
   * instructions from its start.
   *
   * @example
   * ```ts
   * symbols.functionAt(returnAddress)?.start; // the caller's entry point
   * ```
   */
  functionAt(address: bigint): { start: bigint; end: bigint } | undefined {
    const table = this.tables.find((t) => address >= t.module.base && address < t.module.end);
    const entry = table?.entries.filter((e) => e.code && e.size > 0n && address >= e.address && address < e.address + e.size).pop();
    return entry ? { start: entry.address, end: entry.address + entry.size } : undefined;
  }

  /**
   * `module!symbol+0xoff`, `module!symbol`, `module+0xoff`, or undefined
   * outside every module. `offsetDigits` pads the offset as `.exr` does.
   *
   * @example
   * ```ts
   * symbols.format(pc);                    // 'bugs!draw+0x4'
   * symbols.format(pc, 16);                // 'bugs!draw+0x0000000000000004'
   * ```
   */
  format(address: bigint, offsetDigits = 0): string | undefined {
    const place = this.lookup(address);
    if (!place) return undefined;
    const name = place.symbol ? `${place.module}!${place.symbol}` : place.module;
    if (place.offset === 0n && place.symbol) return name;
    return `${name}+0x${place.offset.toString(16).padStart(offsetDigits, '0')}`;
  }
}
