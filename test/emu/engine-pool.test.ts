/**
 * A reused engine (emu/engine-pool.ts) must behave as a new one: the code,
 * registers, memory, hooks and exits of the emulator that used it before
 * must not show. Each case first checks that the engine really was reused.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../emu/emulator.ts';
import { keptEngines, reuseEngines } from '../../emu/engine-pool.ts';
import { nativeRecorder } from '../../emu/native.ts';
import type { MemorySource } from '../../emu/memory-source.ts';
import { Recorder } from '../../emu/recorder.ts';

/** Disposes `emu` and checks that its engine was kept; then opens the next emulator, which must take it. */
function handOver(emu: Emulator): Emulator {
  const before = keptEngines('x64');
  emu.dispose();
  expect(keptEngines('x64')).toBe(before + 1);
  const next = Emulator.open('x64');
  expect(keptEngines('x64')).toBe(before);
  return next;
}
// mov eax, VALUE; int3
const movEaxInt3 = (value: number) => Uint8Array.of(0xb8, value & 0xff, (value >> 8) & 0xff, 0, 0, 0xcc);

describe.skipIf(!nativeRecorder())('engine reuse', () => {
  beforeEach(() => reuseEngines(2));
  afterEach(() => reuseEngines(0));

  it('runs the code now at an address, not the translation of what was there before', () => {
    const first = Emulator.open('x64');
    first.mapBytes(0x1000n, movEaxInt3(1));
    for (let i = 0; i < 3; i++) expect(first.run({ from: 0x1000n, maxInstructions: 10 })).toMatchObject({ kind: 'trapped', vector: 3 });
    expect(first.readRegister('rax')).toBe(1n);
    const second = handOver(first);
    expect(second.isMapped(0x1000n)).toBe(false);
    expect(() => second.read(0x1000n, 1)).toThrow(/uc_mem_read/);
    second.mapBytes(0x1000n, movEaxInt3(2));
    expect(second.run({ from: 0x1000n, maxInstructions: 10 })).toMatchObject({ kind: 'trapped', vector: 3 });
    expect(second.readRegister('rax')).toBe(2n);

    // Memory mapped and never written (zeros: add [rax], al) gets no translation invalidated on a write.
    const third = handOver(second);
    third.map(0x1000n, 0x1000);
    expect(third.run({ from: 0x1000n, maxInstructions: 10 })).toMatchObject({ kind: 'fault', pc: 0x1000n });
    third.dispose();
  });

  it('starts with the registers of a new engine, and without the hooks and exits of the last', () => {
    const fresh = Emulator.open('x64');
    const initial = fresh.readRegisters();
    fresh.writeRegisters({ rbx: 0x1234n, rsp: 0x8000n, efl: 0x246n });
    let calls = 0;
    fresh.onInstruction(() => calls++);
    fresh.mapBytes(0x2000n, Uint8Array.of(0x90, 0x90, 0xcc));
    fresh.run({ from: 0x2000n, until: 0x2001n, maxInstructions: 10 });
    const reused = handOver(fresh);
    expect(reused.readRegisters()).toEqual(initial);
    reused.mapBytes(0x2000n, Uint8Array.of(0x90, 0x90, 0xcc));
    // No exit at 0x2001 is left over: the run goes on to the int3.
    expect(reused.run({ from: 0x2000n, maxInstructions: 10 })).toMatchObject({ kind: 'trapped', vector: 3, pc: 0x2003n });
    expect(calls).toBe(1);
    reused.dispose();
  });

  it('pages memory in from its own source', () => {
    const source = (value: number): MemorySource => ({
      read: (at, length) => (at === 0x3000n ? Uint8Array.from({ length }, (_, i) => (i < 6 ? movEaxInt3(value)[i]! : 0)) : undefined),
    });
    const first = Emulator.open('x64');
    first.setMemorySource(source(7));
    first.run({ from: 0x3000n, maxInstructions: 10 });
    expect(first.readRegister('rax')).toBe(7n);
    const second = handOver(first);
    second.setMemorySource(source(9));
    expect(second.run({ from: 0x3000n, maxInstructions: 10 })).toMatchObject({ kind: 'trapped', vector: 3 });
    expect(second.readRegister('rax')).toBe(9n);
    expect(second.lazyPagesMapped).toBe(1);
    second.dispose();
  });

  it('keeps none when reuse is off, nor one a recorder is still attached to', () => {
    reuseEngines(0);
    Emulator.open('x64').dispose();
    expect(keptEngines('x64')).toBe(0);
    reuseEngines(2);
    const recorded = Emulator.open('x64');
    recorded.mapBytes(0x1000n, movEaxInt3(1));
    const recorder = Recorder.attach(recorded, { onBatch: () => {} });
    recorded.run({ from: 0x1000n, maxInstructions: 10 });
    recorded.dispose();
    expect(keptEngines('x64')).toBe(0);
    void recorder;
  });
});
