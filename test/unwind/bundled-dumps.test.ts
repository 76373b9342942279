/**
 * Walks on the bundled dumps, against what their own records or gdb say.
 * breakpad's `minidump2.stackwalk.out` is minidump_stackwalk's output for
 * `minidump2.dmp` (its frames were found by breakpad's CFI from symbol
 * files; faultline has only the stack and follows the ebp chain, which
 * must lead to the same frames).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openElfCore } from '../../src/dumps/elf/open-core.ts';
import { openDump } from '../../src/dumps/open.ts';
import { frameSymbol } from '../../src/unwind/frame-symbol.ts';
import { walkStack } from '../../src/unwind/walk.ts';

const BREAKPAD = 'test/fixtures/dumps/breakpad';

/** `eip = 0x… esp = 0x…` of each frame in minidump_stackwalk's text output, with the module it names. */
function stackwalkFrames(text: string): Array<{ module: string; eip: bigint; esp: bigint }> {
  const frames: Array<{ module: string; eip: bigint; esp: bigint }> = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const head = /^\s*\d+\s+([^!\s]+)!/.exec(line);
    const regs = /eip = 0x([0-9a-f]+)\s+esp = 0x([0-9a-f]+)/.exec(lines[i + 1] ?? '');
    if (head && regs) frames.push({ module: head[1]!.replace(/\.(exe|dll)$/, ''), eip: BigInt(`0x${regs[1]}`), esp: BigInt(`0x${regs[2]}`) });
  });
  return frames;
}

describe('minidump walks', () => {
  it('minidump2.dmp: the frames and stack pointers minidump_stackwalk reports', async () => {
    const expected = stackwalkFrames(readFileSync(`${BREAKPAD}/minidump2.stackwalk.out`, 'utf8'));
    // test_app.exe!`anonymous namespace'::CrashFunction, main, __tmainCRTStartup, kernel32.dll!BaseProcessStart.
    expect(expected.map((f) => f.eip)).toEqual([0x40429en, 0x404200n, 0x4053ecn, 0x7c816fd7n]);
    const dump = await openDump(`${BREAKPAD}/minidump2.dmp`);
    const thread = dump.threads.find((t) => t.contexts.some((c) => c.registers.eip === 0x40429en))!;
    const walk = await walkStack(dump, thread.contexts.find((c) => c.registers.eip === 0x40429en)!);
    expect(walk.frames.map((f) => ({ module: frameSymbol(dump, f)?.module, eip: f.pc, esp: f.sp }))).toEqual(expected);
    expect(walk.frames.map((f) => f.trust)).toEqual(['context', 'frame-pointer', 'frame-pointer', 'frame-pointer']);
  });
});

describe('core walks against gdb bt (run by hand, pasted below)', () => {
  const cases: Array<{ core: string; binary: string; command: string; frames: Array<[bigint, string]> }> = [
    {
      core: 'test/fixtures/dumps/lldb/elf-core/linux-x86_64.core', binary: 'test/fixtures/dumps/lldb/elf-core/linux-x86_64.out',
      // gdb 13.1: gdb -batch -ex bt linux-x86_64.out linux-x86_64.core
      //   #0 0x40011c in bar (boom=0x0)  #1 0x400142 in foo (…)  #2 0x40015f in _start ()
      command: 'gdb bt', frames: [[0x40011cn, 'bar'], [0x400142n, 'foo'], [0x40015fn, '_start']],
    },
    {
      core: 'test/fixtures/dumps/lldb/elf-core/linux-i386.core', binary: 'test/fixtures/dumps/lldb/elf-core/linux-i386.out',
      // gdb 13.1: gdb -batch -ex bt linux-i386.out linux-i386.core
      //   #0 0x080480c5 in bar (boom=0x0)  #1 0x080480df in foo (…)  #2 0x080480ff in _start ()
      command: 'gdb bt', frames: [[0x80480c5n, 'bar'], [0x80480dfn, 'foo'], [0x80480ffn, '_start']],
    },
    {
      core: 'test/fixtures/dumps/faultline/qemu-aarch64/crash-aarch64.core', binary: 'test/fixtures/dumps/faultline/qemu-aarch64/crash-aarch64',
      // gdb-multiarch 13.1: gdb-multiarch -batch -ex bt ./crash-aarch64 crash-aarch64.core
      //   #0 0x400100 in crash_here ()  #1 0x4000f4 in _start ()   (a leaf without CFI: the caller is at x30)
      command: 'gdb bt', frames: [[0x400100n, 'crash_here'], [0x4000f4n, '_start']],
    },
  ];
  for (const { core, binary, frames } of cases) {
    it(`${core.split('/').pop()}: ${frames.map(([, name]) => name).join(' ← ')}`, async () => {
      const dump = openElfCore(core, { binaries: [binary] });
      try {
        const walk = await walkStack(dump, dump.threads[0]!.contexts[0]!);
        expect(walk.frames.map((f) => [f.pc, frameSymbol(dump, f)?.symbol])).toEqual(frames);
      } finally {
        dump.close();
      }
    });
  }
});
