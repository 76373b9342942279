/**
 * The x87/SSE/AVX state a gdb `gcore` core holds (NT_X86_XSTATE, and
 * NT_FPREGSET): MXCSR, xmm and the upper halves of ymm are read as gdb
 * shows them and loaded into the emulator, so `stmxcsr` stores the
 * program's MXCSR and SSE code sees its registers. Expected values are
 * gdb's, printed in the session that wrote the core.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openElfCore, type ElfCoreDump } from '../../../src/dumps/elf/open-core.ts';
import { runCli } from '../../cli/run-cli.ts';
import { lacks } from '../../helpers/system.ts';

const avx = process.platform === 'linux' && /\bavx\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));

// Sets MXCSR (flush to zero, round toward zero) and xmm0 (and ymm0's upper half with AVX), then stops at `probe`.
const PROGRAM = String.raw`
int main(void) {
  __asm__ volatile(
    "sub $8, %%rsp\n movl $0xffc0, (%%rsp)\n ldmxcsr (%%rsp)\n add $8, %%rsp\n"
    "mov $0x1122334455667788, %%rax\n movq %%rax, %%xmm0\n"
    "mov $0x99aabbccddeeff00, %%rax\n pinsrq $1, %%rax, %%xmm0\n"
#ifdef WITH_AVX
    "vinsertf128 $1, %%xmm0, %%ymm0, %%ymm0\n"
#endif
    ".globl probe\nprobe:\n"
    "sub $8, %%rsp\n stmxcsr (%%rsp)\n movq %%xmm0, %%rcx\n pextrq $1, %%xmm0, %%rdx\n add $8, %%rsp\n"
    ::: "rax", "rcx", "rdx", "xmm0", "memory");
  return 0;
}
`;

describe.skipIf(process.platform !== 'linux' || process.arch !== 'x64' || lacks('gcc', 'gdb'))('x87/SSE/AVX state of a gcore core', () => {
  let dir: string;
  let core: string;
  let gdbOut: string;
  let dump: ElfCoreDump;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'faultline-vector-'));
    writeFileSync(join(dir, 'v.c'), PROGRAM);
    const program = join(dir, 'v');
    execFileSync('gcc', ['-O1', ...(avx ? ['-DWITH_AVX', '-mavx'] : []), '-o', program, join(dir, 'v.c')]);
    core = join(dir, 'v.core');
    gdbOut = execFileSync('gdb', ['-batch', '-nx', '-ex', 'break *probe', '-ex', 'run', '-ex', `gcore ${core}`,
      '-ex', 'printf "pc=%lx\\n", $pc', '-ex', 'p/x $mxcsr', '-ex', 'p/x $xmm0.uint128', ...(avx ? ['-ex', 'p/x $ymm0.v2_int128[1]'] : []),
      '--args', program], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    dump = openElfCore(core);
  }, 60_000);
  afterAll(() => {
    dump?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // gdb prints `$1 = 0xffc0`, `$2 = 0x99aabbccddeeff001122334455667788`, in command order.
  const printed = () => [...gdbOut.matchAll(/^\$\d+ = (0x[0-9a-f]+)/gm)].map((m) => BigInt(m[1]!));

  it('reads MXCSR, xmm0 and the upper half of ymm0 as gdb shows them', () => {
    const vector = dump.threads[0]!.contexts[0]!.vector!;
    const [mxcsr, xmm0, ymm0High] = printed();
    expect(BigInt(vector.mxcsr)).toBe(mxcsr);
    expect(vector.xmm[0]).toBe(xmm0);
    expect(vector.xmm).toHaveLength(16);
    if (avx) expect(vector.ymmHigh?.[0]).toBe(ymm0High);
    expect(vector.provenance.source).toBe('NT_X86_XSTATE');
  });

  it('shows them in info', async () => {
    const info = await runCli('info', core);
    expect(info.out).toContain(`mxcsr=0000ffc0`);
    expect(info.out).toMatch(avx ? /ymm0=99aabbccddeeff00112233445566778899aabbccddeeff001122334455667788/ : /xmm0=99aabbccddeeff001122334455667788/);
  });

  it('starts the emulator with them: stmxcsr and movq see the program\'s values', async () => {
    const pc = /pc=([0-9a-f]+)/.exec(gdbOut)![1]!;
    const run = await runCli('trace', core, '--from', `0x${pc}`, '--count', '5', '--format', 'jsonl');
    expect(run.code, run.err).toBe(0);
    const insns = run.out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; registers?: Record<string, string>; memory?: Array<{ kind: string; size: number; value: string }> }).filter((l) => l.type === 'instruction');
    const [mxcsr, xmm0] = printed();
    expect(insns[1]!.memory).toEqual([expect.objectContaining({ kind: 'write', size: 4, value: `0x${mxcsr!.toString(16)}` })]);
    expect(BigInt(insns[2]!.registers!.rcx!)).toBe(xmm0! & ((1n << 64n) - 1n));
    expect(BigInt(insns[3]!.registers!.rdx!)).toBe(xmm0! >> 64n);
  });
});
