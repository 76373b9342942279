/** JSON Lines export: a header line, one object per instruction, hex strings for every value. */
import { describe, expect, it } from 'vitest';
import { jsonlLines } from '../../traces/export/jsonl.ts';
import { X64_HEADER, X86_HEADER, x64Run, x86Run } from './fixtures.ts';

describe('jsonlLines', () => {
  it('writes the header, then each instruction with its registers, memory and events', () => {
    const lines = [...jsonlLines({ header: X86_HEADER, batches: x86Run(), stopReason: 'trapped' })].map((l) => JSON.parse(l));
    expect(lines).toHaveLength(7);
    expect(lines[0]).toEqual({
      type: 'header', version: 1, arch: 'x86', source: 'test',
      registers: ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp', 'esp', 'efl'],
      startRegisters: { eax: '0x0', ebx: '0x7ffdf000', ecx: '0x0', edx: '0x0', esi: '0x80a5d8fc', edi: '0x0', ebp: '0xf78aecf0', esp: '0xf78aecb0', eip: '0x8082e3d8', efl: '0x246' },
      memory: 'raw image kernel.bin@0x80800000', created: '2026-01-02T03:04:05.000Z',
    });
    expect(lines[1]).toEqual({
      type: 'instruction', index: 0, pc: '0x8082e3d8', size: 5, bytes: 'a120b0a580',
      registers: { eax: '0x80a5d8fc' },
      memory: [{ kind: 'read', address: '0x80a5b020', size: 4, value: '0x80a5d8fc' }],
    });
    expect(lines[3]).toEqual({ type: 'instruction', index: 2, pc: '0x8082e3de', size: 1, bytes: '40', registers: { eax: '0x80a5d8fd', efl: '0x282' } });
    expect(lines[5]).toEqual({
      type: 'instruction', index: 4, pc: '0x80a5d8fc', size: 1, bytes: 'cc',
      events: [{ kind: 'trap', index: 4, vector: 3, pc: '0x80a5d8fc' }],
    });
    expect(lines[6]).toEqual({ type: 'end', reason: 'trapped' });
  });

  it('keeps 64-bit values exact as strings', () => {
    const lines = [...jsonlLines({ header: X64_HEADER, batches: x64Run() })];
    expect(lines[0]).toContain('"r15":"0x8000000000000001"');
    expect(JSON.parse(lines[2]!).memory).toEqual([{ kind: 'write', address: '0xfffff88003a1f780', size: 8, value: '0xfffffa8003b5c060' }]);
    expect(lines).toHaveLength(4); // no end line without a stop reason
  });
});
