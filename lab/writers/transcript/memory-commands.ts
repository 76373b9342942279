/**
 * Memory displays as WinDbg prints them, and `lm`:
 *
 * ```
 * 0:000> dps @rsp L40
 * 00007ffe`19b24998  0000557d`d3eac5e9 bugs!bug_null_vtable+0x19
 * 00007ffe`19b249a0  00000000`00000000
 * 00007ffe`19b249a8  ????????`????????
 * 0:000> dq @rdi L4
 * 0000557e`12fe02a0  00000000`73706f2d 00000000`00000000
 * 0:000> dd @ecx L8
 * 3f7fea50  00000000 00000001 3f7fe000 00000000
 * 0:000> lm
 * start             end                 module name
 * 0000557d`d3eab000 0000557d`d3eb0000   bugs       (deferred)
 * ```
 *
 * `dps` shows a pointer a line with the symbol of values that point into
 * a module; `dq` two quadwords a line, `dd` four doublewords; `????????`
 * where the dump lacks the bytes.
 *
 * @example
 * ```ts
 * pointerDisplay(view, sp, 0x40); // 64 lines
 * ```
 */
import type { CrashMemory } from '../crash/memory.ts';
import type { CrashModule } from '../crash/modules.ts';
import { pointerSize, type WriterArch } from '../crash/registers.ts';
import type { SymbolIndex } from '../crash/symbols.ts';
import { hex, unreadable, windbgAddress } from './hex.ts';

/** What the memory displays read of a crash. */
export interface MemoryView {
  arch: WriterArch;
  memory: CrashMemory;
  symbols: SymbolIndex;
}

/**
 * `dps ADDRESS L<count>`: `count` pointers from `address`.
 *
 * @example
 * ```ts
 * pointerDisplay(view, 0x3ffff7acn, 2); // ['3ffff7ac  400016da bugs!bug_null_vtable+0x2a', '3ffff7b0  00000000']
 * ```
 */
export function pointerDisplay(view: MemoryView, address: bigint, count: number): string[] {
  const size = pointerSize(view.arch);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const at = address + BigInt(i * size);
    const value = view.memory.readPointer(at, size);
    if (value === undefined) {
      lines.push(`${windbgAddress(view.arch, at)}  ${unreadable(size, size === 8)}`);
      continue;
    }
    const name = view.memory.regionAt(value) || view.memory.mappingAt(value) ? view.symbols.format(value) : undefined;
    lines.push(`${windbgAddress(view.arch, at)}  ${windbgAddress(view.arch, value)}${name ? ` ${name}` : ''}`);
  }
  return lines;
}

/**
 * `dd`/`dq ADDRESS L<count>`: `count` values of `size` bytes, four
 * doublewords or two quadwords a line.
 *
 * @example
 * ```ts
 * valueDisplay(view, 0x557e12fe02a0n, 8, 4); // two lines of two quadwords
 * ```
 */
export function valueDisplay(view: MemoryView, address: bigint, size: 4 | 8, count: number): string[] {
  const perLine = size === 8 ? 2 : 4;
  const lines: string[] = [];
  for (let i = 0; i < count; i += perLine) {
    const start = address + BigInt(i * size);
    const values: string[] = [];
    for (let k = 0; k < perLine && i + k < count; k++) {
      const bytes = view.memory.read(start + BigInt(k * size), size);
      if (!bytes) values.push(unreadable(size, size === 8));
      else {
        const value = bytes.reduceRight((acc, b) => (acc << 8n) | BigInt(b), 0n);
        values.push(size === 8 ? `${hex(value >> 32n, 8)}\`${hex(value, 8)}` : hex(value, 8));
      }
    }
    lines.push(`${windbgAddress(view.arch, start)}  ${values.join(' ')}`);
  }
  return lines;
}

/**
 * `lm` output: each module's start, end and WinDbg name, symbols deferred.
 *
 * @example
 * ```ts
 * moduleList(view, modules)[0]; // 'start             end                 module name'
 * ```
 */
export function moduleList(view: MemoryView, modules: CrashModule[]): string[] {
  const header = pointerSize(view.arch) === 8 ? 'start             end                 module name' : 'start    end        module name';
  const lines = [header];
  for (const module of [...modules].sort((a, b) => (a.base < b.base ? -1 : 1))) {
    const name = view.symbols.moduleName(module);
    lines.push(`${windbgAddress(view.arch, module.base)} ${windbgAddress(view.arch, module.end)}   ${name.padEnd(10)} (deferred)`);
  }
  return lines;
}
