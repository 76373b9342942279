/**
 * A `SymbolTable` built from names a dump reveals one at a time: WinDbg's
 * `module!symbol+0xoff` text, `x`/`ln` output, a minidump's module list.
 * Addresses print the way WinDbg prints them: `hal!HalpIpiHandler+0xcc`,
 * `hal!HalpIpiHandler` on an exact match, `nt+0x1234` inside a module with no
 * symbol, and otherwise the bare address (`8082e3e1`, `fffff880`3836e110`).
 *
 * A symbol without a known size covers at most `maxUnsizedOffset` bytes
 * (64 KiB by default): a transcript shows only the symbols near a crash, and
 * an address far past the last one known is more likely in another module
 * than deep inside that symbol.
 *
 * @example
 * ```ts
 * const symbols = new SymbolIndex({ arch: 'x86' });
 * symbols.add('hal', 'HalpIpiHandler', 0x80a5d830n);
 * symbols.format(0x80a5d8fcn);                // 'hal!HalpIpiHandler+0xcc'
 * symbols.resolve('hal!HalpIpiHandler+0xcc'); // 0x80a5d8fcn
 * ```
 */
import type { Arch } from '../../emu/registers.ts';
import { formatAddress } from '../format.ts';
import type { Provenance, SymbolLocation, SymbolTable } from './model.ts';
import { showAddress } from './hex.ts';

/** One known name: a symbol (`module!symbol`) or a module's base (`module`). */
export interface SymbolEntry {
  module?: string;
  /** Undefined for an entry that only places a module (`nt+0x1234` seen). */
  symbol?: string;
  address: bigint;
  size?: bigint;
  provenance?: Provenance;
}

/** What `add` did: stored the name, already had it, or had it at another address (kept). */
export type SymbolAddResult =
  | { status: 'added' }
  | { status: 'known' }
  | { status: 'conflict'; existing: SymbolEntry };

/** Symbol text split into its parts: `hal!HalpIpiHandler+0xcc`, `nt+0x1234`. */
export interface SymbolText {
  module?: string;
  symbol?: string;
  offset: bigint;
}

export interface SymbolIndexOptions {
  /** Decides how unknown addresses print; by value width when absent. */
  arch?: Arch;
  /** How far past an unsized symbol an address may lie and still belong to it. */
  maxUnsizedOffset?: bigint;
}

const SYMBOL_TEXT = /^([A-Za-z0-9_.$@-]+)!([^\s!]+?)(?:\+(?:0x)?([0-9a-f]+))?$/i;
const MODULE_TEXT = /^([A-Za-z_][A-Za-z0-9_.$-]*)\+0x([0-9a-f]+)$/i;

/**
 * Splits `module!symbol+0xoff`, `module!symbol` or `module+0xoff`; undefined
 * for text that is none of these. A bare `symbol` is not accepted: in a
 * listing it cannot be told from an operand.
 *
 * @example
 * ```ts
 * parseSymbolText('hal!HalpIpiHandler+0xcc'); // { module: 'hal', symbol: 'HalpIpiHandler', offset: 0xccn }
 * parseSymbolText('nt+0x1a2b');               // { module: 'nt', offset: 0x1a2bn }
 * parseSymbolText('push');                    // undefined
 * ```
 */
export function parseSymbolText(text: string): SymbolText | undefined {
  const full = SYMBOL_TEXT.exec(text);
  if (full) return { module: full[1]!, symbol: full[2]!, offset: full[3] ? BigInt(`0x${full[3]}`) : 0n };
  const moduleOnly = MODULE_TEXT.exec(text);
  if (moduleOnly) return { module: moduleOnly[1]!, offset: BigInt(`0x${moduleOnly[2]}`) };
  return undefined;
}

function keyOf(module: string | undefined, symbol: string | undefined): string {
  return `${(module ?? '').toLowerCase()}!${(symbol ?? '').toLowerCase()}`;
}

/**
 * `hal!HalpIpiHandler at 80a5d830`, for messages.
 *
 * @example
 * ```ts
 * describeSymbol({ module: 'nt', address: 0x804d7000n }); // 'nt at 804d7000'
 * ```
 */
export function describeSymbol(entry: SymbolEntry): string {
  const name = entry.symbol === undefined ? (entry.module ?? '?') : entry.module ? `${entry.module}!${entry.symbol}` : entry.symbol;
  return `${name} at ${showAddress(entry.address)}`;
}

/**
 * How WinDbg shows `address` found at `location`: `module!symbol+0xoff`,
 * `module!symbol` on an exact match, `module+0xoff`, or the bare address
 * (for `arch`, or by its width) when nothing is known.
 *
 * @example
 * ```ts
 * formatLocation({ module: 'nt', symbol: 'KiPageFault', base: 0x1000n, offset: 0x260n }, 0x1260n); // 'nt!KiPageFault+0x260'
 * formatLocation(undefined, 0x1000n, 'x64');                                                         // '00000000`00001000'
 * ```
 */
export function formatLocation(location: SymbolLocation | undefined, address: bigint, arch?: Arch): string {
  if (!location) return arch ? formatAddress(arch, address) : showAddress(address);
  const name = location.symbol === undefined ? location.module! : location.module ? `${location.module}!${location.symbol}` : location.symbol;
  if (location.offset === 0n && location.symbol !== undefined) return name;
  return `${name}+0x${location.offset.toString(16)}`;
}

/**
 * A `SymbolTable` that grows as names are added.
 *
 * @example
 * ```ts
 * const symbols = new SymbolIndex({ arch: 'x64' });
 * symbols.add('nt', 'KiPageFault', 0xfffff80002a9393bn);
 * symbols.format(0xfffff80002a93b9bn); // 'nt!KiPageFault+0x260'
 * symbols.format(0x1000n);             // '00000000`00001000'
 * ```
 */
export class SymbolIndex implements SymbolTable {
  private readonly entries: SymbolEntry[] = [];
  private readonly byName = new Map<string, SymbolEntry>();
  private readonly modules: SymbolEntry[] = [];
  private sorted = true;
  private readonly arch?: Arch;
  private readonly maxUnsizedOffset: bigint;

  constructor(options: SymbolIndexOptions = {}) {
    this.arch = options.arch;
    this.maxUnsizedOffset = options.maxUnsizedOffset ?? 0x10000n;
  }

  get size(): number {
    return this.entries.filter((e) => e.symbol !== undefined).length;
  }

  /**
   * Records `module!symbol` at `address` (`symbol` undefined: the module's
   * base). The first address given for a name stays; a different one is
   * returned as a conflict. A size fills in one that was unknown.
   */
  add(module: string | undefined, symbol: string | undefined, address: bigint, size?: bigint, provenance?: Provenance): SymbolAddResult {
    if (module === undefined && symbol === undefined) throw new RangeError(`A symbol at ${showAddress(address)} needs a module or a name`);
    const key = keyOf(module, symbol);
    const existing = this.byName.get(key);
    if (existing) {
      if (existing.address !== address) return { status: 'conflict', existing };
      if (existing.size === undefined && size !== undefined) existing.size = size;
      return { status: 'known' };
    }
    const entry: SymbolEntry = { module, symbol, address, size, provenance };
    this.entries.push(entry);
    this.byName.set(key, entry);
    this.sorted = false;
    return { status: 'added' };
  }

  /** Records a module's extent (from a module list); addresses inside it without a symbol print as `module+0xoff`. */
  addModule(name: string, base: bigint, size: bigint, provenance?: Provenance): void {
    this.modules.push({ module: name, address: base, size, provenance });
    this.add(name, undefined, base, size, provenance);
  }

  /** Every name held, sorted by address. */
  list(): SymbolEntry[] {
    this.sort();
    return [...this.entries];
  }

  lookup(address: bigint): SymbolLocation | undefined {
    this.sort();
    const module = this.modules.find((m) => address >= m.address && address < m.address + m.size!);
    const entry = this.nearestAtOrBelow(address);
    if (entry && this.covers(entry, address) && (!module || entry.address >= module.address)) {
      return { module: entry.module, symbol: entry.symbol, base: entry.address, offset: address - entry.address };
    }
    if (module) return { module: module.module, base: module.address, offset: address - module.address };
    return undefined;
  }

  resolve(name: string): bigint | undefined {
    const text = name.trim();
    const parsed = parseSymbolText(text);
    if (parsed) {
      const entry = this.byName.get(keyOf(parsed.module, parsed.symbol));
      return entry ? entry.address + parsed.offset : undefined;
    }
    const exact = this.byName.get(keyOf(text, undefined));
    if (exact) return exact.address;
    const plain = /^([^\s!+]+)(?:\+(?:0x)?([0-9a-f]+))?$/i.exec(text);
    if (!plain) return undefined;
    const wanted = plain[1]!.toLowerCase();
    const entry = this.entries.find((e) => e.symbol?.toLowerCase() === wanted);
    return entry ? entry.address + (plain[2] ? BigInt(`0x${plain[2]}`) : 0n) : undefined;
  }

  format(address: bigint): string {
    return formatLocation(this.lookup(address), address, this.arch);
  }

  private covers(entry: SymbolEntry, address: bigint): boolean {
    const offset = address - entry.address;
    return entry.size !== undefined ? offset < entry.size : offset <= this.maxUnsizedOffset;
  }

  /** The first-sorted entry at the highest address not above `address`. */
  private nearestAtOrBelow(address: bigint): SymbolEntry | undefined {
    let low = 0;
    let high = this.entries.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (this.entries[mid]!.address <= address) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    while (found > 0 && this.entries[found - 1]!.address === this.entries[found]!.address) found--;
    return found < 0 ? undefined : this.entries[found];
  }

  /** By address; at one address, symbols before module bases, then first added first. */
  private sort(): void {
    if (this.sorted) return;
    const order = new Map(this.entries.map((e, i) => [e, i]));
    this.entries.sort((a, b) => {
      if (a.address !== b.address) return a.address < b.address ? -1 : 1;
      const aModule = a.symbol === undefined ? 1 : 0;
      const bModule = b.symbol === undefined ? 1 : 0;
      return aModule !== bModule ? aModule - bModule : order.get(a)! - order.get(b)!;
    });
    this.sorted = true;
  }
}
