/**
 * The walk ends, with a note, on stacks built to never end: a frame-pointer
 * chain that points at itself, a two-frame cycle, and a million-word stack
 * full of return addresses. The dumps are built here from bytes (x64 code:
 * `call rel32` then `ret`, so each return address follows a real call).
 */
import { describe, expect, it } from 'vitest';
import type { Dump } from '../../src/dumps/model.ts';
import { SparseMemory } from '../../src/dumps/sparse-memory.ts';
import { SymbolIndex } from '../../src/dumps/symbol-table.ts';
import { walkStack } from '../../src/unwind/walk.ts';

const CODE = 0x401000n;
const STACK = 0x7ff0_0000n;

/** `count` × (`call $+5` = e8 00 00 00 00), so CODE + 5k is a return address for every k ≥ 1. */
function calls(count: number): Uint8Array {
  const bytes = new Uint8Array(count * 5);
  for (let i = 0; i < count; i++) bytes[i * 5] = 0xe8;
  return bytes;
}

function le64(values: bigint[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setBigUint64(i * 8, v, true));
  return bytes;
}

function dump(stackWords: bigint[] | Uint8Array, registers: Record<string, bigint>): Dump {
  const memory = new SparseMemory();
  memory.write(CODE, calls(64), { source: 'code' }, 'code');
  memory.write(STACK, stackWords instanceof Uint8Array ? stackWords : le64(stackWords), { source: 'stack' }, 'data');
  return {
    format: 'raw', path: 'synthetic', arch: 'x64', threads: [{ id: 1, contexts: [{ kind: 'thread', label: 'synthetic', registers, provenance: { source: 'test' } }] }],
    modules: [{ name: 'code', base: CODE, size: 0x1000n }], symbols: new SymbolIndex({ arch: 'x64' }), memory, notes: [],
  };
}

describe('a bounded walk', () => {
  it('ends a frame-pointer chain that points at itself', async () => {
    // rbp → [rbp] = rbp, [rbp+8] = a return address.
    const d = dump([STACK, CODE + 10n, 0n, 0n], { rip: CODE + 5n, rsp: STACK, rbp: STACK });
    const walk = await walkStack(d, d.threads[0]!.contexts[0]!, { scanWords: 4 });
    expect(walk.frames.length).toBeLessThan(6);
    expect(walk.frames[1]).toMatchObject({ trust: 'frame-pointer', pc: CODE + 10n, sp: STACK + 16n });
    expect(walk.notes.join('\n')).toMatch(/ended/);
  });

  it('ends a cycle of two frames as a loop', async () => {
    // Two frame records pointing at each other, with a return address each.
    const d = dump([STACK + 16n, CODE + 10n, STACK, CODE + 15n], { rip: CODE + 5n, rsp: STACK, rbp: STACK });
    const walk = await walkStack(d, d.threads[0]!.contexts[0]!, { scanWords: 4 });
    expect(walk.frames.length).toBeLessThan(8);
    expect(walk.notes.join('\n')).toMatch(/ended/);
  });

  it('stops a million-word stack of return addresses at the frame limit, quickly', async () => {
    const words = new Uint8Array(8_000_000);
    const view = new DataView(words.buffer);
    for (let i = 0; i < 1_000_000; i++) view.setUint32(i * 8, Number(CODE) + 5 * (1 + (i % 60)), true);
    const d = dump(words, { rip: CODE + 5n, rsp: STACK });
    const started = performance.now();
    const walk = await walkStack(d, d.threads[0]!.contexts[0]!);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(walk.frames).toHaveLength(256);
    expect(walk.frames.slice(1).every((f) => f.trust === 'scan')).toBe(true);
    expect(walk.notes).toContain('The walk stopped at the frame limit (256)');
  });

  it('ends at once on a stack of words that are no return addresses', async () => {
    const d = dump(Array.from({ length: 100_000 }, () => 0x1234n), { rip: CODE + 5n, rsp: STACK });
    const walk = await walkStack(d, d.threads[0]!.contexts[0]!);
    expect(walk.frames).toHaveLength(1);
    expect(walk.notes[0]).toMatch(/no unwind rule, frame pointer or return address/);
  });
});
