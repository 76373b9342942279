/**
 * explain and trace on real dumps: third-party minidumps and cores (expected
 * values from their provenance descriptions and objdump of the executables),
 * and cores of programs crashed here the way a faulty machine would crash
 * them (see test/helpers/crash-programs.ts; on a kernel that cannot run
 * i386 programs the x86 ones run under qemu-user, which writes the core).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain } from '../../src/analysis/explain.ts';
import { explainIsolated } from '../../src/cli/isolated-explain.ts';
import { traceRun } from '../../src/analysis/trace-run.ts';
import { openDump } from '../../src/dumps/open.ts';
import { makeCrashCore, type CrashKind } from '../helpers/crash-programs.ts';
import { toolchainMissing } from '../helpers/system.ts';

const fixture = (path: string) => new URL(`../fixtures/dumps/${path}`, import.meta.url).pathname;

describe('breakpad ascii_read_av.dmp (x86 Windows minidump)', () => {
  it('is a read of 41414141 through a poison register: software, never hardware', async () => {
    const dump = await openDump(fixture('breakpad/ascii_read_av.dmp'));
    const report = await explain(dump);
    // Provenance: EXCEPTION_ACCESS_VIOLATION at eip=0xd6a6cd (read of 0x41414141).
    expect(report.fault).toMatchObject({ kind: 'access-violation', pc: '0xd6a6cd' });
    expect(report.fault?.instruction).toMatch(/mov eax,dword ptr \[eax\]$/);
    expect(report.verdict).toMatchObject({ class: 'software', observed: '0x41414141' });
    expect(report.checks[0]).toMatchObject({ what: 'trap', status: 'match' });
  });
});

describe('other breakpad minidumps: software, never hardware', () => {
  it('linux_divide_by_zero.dmp: idiv traps the same way from the recorded state', async () => {
    // Provenance: SIGFPE at rip=0x401f27.
    const report = await explain(await openDump(fixture('breakpad/linux_divide_by_zero.dmp')));
    expect(report.fault).toMatchObject({ kind: 'divide-error', pc: '0x401f27' });
    expect(report.fault?.instruction).toMatch(/idiv dword ptr \[rbp-4\]$/);
    expect(report.verdict.class).toBe('software');
  });

  it('write_av_non_null.dmp: add [eax],ebx writes 0004e3c9, far from any memory', async () => {
    // Provenance: EXCEPTION_ACCESS_VIOLATION at eip=0xc11097 (write of 0x4e3c9).
    const report = await explain(await openDump(fixture('breakpad/write_av_non_null.dmp')));
    expect(report.checks[0]).toMatchObject({ what: 'trap', status: 'match' });
    expect(report.verdict).toMatchObject({ class: 'software', observed: '0x4e3c9' });
  });
});

describe('x64 and DEP minidumps', () => {
  it('write_av_non_canonical.dmp: the recorded ffffffffffffffff is the non-canonical fefefefefefefefe', async () => {
    // Provenance: access violation at rip=0x7ff738721331, recorded as a read of 0xffffffffffffffff.
    const report = await explain(await openDump(fixture('breakpad/write_av_non_canonical.dmp')));
    expect(report.fault).toMatchObject({ pc: '0x7ff738721331' });
    expect(report.checks[0]).toMatchObject({ what: 'trap', status: 'match' });
    expect(report.verdict).toMatchObject({ class: 'software', observed: '0xfefefefefefefefe' });
  });

  it('exec_av_on_stack.dmp: executing the stack is software', async () => {
    // Provenance: EXCEPTION_ACCESS_VIOLATION at eip=0x3df944 (DEP/execute of 0x3df944); PC is on the stack.
    const report = await explain(await openDump(fixture('breakpad/exec_av_on_stack.dmp')));
    expect(report.verdict).toMatchObject({ class: 'software', observed: '0x3df944' });
  });
});

describe('lldb linux-x86_64.core with its executable', () => {
  it('a trace from bar() reproduces the registers recorded at the fault', async () => {
    const dump = await openDump(fixture('lldb/elf-core/linux-x86_64.core'), { binaries: [fixture('lldb/elf-core/linux-x86_64.out')] });
    const recorded = dump.threads[0]!.contexts[0]!.registers;
    // objdump -d a.out: bar at 40010c is push rbp; mov rbp,rsp; mov [rbp-18h],rdi; mov byte ptr [rbp-1],62h;
    // mov rax,[rbp-18h]; mov byte ptr [rax],2Fh <- faults (rdi = 0). At entry rsp is 8 above the fault's.
    const run = traceRun({ dump, registers: { ...recorded, rsp: recorded.rsp! + 8n, rbp: 0x1234n, rax: 0x5555n }, from: 0x40010cn, maxInstructions: 100 });
    expect(run.result).toMatchObject({ kind: 'fault', access: 'write', address: 0n, pc: 0x40011cn });
    for (const name of ['rax', 'rbp', 'rsp', 'rdi', 'rip'] as const) expect(run.final[name]).toBe(recorded[name]);
  });

  it('linux-i386.core: the same from bar(), whose argument is on the stack', async () => {
    const dump = await openDump(fixture('lldb/elf-core/linux-i386.core'), { binaries: [fixture('lldb/elf-core/linux-i386.out')] });
    const recorded = dump.threads[0]!.contexts[0]!.registers;
    // objdump -d: bar at 80480b8 is push ebp; mov ebp,esp; sub esp,10h; mov byte ptr [ebp-1],62h;
    // mov eax,[ebp+8]; mov byte ptr [eax],2Fh <- faults. At entry esp = ebp + 4 and the saved ebp is at [esp-4].
    const run = traceRun({ dump, registers: { ...recorded, esp: recorded.ebp! + 4n, ebp: 0x1234n, eax: 0x5555n }, from: 0x80480b8n, maxInstructions: 100 });
    expect(run.result).toMatchObject({ kind: 'fault', access: 'write', address: 0n, pc: 0x80480c5n });
    for (const name of ['eax', 'esp', 'eip'] as const) expect(run.final[name]).toBe(recorded[name]);
    // ebp is computed from esp at entry (push ebp; mov ebp,esp), so it matches too.
    expect(run.final.ebp).toBe(recorded.ebp);
  });
});

describe('an AArch64 core (qemu-aarch64, crash.S beside it)', () => {
  it('ldr x10,[x9] with x9 = 0x10: a null-page read, software', async () => {
    const dir = 'faultline/qemu-aarch64';
    const dump = await openDump(fixture(`${dir}/crash-aarch64.core`), { binaries: [fixture(`${dir}/crash-aarch64`)] });
    const report = await explain(dump);
    // crash.S: crash_here+0x4 is `ldr x10, [x9]` and _start set x9 to 0x10; the core has no NT_SIGINFO.
    expect(report.fault).toMatchObject({ kind: 'access-violation', pc: '0x400100', symbol: 'crash-aarch64!crash_here+0x4' });
    expect(report.verdict).toMatchObject({ class: 'software', observed: '0x10' });
    expect(report.unchecked.some((u) => u.startsWith('the fault address'))).toBe(true);
    // QEMU left the code out of the core (its page holds the ELF header): every replayed instruction came from the file,
    // crash_here's two (0x4000fc, 0x400100) among them; the core holds the file's first page (via the data mapping) and it agrees.
    expect(report.window!.code.fromDump).toBe(0);
    expect(report.window!.code.fromFiles).toContainEqual({ start: '0x4000fc', end: '0x400104', file: fixture(`${dir}/crash-aarch64`), checkedBy: 'bytes', instructions: 2 });
  });

  it('without the executable, no code is replayed and none is said to come from a file', async () => {
    const report = await explain(await openDump(fixture('faultline/qemu-aarch64/crash-aarch64.core')));
    for (const w of report.windows) expect(w.code.fromFiles).toEqual([]);
  });
});

describe('cores of programs crashed here as a faulty machine would', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'faultline-cores-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const cases: Array<[arch: 'x64' | 'x86', kind: CrashKind, verdict: object]> = [
    ['x64', 'cpu-target', { class: 'cpu-fault', location: 'branch-target', bit: 2, direction: '1->0' }],
    ['x64', 'memory', { class: 'memory-corruption', location: 'memory', bit: 2 }],
    ['x64', 'software', { class: 'software', observed: '0x0' }],
    ['x86', 'cpu-target', { class: 'cpu-fault', location: 'branch-target', bit: 2, direction: '1->0' }],
    ['x86', 'memory', { class: 'memory-corruption', location: 'memory', bit: 2 }],
    ['x86', 'software', { class: 'software', observed: '0x0' }],
  ];
  for (const [arch, kind, verdict] of cases) {
    it.skipIf(toolchainMissing(arch).length > 0)(`${arch} ${kind}`, async () => {
      const { core, binary, writer } = await makeCrashCore(arch, kind, dir);
      // The core was written here: its libraries are this machine's (`--sysroot /`), checked by build id.
      const dump = await openDump(core, { binaries: [binary], sysroot: '/' });
      expect(dump.arch).toBe(arch);
      expect(dump.fault).toMatchObject({ kind: 'signal', signal: kind === 'software' ? 11 : 5 });
      // gcore saves the signal's siginfo; qemu's core has only NT_PRSTATUS, so no fault address.
      if (writer === 'qemu') {
        expect(dump.fault).toMatchObject({ provenance: { source: 'NT_PRSTATUS' } });
        expect(dump.fault).not.toHaveProperty('address');
      } else {
        expect(dump.fault).toMatchObject({ provenance: { source: 'NT_SIGINFO' }, address: 0n });
      }
      // In a worker: a flip that lands on an instruction Unicorn cannot translate aborts the process running it.
      const { report } = await explainIsolated(core, { binaries: [binary], sysroot: '/' }, {});
      expect(report.verdict).toMatchObject(verdict);
      if (kind !== 'software') {
        // `target` is 4 past a 16-byte boundary; the CPU landed on the int 3 padding before it.
        const expected = BigInt(report.verdict.expected!);
        const observed = BigInt(report.verdict.observed!);
        expect(expected ^ observed).toBe(4n);
        expect(dump.symbols.format(expected)).toMatch(/!target$/);
      }
      // The pointer in memory still holds `target`: the CPU, not the memory, went wrong.
      if (kind === 'cpu-target') expect(report.candidates.find((c) => c.pointer)?.pointer?.value).toBe(report.verdict.expected);
    });
  }
});
