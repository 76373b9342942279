/**
 * A counted run stops at exactly the instruction its limit names, wherever
 * the limit falls in a basic block, and a data fault inside a block names its
 * instruction with the registers as they were before it. Checked on window
 * replays (snapshot, run, restore, as explain makes them) of a gcc-built
 * program, against a per-instruction trace of the same window taken with a
 * code hook on every instruction. A way of counting per block (adding each
 * block's instruction count at its start and finishing the limit inside the
 * last block) that is off by one inside a block, that caches a cut block
 * wrongly across restores, or that lets a fault report a lagging pc or
 * flags, fails here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWorkload } from '../../bench/modes.ts';
import { buildWorkload, TABLES_WORKLOAD_SOURCE } from '../../bench/workload.ts';
import type { Emulator } from '../../emu/emulator.ts';
import type { Snapshot } from '../../emu/snapshot.ts';
import type { RegisterValues, X64Register } from '../../emu/registers.ts';
import { lacks } from '../helpers/system.ts';

const WINDOW = 120;
const GENERAL: X64Register[] = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'efl',
];

interface Trace {
  /** before[i]: the registers before the window's instruction i (i = 0: at the snapshot). */
  before: RegisterValues[];
  /** Where the basic blocks the window ran start. */
  blockStarts: Set<bigint>;
  /** The pages holding the window's code. */
  codePages: Set<bigint>;
  /** The reads of data pages the window had not touched before: the instruction's index and the address read. */
  firstReads: { index: number; address: bigint }[];
}

describe.skipIf(lacks('gcc', 'binutils'))('instruction limits and faults inside blocks, on window replays', () => {
  let emu: Emulator;
  let snap: Snapshot;
  let trace: Trace;

  beforeAll(() => {
    const workload = buildWorkload(TABLES_WORKLOAD_SOURCE);
    emu = loadWorkload(workload);
    // Into the workload's pointer chasing and table calls, well past start-up.
    const prefix = emu.run({ from: workload.entry, count: 40_000 });
    expect(prefix).toMatchObject({ kind: 'reached', reason: 'count' });
    snap = emu.snapshot();
    trace = traceWindow(emu);
    emu.restore(snap);
  }, 60_000);

  afterAll(() => emu?.dispose());

  it('the window has limits inside blocks to check', () => {
    const inside = trace.before.filter((regs, i) => i > 0 && !trace.blockStarts.has(regs.rip!)).length;
    expect(inside).toBeGreaterThan(WINDOW / 3);
  });

  it('every limit of the window stops before that instruction, each twice, in both orders', () => {
    const limits = [...Array(WINDOW).keys()].map((i) => i + 1);
    for (const order of [limits, [...limits].reverse()]) {
      for (const limit of order) {
        for (let again = 0; again < 2; again++) {
          emu.restore(snap);
          const result = emu.run({ count: limit });
          expect(result, `limit ${limit}`).toMatchObject({ kind: 'reached', reason: 'count', pc: trace.before[limit]!.rip });
          expect(emu.readRegisters(GENERAL), `limit ${limit}`).toEqual(trace.before[limit]);
        }
      }
    }
    emu.restore(snap);
  });

  it('a read of a page made unmapped faults at its instruction, with the registers before it', () => {
    // The first read of a page by an instruction that does not start its block: nothing earlier in the window touched the page.
    const read = trace.firstReads.find(({ index, address }) =>
      index > 0 && !trace.blockStarts.has(trace.before[index]!.rip!) && !trace.codePages.has(address & ~0xfffn));
    expect(read).toBeDefined();
    const page = read!.address & ~0xfffn;
    const bytes = emu.read(page, 0x1000);
    emu.unmap(page, 0x1000);
    try {
      for (let again = 0; again < 2; again++) {
        emu.restore(snap);
        const result = emu.run({ count: WINDOW });
        expect(result).toMatchObject({ kind: 'fault', access: 'read', pc: trace.before[read!.index]!.rip });
        expect(emu.readRegisters(GENERAL)).toEqual(trace.before[read!.index]);
      }
    } finally {
      emu.mapBytes(page, bytes);
      emu.restore(snap);
    }
  });
});

/** The window's registers before each instruction, its block starts and first reads per page, from hooks on every instruction. */
function traceWindow(emu: Emulator): Trace {
  const trace: Trace = { before: [], blockStarts: new Set(), codePages: new Set(), firstReads: [] };
  const touched = new Set<bigint>();
  const hooks = [
    emu.hooks.addInstruction(() => {
      if (trace.before.length <= WINDOW) trace.before.push(emu.readRegisters(GENERAL));
    }),
    emu.hooks.addBlock((address, size) => {
      trace.blockStarts.add(address);
      trace.codePages.add(address & ~0xfffn).add((address + BigInt(size)) & ~0xfffn);
    }),
    emu.hooks.addMemory('read', (address) => {
      const page = address & ~0xfffn;
      if (!touched.has(page) && trace.before.length <= WINDOW) trace.firstReads.push({ index: trace.before.length - 1, address });
      touched.add(page);
    }),
    emu.hooks.addMemory('write', (address) => {
      touched.add(address & ~0xfffn);
    }),
  ];
  // One instruction more than the window, so that the state after its last instruction is traced too.
  const result = emu.run({ count: WINDOW + 1 });
  for (const id of hooks) emu.hooks.remove(id);
  if (result.kind !== 'reached' || trace.before.length !== WINDOW + 1) {
    throw new Error(`Cannot trace the window: ${result.kind} after ${trace.before.length} instructions`);
  }
  return trace;
}
