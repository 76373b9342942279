/**
 * `info` on which module files filled a dump and why (issue 17), and on a
 * synthesised exception record's pc. Expected values: the build id `file`
 * prints for lldb's linux-x86_64.out (PROVENANCE.md), readelf -lW's
 * PT_LOADs of the cores, and rust-minidump's description of
 * invalid-parameter.dmp.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.ts';

const LLDB = 'test/fixtures/dumps/lldb/elf-core';

describe('info and module files', () => {
  it('names the executable that filled the core, with the build id that admitted it', async () => {
    const { code, out } = await runCli('info', `${LLDB}/linux-x86_64.core`, '--binary', `${LLDB}/linux-x86_64.out`);
    expect(code).toBe(0);
    expect(out).toContain(`  file     ${LLDB}/linux-x86_64.out (for /home/labath/test/a.out) fills what the core leaves out of a.out: its build id 01df54a6045e657d3f8ffb9ce111878914f8bd6d is the core's\n`);
    // The code at the pc is the core's own (its first PT_LOAD holds the executable's page).
    expect(out).toMatch(/pc 00000000`0040011c a\.out!bar\+0x10; code bytes at the pc present\n/);
  });

  it('--json: the thread_crash core holds only its PT_LOADs, and this machine\'s files are refused', async () => {
    const bare = JSON.parse((await runCli('info', '--json', `${LLDB}/thread_crash/linux-x86_64.core`)).out);
    const host = JSON.parse((await runCli('info', '--json', '--sysroot', '/', `${LLDB}/thread_crash/linux-x86_64.core`)).out);
    // readelf -lW: file data 0x2000 + 0x2000 + 0x1000 (vvar, vdso, vsyscall).
    for (const info of [bare, host]) {
      expect(info.memory.bytes).toBe(0x5000);
      expect(info.memory.sources.map((s: { source: string }) => s.source)).toEqual(['PT_LOAD']);
      expect(info.fault).toMatchObject({ pc: '0x7fc29434a53f', codePresent: false, codeFrom: { from: 'unknown' } });
    }
    expect(bare.files).toEqual([]);
    expect(host.files.every((f: { used: boolean; host: boolean }) => !f.used && f.host)).toBe(true);
  });

  it('invalid-parameter.dmp: ExceptionAddress 0, so the pc is the context\'s 7ff61bcfa9a3, its code in the dump', async () => {
    const { code, out } = await runCli('info', '--json', 'test/fixtures/dumps/rust-minidump/invalid-parameter.dmp');
    expect(code).toBe(0);
    const info = JSON.parse(out);
    expect(info.fault).toMatchObject({ pc: '0x7ff61bcfa9a3', codePresent: true, codeFrom: { from: 'dump' } });
    expect(info.fault.codeFrom.source).toMatch(/^MemoryListStream/);
  });
});
