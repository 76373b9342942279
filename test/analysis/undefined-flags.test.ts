/**
 * Flags a run leaves undefined at its end, which an account's replay may
 * set differently from the CPU without either being wrong.
 */
import { describe, expect, it } from 'vitest';
import { AF, CF, OF, PF, SF, ZF, flagsLeftUndefined } from '../../src/analysis/undefined-flags.ts';

describe('flags left undefined by a run', () => {
  it('imul then a return leaves SF, ZF, AF and PF undefined (a virtual method returning a product)', () => {
    expect(flagsLeftUndefined('x64', ['mov', 'imul', 'ret', 'mov'])).toBe(SF | ZF | AF | PF);
  });

  it('a later instruction that sets a flag from its result defines it again', () => {
    expect(flagsLeftUndefined('x64', ['imul', 'test'])).toBe(AF);
    expect(flagsLeftUndefined('x86', ['imul', 'cmp'])).toBe(0n);
    expect(flagsLeftUndefined('x86', ['div', 'inc'])).toBe(CF);
  });

  it('shifts leave OF and AF, and an instruction that cannot be decoded changes nothing', () => {
    expect(flagsLeftUndefined('x64', ['add', 'shl', undefined])).toBe(OF | AF);
  });

  it('AArch64 has no undefined flags', () => {
    expect(flagsLeftUndefined('arm64', ['mul', 'udiv'])).toBe(0n);
  });
});
