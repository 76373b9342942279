/** A real recorded run streamed through the writer, read back and printed: the pieces agree with each other. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { Emulator } from '../../emu/emulator.ts';
import { Recorder } from '../../emu/recorder.ts';
import { createDisassembler } from '../../src/disasm/disassembler.ts';
import { textLines } from '../../traces/export/text.ts';
import { readTrace } from '../../traces/reader.ts';
import { TraceWriter } from '../../traces/writer.ts';
import { assemble } from '../helpers/assemble.ts';
import { lacks } from '../helpers/system.ts';

it.skipIf(lacks('binutils'))('records an x86 run into a file that reads back and prints as WinDbg would', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-trace-'));
  const path = join(dir, 'run.fltrace');
  const emu = Emulator.open('x86');
  try {
    emu.mapBytes(0x1000n, assemble('x86', 'mov eax, [0x2000]\npush eax\ninc eax\nint3'));
    emu.map(0x2000n, 0x1000);
    emu.map(0x7000n, 0x1000);
    emu.writeValue(0x2000n, 4, 0x80a5d8fcn);
    emu.writeRegisters({ esp: 0x7800n, eax: 0n });
    const writer = TraceWriter.open(path);
    const recorder = Recorder.attach(emu, writer, { batchSize: 3 });
    writer.writeHeader({ version: 1, arch: 'x86', registers: recorder.registers, startRegisters: emu.readRegisters() });
    const result = emu.run({ from: 0x1000n });
    expect(result).toMatchObject({ kind: 'trapped', vector: 3 });
    recorder.addEvent({ kind: 'trap', vector: 3, pc: 0x1007n });
    recorder.flushEvents();
    recorder.detach();
    writer.close('trapped');

    const trace = readTrace(path);
    expect(trace.truncated).toBe(false);
    expect(trace.batches.map((b) => b.count)).toEqual([3, 1, 0]);
    const disassembler = await createDisassembler('x86');
    const lines = [...textLines({ header: trace.header!, batches: trace.batches, events: trace.events }, { disassembler })];
    disassembler.close();
    expect(lines).toEqual([
      '00001000 a100200000      mov     eax,dword ptr [00002000]',
      '  eax=80a5d8fc',
      '  [00002000] -> 80a5d8fc (4)',
      '00001005 50              push    eax',
      '  esp=000077fc',
      '  [000077fc] <- 80a5d8fc (4)',
      '00001006 40              inc     eax',
      '  eax=80a5d8fd efl=00000082',
      '00001007 cc              int     3',
      '  *** trap int 3 at 00001007',
    ]);
  } finally {
    emu.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
