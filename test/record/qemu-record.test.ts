/**
 * `faultline record` of i386 and AArch64 programs, which this host cannot
 * run on its CPU: they run under qemu-user and are single-stepped through
 * its gdbstub. Checked against facts outside faultline's code: the first
 * recorded pc is the ELF entry point, the write(2) system call returns the
 * byte count in the register the ABI names, the exit status is the
 * program's; the trace says qemu executed it, not the CPU. Then
 * `replay-check` replays the recording in Unicorn from the memory image read
 * through the gdbstub, fed the system calls' results and the kernel's writes
 * (a `read` of the program's own ELF header), with no divergence.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.ts';
import { lacks } from '../helpers/system.ts';
import { readTrace, instructionsOf } from '../../traces/reader.ts';

// The bytes read(2) returns are summed: a replay without the kernel's write diverges in the loop.
const PROGRAM = String.raw`
#include <fcntl.h>
#include <unistd.h>
static volatile unsigned long sink;
int main(int argc, char **argv) {
  unsigned char header[64];
  int fd = open(argv[0], O_RDONLY);
  long n = read(fd, header, sizeof header);
  unsigned long s = 0;
  for (long i = 0; i < n; i++) s += (unsigned long)header[i] * (unsigned long)i ^ (s >> 3);
  sink = s;
  write(1, "recorded\n", 9);
  return 3 + argc - 1;
}
`;

const GUESTS = [
  { name: 'i386', arch: 'x86', engine: 'qemu-i386', cc: ['gcc', '-m32'], packages: ['gcc', 'gcc-multilib', 'qemu-user'] as const, syscall: 'int', result: 'eax', compared: 'eax ebp ebx ecx edi edx efl esi esp', entry: (elf: Buffer) => BigInt(elf.readUInt32LE(0x18)) },
  { name: 'AArch64', arch: 'arm64', engine: 'qemu-aarch64', cc: ['aarch64-linux-gnu-gcc'], packages: ['gcc-aarch64-linux-gnu', 'qemu-user'] as const, syscall: 'svc', result: 'x0', compared: 'nzcv sp x0 x1 x10 x11 x12 x13 x14 x15 x16 x17 x18 x19 x2 x20 x21 x22 x23 x24 x25 x26 x27 x28 x29 x3 x30 x4 x5 x6 x7 x8 x9', entry: (elf: Buffer) => elf.readBigUInt64LE(0x18) },
];

for (const guest of GUESTS) {
  describe.skipIf(lacks(...guest.packages))(`record ${guest.name} under qemu-user's gdbstub`, () => {
    let dir: string;
    let program: string;

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'faultline-qemu-record-'));
      writeFileSync(join(dir, 'program.c'), PROGRAM);
      program = join(dir, 'program');
      execFileSync(guest.cc[0]!, [...guest.cc.slice(1), '-O1', '-static', '-o', program, join(dir, 'program.c')]);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('records the whole run, from the entry point to the exit, and says qemu executed it', async () => {
      const out = join(dir, 'whole.fltrace');
      // --mask-cpuid: a qemu CPU without AVX (i386) or SVE (AArch64), whose code glibc would pick and Unicorn lacks.
      const record = await runCli('record', '--mask-cpuid', '--out', out, '--', program);
      expect(record.code, record.err).toBe(0);
      expect(record.err).toMatch(/exited with status 3; \d+ instructions recorded/);
      const trace = readTrace(out);
      expect(trace.header).toMatchObject({ arch: guest.arch, engine: guest.engine });
      expect(trace.header!.source).toContain('an emulator, not the CPU');
      const insns = [...instructionsOf(trace.header!, trace.batches, trace.events)];
      expect(insns[0]!.pc).toBe(guest.entry(readFileSync(program)));
      // The write(2) of 9 bytes: a system call after which the result register holds 9.
      const syncs = trace.events.filter((e) => e.kind === 'sync');
      const write = syncs.find((e) => e.name === guest.syscall && insns[e.index]!.changed.some(([r, v]) => r === guest.result && v === 9n));
      expect(write).toBeDefined();
      expect(trace.stopReason).toBe('exited with status 3');
      const shown = await runCli('show', out);
      expect(shown.out.split('\n').length).toBeGreaterThan(insns.length);
      // The memory image: the program's first page holds its ELF header, as the file does.
      const image = trace.events.filter((e) => e.kind === 'memory' && e.start && e.action === 'write');
      const elf = readFileSync(program);
      expect(image.some((e) => e.kind === 'memory' && e.bytes && Buffer.from(e.bytes.subarray(0, 64)).equals(elf.subarray(0, 64)))).toBe(true);
      // read(2)'s 64 bytes: a kernel write after the system call.
      expect(trace.events.some((e) => e.kind === 'memory' && !e.start && e.action === 'write' && e.bytes && Buffer.from(e.bytes).includes(elf.subarray(0, 64)))).toBe(true);
    }, 400_000); // about 2 k steps/s through the gdbstub, much less on a loaded machine

    it('replays the recording in Unicorn with no divergence', async () => {
      const out = join(dir, 'whole.fltrace');
      const trace = readTrace(out);
      const count = [...instructionsOf(trace.header!, trace.batches, trace.events)].length;
      const check = await runCli('replay-check', out);
      expect(check.err).toBe('');
      expect(check.out).toContain(`no divergence in ${count} instructions (registers compared: ${guest.compared})`);
      expect(check.code).toBe(0);
    }, 120_000);

    it('stops at the instruction budget', async () => {
      const out = join(dir, 'budget.fltrace');
      const record = await runCli('record', '--out', out, '--max-instructions', '300', '--', program);
      expect(record.err).toContain('instruction budget of 300 reached');
      const trace = readTrace(out);
      expect([...instructionsOf(trace.header!, trace.batches, trace.events)].length).toBe(300);
    }, 60_000);
  });
}
