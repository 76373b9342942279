/**
 * `info` prints stacks: the faulting thread's by default, every thread's
 * with `--all-threads`, as `k` rows with trust tags, and in `--json` with
 * the registers known per frame. Dumps: breakpad's minidump2.dmp (x86,
 * two threads; its crash frames are minidump_stackwalk's) and
 * thread_name_list.dmp (six threads).
 */
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.ts';

const BREAKPAD = 'test/fixtures/dumps/breakpad';

describe('info stacks', () => {
  it('prints the faulting thread as k rows with trust tags', async () => {
    const { code, out } = await runCli('info', `${BREAKPAD}/minidump2.dmp`);
    expect(code).toBe(0);
    const rows = out.split('\n').filter((l) => /^ {4}[0-9a-f]{2} /.test(l)).map((l) => l.trim());
    expect(out).toContain('# Child-SP RetAddr  Call Site');
    // minidump_stackwalk: eip 0040429e esp 0012fe84, 00404200/0012fe90, 004053ec/0012ff78, 7c816fd7/0012ffc8.
    expect(rows).toEqual([
      '00 0012fe84 00404200 test_app+0x429e [context]',
      '01 0012fe90 004053ec test_app+0x4200 [frame-pointer]',
      '02 0012ff78 7c816fd7 test_app+0x53ec [frame-pointer]',
      '03 0012ffc8 00000000 kernel32+0x16fd7 [frame-pointer]',
    ]);
  });

  it('--all-threads --json: one stack per thread with a context, frames with their known registers', async () => {
    const { code, out } = await runCli('info', '--json', '--all-threads', `${BREAKPAD}/thread_name_list.dmp`);
    expect(code).toBe(0);
    const info = JSON.parse(out) as { threads: Array<{ id: number; contexts: unknown[] }>; stacks: Array<{ threadId: number; frames: Array<{ trust: string; pc: string; sp: string; registers: Record<string, string> }> }> };
    expect(info.stacks.map((s) => s.threadId)).toEqual(info.threads.filter((t) => t.contexts.length > 0).map((t) => t.id));
    expect(info.threads).toHaveLength(6);
    for (const stack of info.stacks) {
      expect(stack.frames[0]!.trust).toBe('context');
      for (const frame of stack.frames) {
        expect(frame.registers.eip).toBe(frame.pc);
        expect(frame.registers.esp).toBe(frame.sp);
      }
    }
    const one = JSON.parse((await runCli('info', '--json', `${BREAKPAD}/thread_name_list.dmp`)).out) as { stacks: unknown[] };
    expect(one.stacks).toHaveLength(1);
  });
});
