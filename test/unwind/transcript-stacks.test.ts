/**
 * A transcript's `kb` read as recorded frames and compared with the walk.
 *
 * - A real crash (the backtrace program's assertion on x64, a kernel core)
 *   written as a cdb session by the lab's transcript writer, which shares
 *   no code with faultline's reader: its `kb` rows come back frame for
 *   frame, and the walk over the memory the transcript holds agrees with
 *   them as far as it goes.
 * - The row forms WinDbg prints (x86 `kb` with three argument words, `kv`'s
 *   FPO trailer, `k` without arguments), from WinDbg's documentation.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeTranscript } from '../../lab/writers/index.ts';
import { loadTranscript } from '../../src/dumps/transcript/loader.ts';
import { compareWithRecorded, recordedFrames } from '../../src/unwind/recorded.ts';
import { walkStack } from '../../src/unwind/walk.ts';
import { coreDumpBlocked, crashCore } from '../helpers/backtrace-programs.ts';
import { toolchainMissing } from '../helpers/system.ts';

const dir = mkdtempSync(join(tmpdir(), 'faultline-kb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(toolchainMissing('x64').length > 0 || coreDumpBlocked() !== undefined)('kb in a transcript of a real crash', () => {
  it('reads every kb row and names the program frames; the walk agrees where the transcript holds the stack', async () => {
    const run = crashCore('x64', 'O2', 'assert', dir);
    const path = join(dir, 'assert.txt');
    await writeTranscript({ arch: 'x64', core: run.core, binaries: [run.binary], sysroot: '/', signal: 6 }, path, { style: 'user' });
    const text = readFileSync(path, 'utf8');
    const rows = text.slice(text.indexOf('> kb')).split('\n').filter((l) => /^[0-9a-f]{2} [0-9a-f]{8}`/.test(l));
    const dump = loadTranscript(path);
    const thread = dump.threads[0]!;
    const [stack] = thread.recordedStacks ?? [];
    expect(stack?.command).toBe('kb');
    // Each row as the writer printed it: index, Child-SP, RetAddr, and the site after the last colon.
    expect(stack!.frames.map((f) => [f.index, f.frameAddress, f.returnAddress, f.site])).toEqual(rows.map((row) => {
      const [index, sp, ret] = row.split(/\s+/);
      return [Number.parseInt(index!, 16), BigInt(`0x${sp!.replace('`', '')}`), BigInt(`0x${ret!.replace('`', '')}`), row.slice(row.lastIndexOf(' : ') + 3).trim()];
    }));
    const program = stack!.frames.map((f) => /^bt_x64_O2!(\w+)\+/.exec(f.site)?.[1]).filter(Boolean);
    expect(program).toEqual(['check', 'level2', 'level1', 'main']);
    // Frame 0's Child-SP is the context's rsp.
    expect(stack!.frames[0]!.frameAddress).toBe(thread.contexts[0]!.registers.rsp);
    const walk = await walkStack(dump, thread.contexts[0]!);
    const comparison = compareWithRecorded(walk, recordedFrames(stack!, thread.contexts[0]!.registers.rip));
    expect(comparison.compared).toBeGreaterThan(0);
    expect(comparison.agreeing).toBe(comparison.compared);
  }, 60_000);
});

describe('kb row forms', () => {
  it('x86 kb (three argument words), kv (FPO trailer) and k (no arguments)', () => {
    const dump = loadTranscript('forms.txt', [
      '0:000> kb',
      ' # ChildEBP RetAddr  Args to Child              ',
      '00 0019f1d4 100aa414 06700ff8 0019fcd4 0019f30c FreeImaged!FreeImage_HasPixels+0x15',
      '01 0019f1e8 100b1ab1 06700ff8 0019f30c 0019fcd4 FreeImaged!FreeImage_GetBits+0x14',
      '0:000> kv',
      'ChildEBP RetAddr  Args to Child              ',
      '0012f784 7c90e9c0 7c8025cb 00000044 00000000 ntdll!KiFastSystemCallRet (FPO: [0,0,0])',
      '0012f7e8 7c802532 00000044 ffffffff 00000000 kernel32!WaitForSingleObjectEx+0xa8 (FPO: [Non-Fpo])',
      '0:000> k',
      ' # ChildEBP RetAddr',
      '00 0012f784 7c90e9c0 ntdll!KiFastSystemCallRet',
      '01 0012f7e8 7c802532 kernel32!WaitForSingleObjectEx+0xa8',
      '',
    ].join('\n'));
    const stacks = dump.threads[0]!.recordedStacks!;
    expect(stacks.map((s) => s.command)).toEqual(['kb', 'kv', 'k']);
    expect(stacks[0]!.frames.map((f) => [f.index, f.frameAddress, f.returnAddress, f.site])).toEqual([
      [0, 0x19f1d4n, 0x100aa414n, 'FreeImaged!FreeImage_HasPixels+0x15'],
      [1, 0x19f1e8n, 0x100b1ab1n, 'FreeImaged!FreeImage_GetBits+0x14'],
    ]);
    expect(stacks[1]!.frames.map((f) => f.site)).toEqual(['ntdll!KiFastSystemCallRet', 'kernel32!WaitForSingleObjectEx+0xa8']);
    expect(stacks[2]!.frames.map((f) => [f.frameAddress, f.site])).toEqual([[0x12f784n, 'ntdll!KiFastSystemCallRet'], [0x12f7e8n, 'kernel32!WaitForSingleObjectEx+0xa8']]);
    // A site after the first names the previous return address.
    expect(dump.symbols.format(0x100aa414n)).toBe('FreeImaged!FreeImage_GetBits+0x14');
  });
});
