import { describe, expect, it } from 'vitest';
import { parseSymbolText, SymbolIndex } from '../../src/dumps/symbol-table.ts';

describe('parseSymbolText', () => {
  it.each([
    ['hal!HalpIpiHandler+0xcc', { module: 'hal', symbol: 'HalpIpiHandler', offset: 0xccn }],
    ['hal!HalpIpiHandler', { module: 'hal', symbol: 'HalpIpiHandler', offset: 0n }],
    ['app!main+0x0000000000000024', { module: 'app', symbol: 'main', offset: 0x24n }],
    ['app!Foo::Bar+0x12', { module: 'app', symbol: 'Foo::Bar', offset: 0x12n }],
    ['nt+0x1a2b', { module: 'nt', offset: 0x1a2bn }],
  ])('splits %s', (text, expected) => {
    expect(parseSymbolText(text)).toEqual(expected);
  });

  it.each(['push', '0E1h', 'dword', '80a5b020', 'ptr [eax+3Dh],1'])('rejects %s', (text) => {
    expect(parseSymbolText(text)).toBeUndefined();
  });
});

describe('SymbolIndex', () => {
  const x86 = (): SymbolIndex => {
    const symbols = new SymbolIndex({ arch: 'x86' });
    symbols.add('hal', 'HalpIpiHandler', 0x80a5d830n);
    symbols.add('hal', 'HalBeginSystemInterrupt', 0x80a604ben);
    symbols.add('nt', 'KiCheckForKernelApcDelivery', 0x8082e3aan, 0x3en);
    return symbols;
  };

  it('formats an exact match, an offset and an unknown address like WinDbg', () => {
    const symbols = x86();
    expect(symbols.format(0x80a5d830n)).toBe('hal!HalpIpiHandler');
    expect(symbols.format(0x80a5d8fcn)).toBe('hal!HalpIpiHandler+0xcc');
    expect(symbols.format(0x1000n)).toBe('00001000');
    expect(new SymbolIndex({ arch: 'x64' }).format(0xfffff8803836e110n)).toBe('fffff880`3836e110');
    expect(new SymbolIndex({ arch: 'x64' }).format(0x1000n)).toBe('00000000`00001000');
    expect(symbols.size).toBe(3);
  });

  it('looks up the nearest symbol at or below, within its size or the unsized limit', () => {
    const symbols = x86();
    expect(symbols.lookup(0x8082e3e1n)).toEqual({ module: 'nt', symbol: 'KiCheckForKernelApcDelivery', base: 0x8082e3aan, offset: 0x37n });
    expect(symbols.lookup(0x8082e3e8n)).toBeUndefined(); // past its 0x3e bytes
    expect(symbols.lookup(0x80a5d82fn)).toBeUndefined();
    expect(symbols.lookup(0x80a604ben + 0x10000n)?.symbol).toBe('HalBeginSystemInterrupt');
    expect(symbols.lookup(0x80a604ben + 0x10001n)).toBeUndefined();
    const wide = new SymbolIndex({ maxUnsizedOffset: 0x100000n });
    wide.add('hal', 'HalBeginSystemInterrupt', 0x80a604ben);
    expect(wide.lookup(0x80a604ben + 0x10001n)?.offset).toBe(0x10001n);
  });

  it('resolves names with or without module, offset, and case', () => {
    const symbols = x86();
    expect(symbols.resolve('hal!HalBeginSystemInterrupt')).toBe(0x80a604ben);
    expect(symbols.resolve('HAL!halpipihandler+0xcc')).toBe(0x80a5d8fcn);
    expect(symbols.resolve('KiCheckForKernelApcDelivery+37')).toBe(0x8082e3e1n);
    expect(symbols.resolve('hal!NoSuchThing')).toBeUndefined();
  });

  it('keeps the first address of a name and reports a different one', () => {
    const symbols = x86();
    expect(symbols.add('hal', 'HalpIpiHandler', 0x80a5d830n, 0xd0n)).toEqual({ status: 'known' });
    expect(symbols.lookup(0x80a5d900n)).toBeUndefined(); // the size filled in
    const result = symbols.add('hal', 'HalpIpiHandler', 0x80a5d834n);
    expect(result.status).toBe('conflict');
    expect(symbols.resolve('hal!HalpIpiHandler')).toBe(0x80a5d830n);
  });

  it('falls back to module+offset inside a known module, and prefers a symbol at the same address', () => {
    const symbols = new SymbolIndex({ arch: 'x86' });
    symbols.addModule('nt', 0x804d7000n, 0x1f6280n);
    symbols.add('nt', 'KiSystemStartup', 0x804d7000n);
    symbols.add('nt', 'KiTrap0E', 0x80541000n, 0x100n);
    expect(symbols.format(0x804d7000n)).toBe('nt!KiSystemStartup');
    expect(symbols.format(0x80541010n)).toBe('nt!KiTrap0E+0x10');
    expect(symbols.format(0x80600000n)).toBe('nt+0x129000');
    expect(symbols.format(0x806cd280n)).toBe('806cd280');
    expect(symbols.resolve('nt')).toBe(0x804d7000n);
    expect(symbols.size).toBe(2);
  });
});
