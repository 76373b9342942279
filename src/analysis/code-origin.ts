/**
 * Where the code a replay ran came from: the dump's own bytes, or a module
 * file that filled what the dump left out (and what showed that file to be
 * the build the dump ran). A verdict built on code from a file rests on
 * that file being the same build, so `explain` says which code that is.
 *
 * @example
 * ```ts
 * replayedCodeOrigin(dump, [{ address: 0x401120n, size: 4 }, { address: 0x401124n, size: 3 }]);
 * // { fromDump: 0, fromFiles: [{ start: '0x401120', end: '0x401127', file: './crash', buildId: '5f1c…', checkedBy: 'build id', instructions: 2 }] }
 * ```
 */
import type { Dump, FileOrigin } from '../dumps/model.ts';
import { hex } from '../format.ts';

/** A run of replayed code bytes that one module file supplied. */
export interface FileCode {
  start: string;
  /** Exclusive. */
  end: string;
  file: string;
  buildId?: string;
  checkedBy: FileOrigin['checkedBy'];
  /** Instructions starting in the run. */
  instructions: number;
}

/** Instructions whose bytes came from the dump, and the runs that came from files. */
export interface CodeOrigin {
  fromDump: number;
  fromFiles: FileCode[];
}

/**
 * The origin of the bytes of `instructions` (each counted once, in address
 * order); an instruction whose first byte came from a file counts as from
 * that file, and adjacent instructions from the same file form one run.
 */
export function replayedCodeOrigin(dump: Dump, instructions: Array<{ address: bigint; size: number }>): CodeOrigin {
  const unique = new Map<bigint, number>();
  for (const i of instructions) unique.set(i.address, Math.max(unique.get(i.address) ?? 1, i.size));
  const sorted = [...unique].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const out: CodeOrigin = { fromDump: 0, fromFiles: [] };
  let run: { start: bigint; end: bigint; origin: FileOrigin; count: number } | undefined;
  const flush = (): void => {
    if (!run) return;
    const { origin } = run;
    out.fromFiles.push({ start: hex(run.start), end: hex(run.end), file: origin.path, ...(origin.buildId ? { buildId: origin.buildId } : {}), checkedBy: origin.checkedBy, instructions: run.count });
    run = undefined;
  };
  for (const [address, size] of sorted) {
    const origin = dump.memory.provenanceOf(address)?.file;
    if (!origin) {
      flush();
      if (dump.memory.read(address, 1) !== undefined) out.fromDump++;
      continue;
    }
    const end = address + BigInt(size);
    if (run && run.origin.path === origin.path && address <= run.end) {
      if (end > run.end) run.end = end;
      run.count++;
      continue;
    }
    flush();
    run = { start: address, end, origin, count: 1 };
  }
  flush();
  return out;
}
