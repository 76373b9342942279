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

  it.skipIf(lacks('binutils'))('each restore returns the whole of every page runs wrote, however the written spans differ', () => {
    const emu = Emulator.open('x64');
    // Stores rbx at [rdi] and, 8 bytes straddling the page boundary, at [rsi].
    emu.mapBytes(0x400000n, assemble('x64', 'mov [rdi], rbx\n mov [rsi], rbx\n int3'));
    emu.map(0x600000n, 0x2000);
    const before = Uint8Array.from({ length: 0x2000 }, (_, i) => (i * 7) & 0xff);
    emu.write(0x600000n, before);
    const snap = emu.snapshot();
    for (const [rdi, rsi] of [[0x600010n, 0x600ffcn], [0x600f00n, 0x600ffdn], [0x600800n, 0x601100n]] as const) {
      emu.writeRegisters({ rdi, rsi, rbx: 0x1122334455667788n });
      expect(emu.run({ from: 0x400000n }).kind).toBe('trapped');
      expect(emu.readValue(rsi, 8)).toBe(0x1122334455667788n);
      emu.restore(snap);
      expect(emu.read(0x600000n, 0x2000)).toEqual(before);
    }
    emu.dispose();
  });

  it.skipIf(lacks('binutils'))('a host write stays after a restore unless a run wrote its page before it', () => {
    const emu = Emulator.open('x64');
    emu.mapBytes(0x400000n, assemble('x64', 'mov [0x600000], rbx\n mov [0x601000], rbx\n int3'));
    emu.map(0x600000n, 0x2000);
    emu.writeRegisters({ rbx: 0xffn });
    const snap = emu.snapshot();
    expect(emu.run({ from: 0x400000n }).kind).toBe('trapped');
    emu.restore(snap);
    // Both pages were written by the run and restored. A host write to one now is the state later restores return to.
    emu.writeValue(0x600100n, 8, 0xabn);
    expect(emu.run({ from: 0x400000n }).kind).toBe('trapped');
    emu.restore(snap);
    expect(emu.readValue(0x600100n, 8)).toBe(0xabn);
    expect(emu.readValue(0x600000n, 8)).toBe(0n);
    // A host write during a run, after the run wrote that page, is undone with the run's writes.
    emu.onInstructionAt(0x400008n, () => emu.writeValue(0x600200n, 8, 0xcdn));
    expect(emu.run({ from: 0x400000n }).kind).toBe('trapped');
    expect(emu.readValue(0x600200n, 8)).toBe(0xcdn);
    emu.restore(snap);
    expect(emu.readValue(0x600200n, 8)).toBe(0n);
    expect(emu.readValue(0x600100n, 8)).toBe(0xabn);
    emu.dispose();
  });

  it.skipIf(lacks('binutils'))('a run from a restore still refuses a start that a run rewrote into one Unicorn cannot take', () => {
    const emu = Emulator.open('x64');
    // Rewrites its own first instruction into `lcall eax` (ff d8), whose translation aborts Unicorn 2.0.1, then traps.
    emu.mapBytes(0x400000n, assemble('x64', 'mov word ptr [0x400000], 0xd8ff\n int3'));
    emu.writeRegister('rip', 0x400000n);
    const snap = emu.snapshot();
    expect(emu.run({ from: 0x400000n })).toMatchObject({ kind: 'trapped', vector: 3 });
    emu.restore(snap);
    expect(emu.run({ from: 0x400000n })).toMatchObject({ kind: 'trapped', vector: 3 });
    expect(emu.read(0x400000n, 2)).toEqual(Uint8Array.of(0xff, 0xd8));
    expect(emu.run({ from: 0x400000n })).toMatchObject({ kind: 'trapped', name: 'invalid instruction', pc: 0x400000n });
    emu.restore(snap);
    expect(emu.run()).toMatchObject({ kind: 'trapped', vector: 3 });
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
