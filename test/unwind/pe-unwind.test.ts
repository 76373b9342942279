/**
 * PE x64 unwinding on a real image: tenet's `boombox.exe` (MSVC, x64),
 * mapped section by section as the Windows loader would (the section
 * headers are read here with a few lines of our own, not faultline's PE
 * reader). For functions whose unwind codes binutils' `objdump -x`
 * interprets (pushes, small and large allocations, saves, chained
 * entries), the stack is filled with a distinct word per slot and the
 * expected caller — where each saved register and the return address sit —
 * is worked out from objdump's text alone.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Dump } from '../../src/dumps/model.ts';
import { SparseMemory } from '../../src/dumps/sparse-memory.ts';
import { SymbolIndex } from '../../src/dumps/symbol-table.ts';
import { peUnwindTables } from '../../src/unwind/pe-unwind.ts';
import { walkStack } from '../../src/unwind/walk.ts';
import { lacks } from '../helpers/system.ts';

const EXE = 'test/fixtures/dumps/tenet/boombox/boombox.exe';
const BASE = 0x140000000n;
const STACK = 0x14f000n;

/** The image as loaded: headers, then each section at its virtual address. */
function loadImage(): SparseMemory {
  const file = readFileSync(EXE);
  const pe = file.readUInt32LE(0x3c);
  const sections = file.readUInt16LE(pe + 6);
  const optionalSize = file.readUInt16LE(pe + 20);
  const memory = new SparseMemory();
  const headers = file.readUInt32LE(pe + 24 + 60); // SizeOfHeaders
  memory.write(BASE, file.subarray(0, headers), { source: EXE }, 'data');
  for (let i = 0; i < sections; i++) {
    const at = pe + 24 + optionalSize + i * 40;
    const virtualSize = file.readUInt32LE(at + 8);
    const rva = file.readUInt32LE(at + 12);
    const rawSize = file.readUInt32LE(at + 16);
    const raw = file.readUInt32LE(at + 20);
    const bytes = new Uint8Array(Math.max(virtualSize, rawSize));
    bytes.set(file.subarray(raw, raw + Math.min(rawSize, bytes.length)));
    memory.write(BASE + BigInt(rva), bytes, { source: `${EXE} section ${i}` }, 'code');
  }
  return memory;
}

interface UnwindEntry {
  rva: bigint;
  begin: bigint;
  prolog: number;
  /** objdump's lines, in the order it lists them (last prolog instruction first). */
  codes: string[];
  chain?: bigint;
}

/** objdump's interpretation of every UNWIND_INFO (the "Dump of .rdata" part of `objdump -x`), by function start. */
function objdumpUnwind(): Map<bigint, UnwindEntry> {
  const text = execFileSync('objdump', ['-x', EXE], { encoding: 'utf8' });
  const byRva = new Map<bigint, UnwindEntry>();
  const byBegin = new Map<bigint, UnwindEntry>();
  let current: UnwindEntry | undefined;
  for (const line of text.split('\n')) {
    const head = /^ [0-9a-f]{16} \(rva: ([0-9a-f]+)\): ([0-9a-f]{16}) - /.exec(line);
    if (head) {
      current = { rva: BigInt(`0x${head[1]}`), begin: BigInt(`0x${head[2]}`), prolog: 0, codes: [] };
      byRva.set(current.rva, current);
      byBegin.set(current.begin, current);
      continue;
    }
    if (!current) continue;
    const prolog = /Prologue size: 0x([0-9a-f]+)/.exec(line);
    if (prolog) current.prolog = Number.parseInt(prolog[1]!, 16);
    const code = /^\s+pc\+0x[0-9a-f]+: (.*)$/.exec(line);
    if (code) current.codes.push(code[1]!);
    const chain = /unwind data: ([0-9a-f]+)\./.exec(line);
    if (chain) current.chain = BigInt(`0x${chain[1]}`);
  }
  for (const entry of byBegin.values()) if (entry.chain !== undefined) (entry as UnwindEntry & { parent?: UnwindEntry }).parent = byRva.get(entry.chain);
  return byBegin;
}

/** Where objdump's codes put each saved register and the return address, relative to the body's rsp. */
function expectedSlots(entry: UnwindEntry): { saved: Map<string, bigint>; returnAt: bigint } {
  const saved = new Map<string, bigint>();
  let offset = 0n;
  for (let e: (UnwindEntry & { parent?: UnwindEntry }) | undefined = entry; e; e = e.parent) {
    for (const code of e.codes) {
      const alloc = /alloc (?:small|large) area: rsp = rsp - 0x([0-9a-f]+)/.exec(code);
      const push = /^push (\w+)/.exec(code);
      const save = /^save (\w+) at rsp \+ 0x([0-9a-f]+)/.exec(code);
      if (alloc) offset += BigInt(`0x${alloc[1]}`);
      else if (push) {
        if (!saved.has(push[1]!)) saved.set(push[1]!, offset);
        offset += 8n;
      } else if (save) {
        if (!saved.has(save[1]!)) saved.set(save[1]!, BigInt(`0x${save[2]}`));
      } else throw new Error(`objdump code not modelled here: ${code}`);
    }
  }
  return { saved, returnAt: offset };
}

const word = (slot: bigint) => 0x5100_0000n + slot; // a distinct value per stack slot

describe.skipIf(lacks('binutils'))('PE x64 unwind codes on boombox.exe', () => {
  const entries = objdumpUnwind();
  // Pushes and an allocation; saves and a push; a chain of three entries.
  const cases = [0x140001060n, 0x140001250n, 0x1400012b0n, 0x1400014a1n, 0x1400016f0n];

  for (const begin of cases) {
    it(`the caller of a frame in the function at 0x${begin.toString(16)}, past its prolog`, () => {
      const entry = entries.get(begin)!;
      expect(entry, 'objdump lists the function').toBeDefined();
      const memory = loadImage();
      const stack = new Uint8Array(0x400);
      const view = new DataView(stack.buffer);
      for (let i = 0; i < 0x400; i += 8) view.setBigUint64(i, word(BigInt(i)), true);
      const { saved, returnAt } = expectedSlots(entry);
      const returnAddress = 0x140001010n; // inside .text
      view.setBigUint64(Number(returnAt), returnAddress, true);
      memory.write(STACK, stack, { source: 'stack' }, 'data');
      const pc = begin + BigInt(entry.prolog) + 1n;
      const unwinder = peUnwindTables(memory, BASE, 'boombox.exe')!;
      const caller = unwinder.caller({ rip: pc, rsp: STACK }, pc, false)!;
      expect(caller.registers.rip).toBe(returnAddress);
      expect(caller.registers.rsp).toBe(STACK + returnAt + 8n);
      expect(saved.size).toBeGreaterThan(0);
      for (const [register, slot] of saved) expect(caller.registers[register as 'rbx'], register).toBe(word(slot));
    });
  }

  it('walks from a frame in a function through its .pdata, tagged cfi', async () => {
    const entry = entries.get(0x140001060n)!;
    const memory = loadImage();
    const { returnAt } = expectedSlots(entry);
    const stack = new Uint8Array(0x100);
    new DataView(stack.buffer).setBigUint64(Number(returnAt), 0x140001010n, true);
    memory.write(STACK, stack, { source: 'stack' }, 'data');
    const dump: Dump = {
      format: 'raw', path: EXE, arch: 'x64', modules: [{ name: 'boombox.exe', base: BASE, size: 0x10000n }], symbols: new SymbolIndex({ arch: 'x64' }), memory, notes: [],
      threads: [{ id: 1, contexts: [{ kind: 'thread', label: 'synthetic', registers: { rip: 0x140001080n, rsp: STACK }, provenance: { source: 'test' } }] }],
    };
    const walk = await walkStack(dump, dump.threads[0]!.contexts[0]!, { maxFrames: 2 });
    expect(walk.frames[1]).toMatchObject({ trust: 'cfi', pc: 0x140001010n, sp: STACK + returnAt + 8n });
    expect(walk.frames[0]!.unwindSource).toBe('boombox.exe .pdata');
  });

  it('a malformed UNWIND_INFO gives a note and a scan fallback, not an error', async () => {
    const entry = entries.get(0x140001060n)!;
    const image = loadImage();
    const damaged = BASE + entry.rva;
    // The image as loaded, but its UNWIND_INFO's first byte says version 7.
    const memory = Object.assign(Object.create(image) as SparseMemory, {
      read(address: bigint, length: number) {
        const bytes = image.read(address, length);
        if (bytes && damaged >= address && damaged < address + BigInt(length)) bytes[Number(damaged - address)] = 0x07;
        return bytes;
      },
    });
    // The return address follows a real call in boombox.exe, so a scan accepts it.
    const text = execFileSync('objdump', ['-d', '--start-address=0x140001000', '--stop-address=0x140001300', EXE], { encoding: 'utf8' });
    const call = /^\s+([0-9a-f]+):\s+((?:[0-9a-f]{2} )+)\s*call/m.exec(text)!;
    const returnAddress = BigInt(`0x${call[1]}`) + BigInt(call[2]!.trim().split(' ').length);
    const stack = new Uint8Array(0x100);
    new DataView(stack.buffer).setBigUint64(0x28, returnAddress, true);
    image.write(STACK, stack, { source: 'stack' }, 'data');
    const dump: Dump = {
      format: 'raw', path: EXE, arch: 'x64', modules: [{ name: 'boombox.exe', base: BASE, size: 0x10000n }], symbols: new SymbolIndex({ arch: 'x64' }), memory, notes: [],
      threads: [{ id: 1, contexts: [{ kind: 'thread', label: 'synthetic', registers: { rip: 0x140001080n, rsp: STACK }, provenance: { source: 'test' } }] }],
    };
    const walk = await walkStack(dump, dump.threads[0]!.contexts[0]!, { maxFrames: 2 });
    expect(walk.notes.join('\n')).toMatch(/unusable \(UNWIND_INFO version 7 in boombox\.exe/);
    expect(walk.frames[1]).toMatchObject({ trust: 'scan', pc: returnAddress, sp: STACK + 0x30n });
  });
});
