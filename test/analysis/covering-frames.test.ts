/**
 * On AArch64 a leaf function at -O0 (`sub sp, sp, #0x20`, no frame record)
 * leaves the call that entered it only in x30. A window anchored at that
 * call took its stack pointer from the dump, 0x20 below the caller's:
 * replayed from there, the caller's `ldr x0, [sp, #40]` read another slot,
 * the callee ran the faulting load on a good pointer, the code as written
 * "did not fault", and that refuted the fault's own window: the lab's
 * wild-pointer bug (bugs.c, -O0, a real qemu-aarch64 core written as a
 * full minidump) was called a CPU fault. The call's stack pointer is the
 * faulting frame's CFA (the unwind information says so), and a window
 * further back refutes a shorter one only where the two agree on the
 * stack pointer. It is a software bug.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toolchainFor, type Toolchain } from '../../lab/toolchain.ts';
import { writeMinidump } from '../../lab/writers/index.ts';
import { explain } from '../../src/analysis/explain.ts';
import { loadCapstoneOnce } from '../../src/disasm/disassembler.ts';
import { openDump } from '../../src/dumps/open.ts';
import { crashBugs } from '../lab/crash-cores.ts';

const BUGS_C = new URL('../../lab/programs/bugs.c', import.meta.url).pathname;
const toolchain = toolchainFor('arm64');
const missing = 'missing' in toolchain ? toolchain.missing.join(' ') : undefined;

describe.skipIf(missing !== undefined)(`windows that disagree on the frame (AArch64 minidump)${missing ? ` (skipped: install ${missing})` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-frames-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a wild pointer read in an -O0 leaf function stays a software bug', async () => {
    // The lab's writers load capstone-wasm themselves; faultline's loader must come first in one process.
    await loadCapstoneOnce();
    const tc = toolchain as Toolchain;
    const program = join(dir, 'bugs-O0');
    execFileSync(tc.cc, [...tc.ccFlags, '-O0', '-g', '-o', program, BUGS_C], { stdio: 'pipe' });
    const core = crashBugs(tc, program, ['wild-pointer', '0x1afa40ffc8'], join(dir, 'wild'));
    const minidump = join(dir, 'wild.dmp');
    await writeMinidump({ arch: 'arm64', core, binaries: [program], sysroot: tc.sysroot ?? '/', signal: 11 }, minidump, { memory: 'full' });
    const report = await explain(await openDump(minidump, { binaries: [program] }), { searchReplays: 1500, searchBudgetMs: 120_000 });
    expect(report.fault?.instruction).toMatch(/ldr x0,\[x0\]/);
    const sp = BigInt(report.windows.find((w) => w.candidate === 'fault')!.stackPointer);
    expect(BigInt(report.windows.find((w) => w.candidate === 'link-register')!.stackPointer)).toBe(sp);
    expect(report.verdict.class).toBe('software');
  }, 300_000);
});
