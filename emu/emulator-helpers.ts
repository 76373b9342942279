/**
 * Small pure helpers of the emulator: merging mapped ranges, which
 * registers are selectors, and which Unicorn errors are memory faults.
 *
 * @example
 * ```ts
 * mergeRanges([{ start: 0n, end: 0x1000n }, { start: 0x1000n, end: 0x2000n }]); // [{ start: 0n, end: 0x2000n }]
 * ```
 */
import type { Access } from './memory-source.ts';
import type { RegisterName } from './registers.ts';

export function mergeRanges(ranges: Array<{ start: bigint; end: bigint }>): Array<{ start: bigint; end: bigint }> {
  const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const merged: Array<{ start: bigint; end: bigint }> = [];
  for (const r of sorted) {
    const last = merged[merged.length - 1];
    if (last && r.start <= last.end) last.end = r.end > last.end ? r.end : last.end;
    else merged.push({ ...r });
  }
  return merged;
}

export function isSegment(name: RegisterName): boolean {
  return name === 'cs' || name === 'ss' || name === 'ds' || name === 'es' || name === 'fs' || name === 'gs';
}

export function faultOf(status: number): { access: Access; reason: 'unmapped' | 'protection' } | undefined {
  switch (status) {
    case 6: return { access: 'read', reason: 'unmapped' };
    case 7: return { access: 'write', reason: 'unmapped' };
    case 8: return { access: 'fetch', reason: 'unmapped' };
    case 12: return { access: 'write', reason: 'protection' };
    case 13: return { access: 'read', reason: 'protection' };
    case 14: return { access: 'fetch', reason: 'protection' };
    default: return undefined;
  }
}
