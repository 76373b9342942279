/**
 * Walks on the bundled minidumps, against what their own records say.
 * breakpad's `minidump2.stackwalk.out` is minidump_stackwalk's output for
 * `minidump2.dmp` (its frames were found by breakpad's CFI from symbol
 * files; faultline has only the stack and follows the ebp chain, which
 * must lead to the same frames).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
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
