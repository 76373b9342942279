import { describe, expect, it } from 'vitest';
import { Emulator } from '../../emu/emulator.ts';
import { Recorder } from '../../emu/recorder.ts';
import type { TraceBatch } from '../../traces/model.ts';
import { assemble } from '../helpers/assemble.ts';
import { lacks } from '../helpers/system.ts';

describe('snapshots', () => {
  it.skipIf(lacks('binutils'))('restoring context and dirty pages gives identical reruns', () => {
    const emu = Emulator.open('x64');
    const code = assemble('x64', `
      mov rcx, 100
    1:
      push rcx
      mov rax, [rsp]
      add [0x600000 + rcx*8], rax
      pop rdx
      dec rcx
      jnz 1b
      int3`);
    emu.mapBytes(0x400000n, code);
    emu.map(0x600000n, 0x2000);
    emu.map(0x7f0000n, 0x10000);
    emu.writeRegisters({ rsp: 0x7f8000n, rbx: 7n });
    const snap = emu.snapshot();

    const batches: TraceBatch[] = [];
    const recorder = Recorder.attach(emu, { onBatch: (b) => batches.push(b) });
    const first = emu.run({ from: 0x400000n });
    const regsAfterFirst = emu.readRegisters();
    const memAfterFirst = emu.read(0x600000n, 0x2000).slice();
    expect(emu.readValue(0x600000n + 8n * 100n, 8)).toBe(100n);

    const { pagesRestored } = emu.restore(snap);
    expect(pagesRestored).toBe(2); // the data page 0x600000 and the stack page 0x7f7000
    expect(emu.readValue(0x600000n + 8n * 100n, 8)).toBe(0n);
    expect(emu.readRegister('rsp')).toBe(0x7f8000n);

    const firstTrace = batches.splice(0);
    const second = emu.run({ from: 0x400000n });
    expect(second).toEqual(first);
    expect(emu.readRegisters()).toEqual(regsAfterFirst);
    expect(emu.read(0x600000n, 0x2000)).toEqual(memAfterFirst);
    expect(batches.map((b) => [...b.pc])).toEqual(firstTrace.map((b) => [...b.pc]));
    expect(batches.map((b) => [...b.regValue])).toEqual(firstTrace.map((b) => [...b.regValue]));
    recorder.detach();
    emu.dispose();
  });

  it('a stale snapshot is refused', () => {
    const emu = Emulator.open('x86');
    const a = emu.snapshot();
    emu.snapshot();
    expect(() => emu.restore(a)).toThrow(/stale/);
    emu.dispose();
  });
});
