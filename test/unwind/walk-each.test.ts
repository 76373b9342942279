/**
 * walkEach walks without Capstone first and loads it only when a scan met
 * code whose call site it would have decoded: its walks must be those of a
 * walker that had Capstone from the start, on dumps that need no decoding
 * (the aarch64 core, the three-thread cores) and on dumps whose scans
 * decode call sites (the lldb x86 and x86-64 cores, breakpad minidumps).
 */
import { describe, expect, it } from 'vitest';
import { openDump } from '../../src/dumps/open.ts';
import { StackWalker, walkEach } from '../../src/unwind/walk.ts';

const DUMPS = [
  'test/fixtures/dumps/faultline/qemu-aarch64/crash-aarch64.core',
  'test/fixtures/dumps/lldb/elf-core/thread_crash/linux-x86_64.core',
  'test/fixtures/dumps/lldb/elf-core/linux-x86_64.core',
  'test/fixtures/dumps/lldb/elf-core/linux-i386.core',
  'test/fixtures/dumps/breakpad/linux_divide_by_zero.dmp',
  'test/fixtures/dumps/breakpad/exec_av_on_stack.dmp',
];

describe('walkEach', () => {
  it.each(DUMPS)('%s: the same walks as a walker with Capstone', async (path) => {
    const dump = await openDump(path);
    const contexts = dump.threads.flatMap((t) => t.contexts.slice(0, 1));
    expect(contexts.length).toBeGreaterThan(0);
    const walker = await StackWalker.create(dump);
    const expected = contexts.map((c) => walker.walk(c));
    walker.close();
    const plain = StackWalker.using(dump, undefined);
    for (const c of contexts) plain.walk(c);
    const decodes = plain.wantedDisassembler ? 1 : 0;
    expect(await walkEach(dump, contexts)).toEqual(expected);
    // Both kinds are covered: the first two need no call-site decoding, the others do.
    expect(decodes).toBe(DUMPS.indexOf(path) < 2 ? 0 : 1);
  });
});
