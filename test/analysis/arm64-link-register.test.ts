/**
 * AArch64: `blr x8` keeps its return address in x30, not on the stack. A
 * machine whose CPU dropped bit 2 of the branch target lands on the `brk`
 * before `target`. The dump is built from raw images assembled here, with
 * the register state such a machine records (pc on the brk, x30 after the
 * blr, x8 still holding the right target).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explain } from '../../src/analysis/explain.ts';
import type { Dump } from '../../src/dumps/model.ts';
import { openRawImages, parseImageSpec } from '../../src/dumps/raw/images.ts';
import { SymbolIndex } from '../../src/dumps/symbol-table.ts';
import { assemble } from '../helpers/assemble.ts';
import { lacks } from '../helpers/system.ts';

const CALLER = 0x400000n;
const PADDING = 0x401000n;
const TARGET = 0x401004n;
const SLOT = 0x402000n;

/** The crashed machine, its images written into `dir`. */
function crashedMachine(dir: string): Dump {
  writeFileSync(join(dir, 'caller.bin'), assemble('arm64', 'ldr x8, [x0]\nblr x8\nmov x1, #1\nbrk #1'));
  writeFileSync(join(dir, 'target.bin'), assemble('arm64', 'brk #0\nmov x0, #7\nret'));
  const slot = Buffer.alloc(8);
  slot.writeBigUInt64LE(TARGET);
  writeFileSync(join(dir, 'slot.bin'), slot);
  const images = [`caller.bin@${CALLER.toString(16)}`, `target.bin@${PADDING.toString(16)}`, `slot.bin@${SLOT.toString(16)}`].map((s) => parseImageSpec(join(dir, s)));
  const registers = { x0: SLOT, x8: TARGET, x30: CALLER + 8n, sp: 0x7ff000n, pc: PADDING, nzcv: 0n };
  const symbols = new SymbolIndex({ arch: 'arm64' });
  symbols.add('test', 'caller', CALLER);
  symbols.add('test', 'target', TARGET);
  const dump = openRawImages('arm64', images, registers, symbols);
  return { ...dump, fault: { kind: 'signal', signal: 5, provenance: { source: 'test' } } };
}

describe.skipIf(lacks('binutils-aarch64-linux-gnu'))('AArch64 link-register transfers', () => {
  it('a blr whose target lost bit 2 is a CPU fault in the branch target', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'faultline-arm64-'));
    try {
      const report = await explain(crashedMachine(dir));
      expect(report.candidates.find((c) => c.kind === 'link-register')).toMatchObject({ returnAddress: '0x400008', expected: '0x401004', comparison: { relation: 'one-bit', bit: 2 } });
      expect(report.window?.start).toBe('0x400000');
      expect(report.verdict).toMatchObject({ class: 'cpu-fault', location: 'branch-target', bit: 2, expected: '0x401004', observed: '0x401000' });
      expect(report.checks.find((c) => c.what === 'x8')).toMatchObject({ status: 'match', basis: 'computed' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
