/**
 * Partly known pages (transcripts, small minidump regions), checked against
 * both checkers: native (C hooks) and JavaScript (FAULTLINE_NO_NATIVE).
 */
import { expect, it } from 'vitest';
import type { Emulator } from '../../emu/emulator.ts';
import { assemble } from '../helpers/assemble.ts';
import { lacks } from '../helpers/system.ts';

export function partialPageCases(engine: (arch: 'x86') => Emulator): void {
  const page = () => {
    const bytes = new Uint8Array(0x1000);
    const known = new Uint8Array(0x1000);
    const prog = assemble('x86', 'push 0x1234\npop eax\nmov ebx, [esp-8]\nnop');
    bytes.set(prog, 0x100);
    known.fill(1, 0x100, 0x100 + prog.length);
    return { bytes, known };
  };

  it.skipIf(lacks('binutils'))('treats unknown bytes of a partly known page as missing, and bytes the run wrote as known', () => {
    const { bytes, known } = page();
    const emu = engine('x86');
    emu.setMemorySource({ read: () => undefined, readPartial: (address) => (address === 0x1000n ? { bytes, known } : undefined) });
    emu.writeRegister('esp', 0x1800n);
    const result = emu.run({ from: 0x1100n, maxInstructions: 10 });
    // push wrote 0x17fc..0x17ff, so pop reads known bytes; [esp-8] = 0x17f8 was never known.
    expect(emu.readRegister('eax')).toBe(0x1234n);
    expect(result).toMatchObject({ kind: 'fault', access: 'read', address: 0x17f8n, reason: 'not-in-dump', pc: 0x1106n });
  });

  it.skipIf(lacks('binutils'))('a snapshot restore makes bytes written since it unknown again', () => {
    const { bytes, known } = page();
    const emu = engine('x86');
    emu.setMemorySource({ read: () => undefined, readPartial: (address) => (address === 0x1000n ? { bytes, known } : undefined) });
    emu.writeRegister('esp', 0x1800n);
    emu.run({ from: 0x1100n, count: 1 }); // maps the page
    const snap = emu.snapshot();
    emu.writeRegister('esp', 0x1804n);
    expect(emu.run({ from: 0x1100n, count: 2 })).toMatchObject({ kind: 'reached' }); // push writes 0x1800..0x1803, pop reads it
    emu.restore(snap);
    // After the restore 0x1800 is unknown again: reading it stops the run.
    emu.mapBytes(0x3000n, assemble('x86', 'mov eax, [0x1800]\nnop'));
    expect(emu.run({ from: 0x3000n, count: 1 })).toMatchObject({ kind: 'fault', access: 'read', address: 0x1800n });
  });

  it.skipIf(lacks('binutils'))('fetching an unknown byte stops before the instruction runs', () => {
    const { bytes, known } = page();
    known.fill(0, 0x105); // `pop eax` (at 0x1105, after the 5-byte push) onwards is unknown
    const emu = engine('x86');
    emu.setMemorySource({ read: () => undefined, readPartial: (address) => (address === 0x1000n ? { bytes, known } : undefined) });
    emu.writeRegister('esp', 0x1800n);
    expect(emu.run({ from: 0x1100n, maxInstructions: 10 })).toMatchObject({ kind: 'fault', access: 'fetch', address: 0x1105n });
  });
}
