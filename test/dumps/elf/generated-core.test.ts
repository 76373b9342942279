/**
 * Real cores made now: a tiny C program built for x86-64 and i386 crashes
 * under gdb, which prints its registers at the signal; the core is gdb's
 * `gcore` of that moment or, on a kernel that cannot run i386 programs,
 * qemu-user's own core of the guest (test/helpers/run-to-core.ts). And the
 * kernel writes a core of the same program (`ulimit -c unlimited`) that gdb
 * then reads. faultline must agree with gdb on every register gdb prints,
 * the signal, the faulting address (where the core records it: qemu's does
 * not), the symbol and the code at the pc and, for the kernel core (which
 * leaves the code out), the code once it is given the executable.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toolchainFor, type Toolchain } from '../../../lab/toolchain.ts';
import { openElfCore } from '../../../src/dumps/elf/open-core.ts';
import { runToCore } from '../../helpers/run-to-core.ts';
import { toolchainMissing } from '../../helpers/system.ts';

const SOURCE = `
volatile int *target = (int *)0x10;
int __attribute__((noinline)) crash_here(int v) { return *target + v; }
int main(void) { return crash_here(3); }
`;

const dir = mkdtempSync(join(tmpdir(), 'faultline-elf-generated-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'crash.c'), SOURCE);

/** Builds crash.c with `toolchain` into `exe` (once) and returns its path. */
function build(toolchain: Toolchain, exe: string): string {
  const binary = join(dir, exe);
  if (!existsSync(binary)) execFileSync(toolchain.cc, [...toolchain.ccFlags, '-g', '-O0', '-o', binary, join(dir, 'crash.c')], { stdio: 'pipe' });
  return binary;
}

/** gdb's `info registers` lines → name → value (gdb names: eflags, not efl). */
function parseRegisters(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const match of text.matchAll(/^([a-z][a-z0-9_]*)\s+(0x[0-9a-f]+)\s/gm)) out.set(match[1]!, BigInt(match[2]!));
  return out;
}

/** The 8 bytes gdb's `x/8xb $pc` printed. */
function parseCode(text: string): Uint8Array {
  const code = /:\s+((?:0x[0-9a-f]{2}\s*){8})$/m.exec(text);
  expect(code, text).not.toBeNull();
  return Uint8Array.from(code![1]!.trim().split(/\s+/).map((b) => Number(b)));
}

/** The offset in `info symbol $pc`'s `crash_here + N in section .text`. */
function parseSymbolOffset(text: string): string {
  const symbol = /^crash_here \+ (\d+) in section \.text/m.exec(text);
  expect(symbol, text).not.toBeNull();
  return `crash_here+0x${Number(symbol![1]).toString(16)}`;
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
  { arch: 'x64' as const, exe: 'crash64', names: X64_NAMES, pc: 'rip' },
  { arch: 'x86' as const, exe: 'crash32', names: X86_NAMES, pc: 'eip' },
];

describe.each(cases)('a $arch core of a gcc-built program', ({ arch, exe, names, pc }) => {
  const missing = toolchainMissing(arch).length > 0;
  const toolchain = toolchainFor(arch);
  const runsNatively = !('missing' in toolchain) && toolchain.runner === 'native';

  it.skipIf(missing)('matches gdb on the registers, signal, symbol and code at the pc of its core', async () => {
    const binary = build(toolchain as Toolchain, exe);
    const siginfo = runsNatively ? ['p $_siginfo.si_signo', 'p $_siginfo._sifields._sigfault.si_addr'] : [];
    const { core, output, writer } = await runToCore(toolchain as Toolchain, {
      program: binary,
      commands: ['continue', 'info registers', ...siginfo, 'info symbol $pc', 'x/8xb $pc'],
      signal: 'SIGSEGV',
      core: join(dir, `${exe}.core`),
    });
    expect(output).toMatch(/received signal SIGSEGV/);
    if (writer === 'gdb gcore') expect(output).toMatch(/\$1 = 11\n\$2 = \(void \*\) 0x10\n/);
    const registers = parseRegisters(output);

    // qemu's core names no files (no NT_FILE): the executable is given, found through AT_ENTRY. gcore's names the
    // files of this machine, which ran the program: `--sysroot /` says so (no host file is used unasked).
    const dump = openElfCore(core, writer === 'qemu' ? { binaries: [binary] } : { sysroot: '/' });
    try {
      expect(dump.arch).toBe(arch);
      const ours = dump.threads[0]!.contexts[0]!.registers as Record<string, bigint | undefined>;
      compare(registers, ours, names);
      if (writer === 'qemu') {
        // No NT_SIGINFO: the signal comes from NT_PRSTATUS, the fault address is not recorded.
        expect(dump.fault).toMatchObject({ kind: 'signal', signal: 11, provenance: { source: 'NT_PRSTATUS' } });
        expect(dump.fault).not.toHaveProperty('address');
      } else {
        expect(dump.fault).toMatchObject({ kind: 'signal', signal: 11, address: 0x10n, provenance: { source: 'NT_SIGINFO' } });
      }
      expect(dump.symbols.format(ours[pc]!)).toBe(`${exe}!${parseSymbolOffset(output)}`);
      expect(dump.memory.read(ours[pc]!, 8)).toEqual(parseCode(output));
    } finally {
      dump.close();
    }
    // A rebuild of the same source with another build id is not the program that crashed: refused by the build id
    // the core holds in the program's first page (gcore and qemu dump it), though its code is byte for byte the same.
    const rebuilt = join(dir, `rebuilt-${exe}`, basename(binary));
    mkdirSync(dirname(rebuilt), { recursive: true });
    execFileSync((toolchain as Toolchain).cc, [...(toolchain as Toolchain).ccFlags, '-g', '-O0', '-Wl,--build-id=0x0123456789abcdef0123456789abcdef01234567', '-o', rebuilt, join(dir, 'crash.c')], { stdio: 'pipe' });
    const theirs = /Build ID: ([0-9a-f]+)/.exec(execFileSync('readelf', ['-n', binary], { encoding: 'utf8' }))?.[1];
    expect(theirs, 'readelf -n shows the build id gcc gave the program').toBeDefined();
    const refused = openElfCore(core, { binaries: [rebuilt] });
    try {
      expect(refused.memory.ranges().filter((r) => r.provenance.file)).toEqual([]);
      const line = refused.files!.find((f) => f.file === rebuilt)?.message;
      expect(line).toMatch(new RegExp(`^${rebuilt.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( \\(for [^)]+\\))?: build id 0123456789abcdef0123456789abcdef01234567 ≠ core's ${theirs}, not used$`));
    } finally {
      refused.close();
    }
  });

  const pattern = existsSync('/proc/sys/kernel/core_pattern') ? readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim() : '|';
  const kernelCores = !pattern.startsWith('|') && !pattern.includes('/');

  // Only a kernel that runs the program writes its core (under qemu-user, qemu does: see above).
  it.skipIf(missing || !runsNatively || !kernelCores)('fills the code a kernel core leaves out from the executable, as gdb reads it', () => {
    build(toolchain as Toolchain, exe);
    const run = join(dir, `kernel-${exe}`);
    execFileSync('sh', ['-c', `mkdir -p ${run} && cd ${run} && cp ../${exe} . && ulimit -c unlimited && ./${exe}; true`], { stdio: 'ignore' });
    const core = readdirSync(run).find((name) => name.startsWith('core'));
    expect(core, `a kernel core in ${run} (core_pattern ${pattern})`).toBeDefined();
    const corePath = join(run, core!);
    const output = execFileSync((toolchain as Toolchain).gdb, ['-batch', '-nx', '-ex', 'info registers', '-ex', 'x/8xb $pc', '-ex', 'info symbol $pc', join(run, exe), corePath], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    const registers = parseRegisters(output);
    const expectedCode = parseCode(output);

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
      expect(filled.symbols.format(ours[pc]!)).toBe(`${exe}!${parseSymbolOffset(output)}`);
    } finally {
      bare.close();
      filled.close();
    }
  });
});
