/**
 * Coverage in DynamoRIO's drcov format, as Lighthouse (gaasedelen/lighthouse,
 * reader/parsers/drcov.py) and other coverage viewers read it:
 *
 * ```
 * DRCOV VERSION: 2
 * DRCOV FLAVOR: drcov
 * Module Table: version 2, count N
 * Columns: id, base, end, entry, path
 *   0, 0x0000000000400000, 0x0000000000401000, 0x0000000000000000, /usr/bin/crash
 * BB Table: M bbs
 * <M binary entries: uint32 start (offset from the module base), uint16 size, uint16 module id, little-endian>
 * ```
 *
 * The module table is version 2 with the Linux/Mac columns (no checksum
 * and timestamp, which a dump does not give). Blocks are the executed runs
 * of straight-line code (a block ends where the next pc is not the
 * fall-through), each listed once. Module paths lose commas and line ends:
 * the table is split on ", " and read line by line.
 *
 * @example
 * ```ts
 * const blocks = basicBlocks([{ pc: 0x401000n, size: 2 }, { pc: 0x401002n, size: 5 }]);
 * writeFileSync('run.drcov', drcovBytes(blocks, coverageModules(blocks, dump.modules)));
 * ```
 */

/** A module of the table: where it is and what to call it. */
export interface CoverageModule {
  name: string;
  path?: string;
  base: bigint;
  /** One past the last byte. */
  end: bigint;
}

export interface BasicBlock {
  start: bigint;
  size: number;
}

/** drcov stores a block's size in 16 bits and its offset in 32. */
const MAX_BLOCK = 0xffff;
const PAGE = 0x1000n;

/**
 * Collects the distinct straight-line runs of executed instructions as they
 * arrive (memory grows with the distinct blocks, not with the run).
 */
export class BlockCollector {
  private readonly seen = new Set<string>();
  private readonly out: BasicBlock[] = [];
  private current: BasicBlock | undefined;

  add(pc: bigint, size: number): void {
    const current = this.current;
    if (current && current.start + BigInt(current.size) === pc && current.size + size <= MAX_BLOCK) current.size += size;
    else {
      this.close();
      this.current = { start: pc, size };
    }
  }

  /** The blocks so far, in order of first execution. */
  blocks(): BasicBlock[] {
    this.close();
    return [...this.out];
  }

  private close(): void {
    const current = this.current;
    if (!current) return;
    const key = `${current.start}:${current.size}`;
    if (!this.seen.has(key)) {
      this.seen.add(key);
      this.out.push(current);
    }
    this.current = undefined;
  }
}

/** The distinct straight-line runs of `executed`, in order of first execution. */
export function basicBlocks(executed: Iterable<{ pc: bigint; size: number }>): BasicBlock[] {
  const collector = new BlockCollector();
  for (const { pc, size } of executed) collector.add(pc, size);
  return collector.blocks();
}

/**
 * The modules of `known` that hold a block, then, for blocks in none of
 * them, one module per run of executed pages, named by `nameAt` (the
 * symbol's module, say) or `unknown`.
 */
export function coverageModules(blocks: readonly BasicBlock[], known: ReadonlyArray<{ name: string; path?: string; base: bigint; size: bigint }>, nameAt: (pc: bigint) => string | undefined = () => undefined): CoverageModule[] {
  const out = new Map<string, CoverageModule>();
  const pages = new Map<bigint, string>();
  for (const b of blocks) {
    const m = known.find((x) => b.start >= x.base && b.start < x.base + x.size);
    if (m) {
      const key = `${m.name}@${m.base}`;
      if (!out.has(key)) out.set(key, { name: m.name, path: m.path, base: m.base, end: m.base + m.size });
      continue;
    }
    const last = b.start + BigInt(Math.max(b.size, 1)) - 1n;
    for (let page = b.start - (b.start % PAGE); page <= last; page += PAGE) if (!pages.has(page)) pages.set(page, nameAt(b.start) ?? 'unknown');
  }
  let run: CoverageModule | undefined;
  const flush = () => run && out.set(`${run.name}@${run.base}`, run);
  for (const [page, name] of [...pages].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (run && run.name === name && run.end === page) run.end = page + PAGE;
    else {
      flush();
      run = { name, base: page, end: page + PAGE };
    }
  }
  flush();
  return [...out.values()];
}

const hex16 = (v: bigint) => `0x${v.toString(16).padStart(16, '0')}`;

/** A module path as the table can hold it. */
function tablePath(m: CoverageModule): string {
  return (m.path ?? m.name).replace(/[\r\n]+/g, ' ').replace(/,/g, '_') || 'unknown';
}

/**
 * The drcov file for `blocks` over `modules`. Blocks outside every module,
 * or more than 4 GiB past their module's base, cannot be written and are
 * left out; `skipped` counts them.
 */
export function drcovFile(blocks: readonly BasicBlock[], modules: readonly CoverageModule[]): { bytes: Uint8Array; skipped: number } {
  const entries: Array<{ offset: number; size: number; id: number }> = [];
  let skipped = 0;
  for (const b of blocks) {
    const id = modules.findIndex((m) => b.start >= m.base && b.start < m.end);
    const offset = id < 0 ? -1n : b.start - modules[id]!.base;
    if (id < 0 || offset > 0xffff_ffffn || id > 0xffff) {
      skipped++;
      continue;
    }
    entries.push({ offset: Number(offset), size: b.size, id });
  }
  const header = [
    'DRCOV VERSION: 2',
    'DRCOV FLAVOR: drcov',
    `Module Table: version 2, count ${modules.length}`,
    'Columns: id, base, end, entry, path',
    ...modules.map((m, id) => `${String(id).padStart(3)}, ${hex16(m.base)}, ${hex16(m.end)}, ${hex16(0n)}, ${tablePath(m)}`),
    `BB Table: ${entries.length} bbs`,
    '',
  ].join('\n');
  const head = Buffer.from(header, 'utf8');
  const bytes = new Uint8Array(head.length + entries.length * 8);
  bytes.set(head, 0);
  const view = new DataView(bytes.buffer);
  entries.forEach((x, i) => {
    const at = head.length + i * 8;
    view.setUint32(at, x.offset, true);
    view.setUint16(at + 4, x.size, true);
    view.setUint16(at + 6, x.id, true);
  });
  return { bytes, skipped };
}

/** `drcovFile`'s bytes. */
export function drcovBytes(blocks: readonly BasicBlock[], modules: readonly CoverageModule[]): Uint8Array {
  return drcovFile(blocks, modules).bytes;
}
