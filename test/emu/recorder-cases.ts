/** Recorder checks run against both backends (native, and JS hooks with FAULTLINE_NO_NATIVE). */
import { expect, it } from 'vitest';
import { Emulator } from '../../emu/emulator.ts';
import { Recorder } from '../../emu/recorder.ts';
import type { TraceBatch } from '../../traces/model.ts';
import { assemble } from '../helpers/assemble.ts';
import { lacks } from '../helpers/system.ts';

export function recorderCases(expectNative: boolean): void {
  it.skipIf(lacks('binutils'))(`records pc, register changes and memory accesses per instruction (${expectNative ? 'native' : 'JS'} backend)`, () => {
    const emu = Emulator.open('x86');
    const code = assemble('x86', 'mov eax, [0x2000]\npush eax\ninc eax\nint3');
    emu.mapBytes(0x1000n, code);
    emu.map(0x2000n, 0x1000);
    emu.map(0x7000n, 0x1000);
    emu.writeValue(0x2000n, 4, 0x80a5d8fcn);
    emu.writeRegisters({ esp: 0x7800n, eax: 0n });
    const batches: TraceBatch[] = [];
    const recorder = Recorder.attach(emu, { onBatch: (b) => batches.push(b) }, { batchSize: 2 });
    expect(recorder.native).toBe(expectNative);
    const result = emu.run({ from: 0x1000n });
    recorder.detach();
    emu.dispose();
    expect(result).toMatchObject({ kind: 'trapped', vector: 3, instructions: 4 });
    // Batches of two: [mov, push], [inc, int3].
    expect(batches.map((b) => b.count)).toEqual([2, 2]);
    expect(batches.map((b) => b.first)).toEqual([0, 2]);
    const regs = (b: TraceBatch, i: number) =>
      Array.from({ length: b.regStart[i + 1]! - b.regStart[i]! }, (_, k) => {
        const j = b.regStart[i]! + k;
        return `${recorder.registers[b.regIndex[j]!]}=${b.regValue[j]!.toString(16)}`;
      });
    const mem = (b: TraceBatch, i: number) =>
      Array.from({ length: b.memStart[i + 1]! - b.memStart[i]! }, (_, k) => {
        const j = b.memStart[i]! + k;
        return `${b.memKind[j] ? 'w' : 'r'} ${b.memAddress[j]!.toString(16)} ${b.memSize[j]} ${b.memValue[j]!.toString(16)}`;
      });
    const [a, b] = batches as [TraceBatch, TraceBatch];
    expect([...a.pc]).toEqual([0x1000n, 0x1005n]);
    expect([...a.size]).toEqual([5, 1]);
    expect(regs(a, 0)).toEqual(['eax=80a5d8fc']);
    expect(mem(a, 0)).toEqual(['r 2000 4 80a5d8fc']);
    expect(regs(a, 1)).toEqual(['esp=77fc']);
    expect(mem(a, 1)).toEqual(['w 77fc 4 80a5d8fc']);
    expect([...b.pc]).toEqual([0x1006n, 0x1007n]);
    // 0x80a5d8fd: SF set (top bit), PF clear (0xfd has seven bits set): efl = 0x82.
    expect(regs(b, 0)).toEqual(['eax=80a5d8fd', 'efl=82']);
    expect(mem(b, 1)).toEqual([]);
    expect(a.code.get(0x1000n)).toEqual(code.subarray(0, 5));
    expect(b.code.get(0x1007n)).toEqual(Uint8Array.of(0xcc));
  });

  it(`enforces the instruction budget while recording (${expectNative ? 'native' : 'JS'} backend)`, () => {
    const emu = Emulator.open('x64');
    emu.mapBytes(0x1000n, Uint8Array.of(0xeb, 0xfe));
    let total = 0;
    const recorder = Recorder.attach(emu, { onBatch: (b) => (total += b.count) });
    expect(emu.run({ from: 0x1000n, maxInstructions: 777 })).toMatchObject({ kind: 'budget', budget: 'instructions', instructions: 777 });
    expect(emu.run({ from: 0x1000n, count: 10 })).toMatchObject({ kind: 'reached', reason: 'count', instructions: 10 });
    expect(total).toBe(787);
    recorder.detach();
    emu.dispose();
  });
}
