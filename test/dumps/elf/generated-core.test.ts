/**
 * Real cores made now: a tiny C program built with gcc (x86-64 and -m32)
 * crashes under gdb, which prints its registers and writes a core with
 * `gcore` in the same session; and the kernel writes a core of the same
 * program (`ulimit -c unlimited`) that gdb then reads. faultline must agree
 * with gdb on every register gdb prints, the signal, the faulting address,
 * the symbol at the pc and, for the kernel core (which leaves the code
 * out), the code bytes once it is given the executable.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openElfCore } from '../../../src/dumps/elf/open-core.ts';

const SOURCE = `
volatile int *target = (int *)0x10;
int __attribute__((noinline)) crash_here(int v) { return *target + v; }
int main(void) { return crash_here(3); }
`;

function works(command: string, args: string[]): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

const dir = mkdtempSync(join(tmpdir(), 'faultline-elf-generated-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'crash.c'), SOURCE);
const hasGdb = works('gdb', ['--version']);
const builds = {
  x64: works('gcc', ['-g', '-O0', '-o', join(dir, 'crash64'), join(dir, 'crash.c')]),
  x86: works('gcc', ['-m32', '-g', '-O0', '-o', join(dir, 'crash32'), join(dir, 'crash.c')]),
};

/** gdb's `info registers` lines → name → value (gdb names: eflags, not efl). */
function parseRegisters(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const match of text.matchAll(/^([a-z][a-z0-9_]*)\s+(0x[0-9a-f]+)\s/gm)) out.set(match[1]!, BigInt(match[2]!));
  return out;
}

function gdb(args: string[]): string {
  return execFileSync('gdb', ['-batch', '-nx', ...args], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
}

/** The registers faultline and gdb both name, gdb's value beside ours. */
function compare(gdbRegisters: Map<string, bigint>, ours: Record<string, bigint | undefined>, names: string[]): void {
  for (const name of names) {
    const theirs = gdbRegisters.get(name);
    expect(theirs, `gdb printed ${name}`).toBeDefined();
    expect(ours[name === 'eflags' ? 'efl' : name], name).toBe(theirs);
  }
}

const X64_NAMES = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'eflags', 'cs', 'ss', 'ds', 'es', 'fs', 'gs'];
const X86_NAMES = ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp', 'esp', 'eip', 'eflags', 'cs', 'ss', 'ds', 'es', 'fs', 'gs'];

const cases = [
  { arch: 'x64' as const, exe: 'crash64', names: X64_NAMES, pc: 'rip', built: builds.x64 },
  { arch: 'x86' as const, exe: 'crash32', names: X86_NAMES, pc: 'eip', built: builds.x86 },
];

describe.each(cases)('a $arch core of a gcc-built program', ({ arch, exe, names, pc, built }) => {
  it.skipIf(!hasGdb || !built)('matches gdb on the registers, signal and symbol of its gcore', () => {
    const core = join(dir, `${exe}.gcore`);
    const output = gdb([
      '-ex', 'run', '-ex', 'info registers', '-ex', 'p $_siginfo.si_signo', '-ex', 'p $_siginfo._sifields._sigfault.si_addr',
      '-ex', 'info symbol $pc', '-ex', `gcore ${core}`, '-ex', 'kill', join(dir, exe),
    ]);
    const registers = parseRegisters(output);
    expect(output).toMatch(/\$1 = 11\n\$2 = \(void \*\) 0x10\n/);
    const symbol = /^crash_here \+ (\d+) in section \.text/m.exec(output);
    expect(symbol, output).not.toBeNull();

    const dump = openElfCore(core);
    try {
      expect(dump.arch).toBe(arch);
      const ours = dump.threads[0]!.contexts[0]!.registers as Record<string, bigint | undefined>;
      compare(registers, ours, names);
      expect(dump.fault).toMatchObject({ kind: 'signal', signal: 11, address: 0x10n });
      expect(dump.symbols.format(ours[pc]!)).toBe(`${exe}!crash_here+0x${Number(symbol![1]).toString(16)}`);
    } finally {
      dump.close();
    }
  });

  const pattern = existsSync('/proc/sys/kernel/core_pattern') ? readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim() : '|';
  const kernelCores = !pattern.startsWith('|') && !pattern.includes('/');

  it.skipIf(!hasGdb || !built || !kernelCores)('fills the code a kernel core leaves out from the executable, as gdb reads it', () => {
    const run = join(dir, `kernel-${exe}`);
    execFileSync('sh', ['-c', `mkdir -p ${run} && cd ${run} && cp ../${exe} . && ulimit -c unlimited && ./${exe}; true`], { stdio: 'ignore' });
    const core = readdirSync(run).find((name) => name.startsWith('core'));
    expect(core, `a kernel core in ${run} (core_pattern ${pattern})`).toBeDefined();
    const corePath = join(run, core!);
    const output = gdb(['-ex', 'info registers', '-ex', 'x/8xb $pc', '-ex', 'info symbol $pc', join(run, exe), corePath]);
    const registers = parseRegisters(output);
    const code = /:\s+((?:0x[0-9a-f]{2}\s*){8})$/m.exec(output);
    expect(code, output).not.toBeNull();
    const expectedCode = Uint8Array.from(code![1]!.trim().split(/\s+/).map((b) => Number(b)));

    // Move the executable away, so the path NT_FILE names no longer finds it.
    const moved = join(run, `${exe}.moved`);
    renameSync(join(run, exe), moved);
    const bare = openElfCore(corePath);
    const filled = openElfCore(corePath, { binaries: [moved] });
    try {
      const ours = bare.threads[0]!.contexts[0]!.registers as Record<string, bigint | undefined>;
      compare(registers, ours, names);
      expect(bare.fault).toMatchObject({ signal: 11, address: 0x10n, code: 1 });
      expect(bare.memory.read(ours[pc]!, 8)).toBeUndefined();
      expect(bare.elf.missing.some((m) => m.path === join(run, exe) && m.reason === 'file-not-found')).toBe(true);
      // The executable is found through AT_ENTRY (its name no longer matches) and fills the code.
      expect(filled.memory.read(ours[pc]!, 8)).toEqual(expectedCode);
      expect(filled.memory.provenanceOf(ours[pc]!)?.source).toBe(moved);
      const symbol = /^crash_here \+ (\d+) in section \.text/m.exec(output);
      expect(filled.symbols.format(ours[pc]!)).toBe(`${exe}!crash_here+0x${Number(symbol![1]).toString(16)}`);
    } finally {
      bare.close();
      filled.close();
    }
  });
});
