/**
 * Cores gdb's `gcore` writes at a breakpoint, as a user makes them: gcore
 * writes no segment for read-only file mappings (the program's `.rodata`,
 * the libraries' code), though NT_FILE lists them, and the pc it saves is
 * the breakpoint's address (gdb rewinds it and removes its `int 3`). The
 * expected values are gdb's, read in the same session that wrote the core.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openElfCore, type ElfCoreDump } from '../../../src/dumps/elf/open-core.ts';
import { findFaultSite } from '../../../src/analysis/fault-site.ts';
import { runCli } from '../../cli/run-cli.ts';
import { lacks } from '../../helpers/system.ts';

const PROGRAM = String.raw`
#include <stdio.h>
const int table[8] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };
__attribute__((noinline)) int pick(int i) { return table[i & 7] * 3; }
int main(int argc, char **argv) { (void)argv; printf("%d\n", pick(argc + 1)); return 0; }
`;

describe.skipIf(process.platform !== 'linux' || process.arch !== 'x64' || lacks('gcc', 'gdb'))('a gdb gcore core at a breakpoint', () => {
  let dir: string;
  let core: string;
  let gdbOut: string;
  let dump: ElfCoreDump;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'faultline-gcore-'));
    writeFileSync(join(dir, 'p.c'), PROGRAM);
    const program = join(dir, 'p');
    execFileSync('gcc', ['-O1', '-o', program, join(dir, 'p.c')]);
    core = join(dir, 'p.core');
    gdbOut = execFileSync('gdb', ['-batch', '-nx', '-ex', 'break pick', '-ex', 'run', '-ex', `gcore ${core}`,
      '-ex', 'printf "pc=%lx\\n", $pc', '-ex', 'printf "table=%lx\\n", &table', '-ex', 'printf "word=%x\\n", ((int *)&table)[2]', '--args', program], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    // The program and this machine's own libc are the build that ran: named, and asked for with --sysroot /.
    dump = openElfCore(core, { binaries: [program], sysroot: '/' });
  }, 60_000);
  afterAll(() => {
    dump?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const gdbValue = (name: string) => BigInt(`0x${new RegExp(`${name}=([0-9a-f]+)`).exec(gdbOut)![1]}`);

  it('reads the read-only data gcore left out from the program file, and says so', () => {
    const table = gdbValue('table');
    // No PT_LOAD holds the table: gcore left the mapping out.
    expect(dump.memory.provenanceOf(table)?.source).toBe(join(dir, 'p'));
    const bytes = dump.memory.read(table + 8n, 4)!;
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true)).toBe(Number(gdbValue('word')));
    expect(dump.notes.map((n) => n.message).join('\n')).toMatch(/The core has no segment for \d+ file mappings NT_FILE lists .*filled from p, libc\.so\.6/);
    expect(dump.addressMap?.regions.some((r) => r.start <= table && table < r.end && r.read && !r.write)).toBe(true);
  });

  it('puts the fault at the breakpoint, not one byte before it', () => {
    const site = findFaultSite(dump)!;
    expect(site.kind).toBe('breakpoint');
    expect(site.pc).toBe(gdbValue('pc'));
    expect(dump.symbols.format(site.pc)).toBe('p!pick');
  });

  it('replays the table load from the core', async () => {
    const pc = gdbValue('pc');
    const run = await runCli('trace', core, '--binary', join(dir, 'p'), '--sysroot', '/', '--from', `0x${pc.toString(16)}`, '--count', '4', '--format', 'jsonl');
    expect(run.err).not.toMatch(/not mapped|not in the dump/);
    expect(run.code).toBe(0);
    const reads = run.out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { memory?: Array<{ kind: string; address: string; value: string }> })
      .flatMap((l) => l.memory ?? []).filter((m) => m.kind === 'read' && BigInt(m.address) === gdbValue('table') + 8n);
    expect(reads.map((m) => BigInt(m.value))).toEqual([gdbValue('word')]);
  });
});
