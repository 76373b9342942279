/**
 * `--binary` and `--sysroot` for minidumps and transcripts: ELF files
 * matched to a dump's modules (by build id, else by name) give symbols and
 * the code the dump lacks; a different build is refused with a note.
 *
 * Real data only: committed fixtures (an lldb minidump and the lldb core's
 * static executable, which is another program), the lab writers' small
 * minidump and transcript of the lldb core, and lab/programs/bugs.c
 * crashed on x86-64 and AArch64 with a second build of it (-O0) standing
 * for the wrong file. Truth comes from binutils (`nm`, `readelf`), gdb's
 * AT_ENTRY and the files' own bytes, never from faultline.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolchainFor, type LabArch, type Toolchain } from '../../lab/toolchain.ts';
import { writeMinidump, writeTranscript, type CrashInput } from '../../lab/writers/index.ts';
import type { Dump } from '../../src/dumps/model.ts';
import { openDump, type OpenOptions } from '../../src/dumps/open.ts';
import { elfBuildId, elfBytesAt, elfEntry, nmFunctions } from '../helpers/elf-truth.ts';
import { lacks, toolchainMissing } from '../helpers/system.ts';
import { buildBugs, crashBugs, nativeCoreProblem } from '../lab/crash-cores.ts';
import { gdbFacts } from '../lab/gdb-facts.ts';

const LLDB = 'test/fixtures/dumps/lldb';
/** The lldb core's executable: static, ET_EXEC at 0x400000, build id 01df54a6… (`readelf -n`). */
const LLDB_EXE = `${LLDB}/elf-core/linux-x86_64.out`;

const opened: Dump[] = [];
async function open(path: string, options: OpenOptions = {}): Promise<Dump> {
  const dump = await openDump(path, options);
  opened.push(dump);
  return dump;
}
afterAll(() => {
  for (const dump of opened) (dump as Dump & { close?: () => void }).close?.();
});

const warnings = (dump: Dump) => dump.notes.filter((n) => n.level === 'warning').map((n) => n.message);

describe.skipIf(lacks('binutils'))('committed fixtures', () => {
  it('refuses another build for a minidump module with a build id, and says so', async () => {
    // lldb's linux-x86_64.dmp names its program linux-x86_64, as linux-x86_64.out is named; their build ids differ.
    const dump = await open(`${LLDB}/minidump-new/linux-x86_64.dmp`, { binaries: [LLDB_EXE] });
    const module = dump.modules.find((m) => m.name === 'linux-x86_64')!;
    expect(module.buildId).toBe('e35c283bc327c28762db788bf5a4078be2351448');
    expect(warnings(dump)).toEqual([`${LLDB_EXE}: build id ${elfBuildId(LLDB_EXE)} ≠ dump's e35c283bc327c28762db788bf5a4078be2351448 (linux-x86_64), not used`]);
    expect(dump.symbols.format(0x4003e0n)).toBe('linux-x86_64+0x3e0');
    expect(dump.memory.read(0x400000n, 4)).toBeUndefined();
  });

  describe('the lab writers on the lldb core (its program is a.out there)', () => {
    let dir: string;
    let small: string;
    let transcript: string;
    let aOut: string;
    /** nm linux-x86_64.out: bar 0x40010c, foo 0x400121, _start 0x400144; the pc 0x40011c is bar+0x10. */
    const PC = 0x40011cn;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'faultline-binaries-lldb-'));
      aOut = join(dir, 'a.out');
      copyFileSync(LLDB_EXE, aOut);
      const input: CrashInput = { arch: 'x64', core: `${LLDB}/elf-core/linux-x86_64.core`, binaries: [aOut], sysroot: '/', signal: 11 };
      small = join(dir, 'small.dmp');
      transcript = join(dir, 'user.txt');
      await writeMinidump(input, small, { memory: 'small' });
      // Without the file the transcript names code only as a+0x…, as WinDbg does without symbols.
      await writeTranscript({ ...input, binaries: [] }, transcript, { style: 'user' });
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('a small minidump: matched by build id whatever the file is called, symbols and the ELF header it lacks', async () => {
      const bare = await open(small);
      expect(bare.symbols.format(PC)).toBe('a+0x11c');
      expect(bare.memory.read(0x400000n, 4)).toBeUndefined();

      const dump = await open(small, { binaries: [LLDB_EXE] });
      expect(dump.modules[0]!.buildId).toBe(elfBuildId(LLDB_EXE));
      expect(dump.symbols.format(PC)).toBe('a!bar+0x10');
      expect(dump.symbols.resolve('a!foo')).toBe(nmFunctions(LLDB_EXE).get('foo'));
      expect(dump.memory.read(0x400000n, 4)).toEqual(Uint8Array.of(0x7f, 0x45, 0x4c, 0x46));
      expect(dump.memory.provenanceOf(0x400000n)?.source).toBe(LLDB_EXE);
      // The dump's own bytes win: the pc's still come from its memory list.
      expect(dump.memory.provenanceOf(PC)?.source).toMatch(/^MemoryListStream/);
      expect(dump.memory.read(PC, 3)).toEqual(elfBytesAt(LLDB_EXE, PC, 3));
      // file linux-x86_64.out: BuildID[sha1]=01df54a6045e657d3f8ffb9ce111878914f8bd6d
      expect(dump.notes.map((n) => n.message)).toContain(`${LLDB_EXE} gives a at 00400000 its symbols and the code the dump lacks: its build id 01df54a6045e657d3f8ffb9ce111878914f8bd6d is the dump's`);
      expect(dump.memory.provenanceOf(0x400000n)?.file).toEqual({ path: LLDB_EXE, checkedBy: 'build id', buildId: '01df54a6045e657d3f8ffb9ce111878914f8bd6d' });
      expect(warnings(dump)).toEqual([]);
    });

    it('a transcript: lm gives the module, the file is matched by name', async () => {
      expect((await open(transcript)).symbols.format(PC)).toBe('a+0x11c');
      const dump = await open(transcript, { binaries: [aOut] });
      expect(dump.modules.map((m) => [m.name, m.base])).toEqual([['a', 0x400000n]]);
      expect(dump.symbols.format(PC)).toBe('a!bar+0x10');
      expect(dump.memory.read(0x400000n, 4)).toEqual(Uint8Array.of(0x7f, 0x45, 0x4c, 0x46));
      expect(dump.notes.some((n) => /: matched by name; the dump records no build id for it, and the \d+ bytes it holds of it agree$/.test(n.message))).toBe(true);
    });

    it('a transcript: a file of that name that does not fit the module is refused', async () => {
      // linux-i386.out is linked at 0x8048000; the transcript has `a` at 0x400000.
      const wrong = join(dir, 'i386', 'a.out');
      mkdirSync(join(dir, 'i386'), { recursive: true });
      copyFileSync(`${LLDB}/elf-core/linux-i386.out`, wrong);
      const dump = await open(transcript, { binaries: [wrong] });
      expect(warnings(dump)).toEqual([`${wrong} (for a by name): it is linked at 0x8048000 but the dump has a at 0x400000, not used`]);
      expect(dump.symbols.format(PC)).toBe('a+0x11c');
    });
  });
});

interface Built {
  toolchain: Toolchain;
  program: string;
  other: string;
  bias: bigint;
  pc: bigint;
  small: string;
  transcript: string;
}

function coreProblem(arch: LabArch): string | undefined {
  const missing = [...toolchainMissing(arch), ...(lacks('binutils') ? ['binutils'] : [])];
  if (missing.length) return `install ${missing.join(' ')}`;
  return arch === 'x64' ? nativeCoreProblem() : undefined;
}

for (const arch of ['x64', 'arm64'] as const) {
  const problem = coreProblem(arch);
  describe.skipIf(problem !== undefined)(`bugs.c crashed on ${arch}${problem ? ` (skipped: ${problem})` : ''}`, () => {
    let dir: string;
    let built: Built;

    beforeAll(async () => {
      const toolchain = toolchainFor(arch) as Toolchain;
      dir = mkdtempSync(join(tmpdir(), `faultline-binaries-${arch}-`));
      const program = buildBugs(toolchain, dir);
      // The same source built again without optimisation: same name, another build.
      mkdirSync(join(dir, 'other'));
      const other = join(dir, 'other', basename(program));
      execFileSync(toolchain.cc, [...toolchain.ccFlags, '-O0', '-g', '-o', other, new URL('../../lab/programs/bugs.c', import.meta.url).pathname]);
      const core = crashBugs(toolchain, program, ['null-vtable'], join(dir, 'crash'));
      const gdb = gdbFacts(toolchain.gdb, program, core, toolchain.sysroot);
      const input = { arch, core, binaries: [program], sysroot: toolchain.sysroot ?? '/', signal: 11 };
      const small = join(dir, 'small.dmp');
      const transcript = join(dir, 'user.txt');
      await writeMinidump(input, small, { memory: 'small' });
      await writeTranscript(input, transcript, { style: 'user' });
      built = { toolchain, program, other, bias: gdb.entry! - elfEntry(program), pc: gdb.registers.get(arch === 'x64' ? 'rip' : 'pc')!, small, transcript };
    }, 120_000);
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** A function whose first instruction the dump at `path` does not hold (nor, given `module`, name), and its name. */
    async function missingFunction(path = built.small, module?: string): Promise<{ address: bigint; name: string }> {
      const bare = await open(path);
      const found = [...nmFunctions(built.program)]
        .map(([name, value]) => ({ name, address: value + built.bias }))
        .filter((f) => module === undefined || bare.symbols.resolve(`${module}!${f.name}`) === undefined)
        .find((f) => [0n, 1n, 2n, 3n].every((i) => bare.memory.provenanceOf(f.address + i) === undefined));
      expect(found, `some function is outside ${basename(path)}`).toBeDefined();
      return found!;
    }

    it('a small minidump: symbols and code from the program, matched by build id', async () => {
      const missing = await missingFunction();
      const dump = await open(built.small, { binaries: [built.program] });
      const name = dump.modules.find((m) => m.buildId === elfBuildId(built.program))!.name;
      const draw = nmFunctions(built.program).get('draw')! + built.bias;
      expect(dump.symbols.format(built.pc)).toBe(`${name}!draw+0x${(built.pc - draw).toString(16)}`);
      expect(dump.symbols.resolve(`${name}!main`)).toBe(nmFunctions(built.program).get('main')! + built.bias);
      expect(dump.memory.read(missing.address, 4)).toEqual(elfBytesAt(built.program, missing.address - built.bias, 4));
      expect(dump.memory.provenanceOf(missing.address)?.source).toBe(built.program);
      expect(dump.memory.ranges().find((r) => r.start <= missing.address && missing.address < r.end)?.kind).toBe('code');
      expect(warnings(dump)).toEqual([]);
    });

    it('a small minidump: another build of the program is refused by build id', async () => {
      const { address } = await missingFunction();
      const dump = await open(built.small, { binaries: [built.other] });
      const module = dump.modules.find((m) => m.buildId === elfBuildId(built.program))!;
      expect(warnings(dump)).toEqual([`${built.other}: build id ${elfBuildId(built.other)} ≠ dump's ${module.buildId} (${module.name}), not used`]);
      expect(dump.symbols.format(built.pc)).toMatch(new RegExp(`^${module.name}\\+0x`));
      expect(dump.memory.read(address, 4)).toBeUndefined();
    });

    it('a small minidump with --sysroot: libc found at its own path, matched by build id', async () => {
      const dump = await open(built.small, { sysroot: built.toolchain.sysroot ?? '/' });
      const libc = dump.modules.find((m) => m.path?.endsWith('/libc.so.6'))!;
      const file = join(built.toolchain.sysroot ?? '/', libc.path!);
      expect(libc.buildId).toBe(elfBuildId(file));
      expect(dump.symbols.resolve(`${libc.name}!abort`)).toBe(libc.base + nmFunctions(file, true).get('abort')!);
    });

    it('a transcript: the program matched by its WinDbg name gives symbols and code', async () => {
      const name = basename(built.program).replace(/[^A-Za-z0-9_]/g, '_');
      const missing = await missingFunction(built.transcript, name);

      const dump = await open(built.transcript, { binaries: [built.program] });
      expect(dump.modules.map((m) => m.name)).toContain(name);
      expect(dump.symbols.format(missing.address)).toBe(`${name}!${missing.name}`);
      expect(dump.memory.read(missing.address, 4)).toEqual(elfBytesAt(built.program, missing.address - built.bias, 4));
      expect(dump.memory.read(built.pc, 4)).toEqual(elfBytesAt(built.program, built.pc - built.bias, 4));
      expect(warnings(dump)).toEqual([]);
    });

    it('a transcript: another build of the same name is refused, its bytes differing from the listings', async () => {
      const missing = await missingFunction(built.transcript);
      const dump = await open(built.transcript, { binaries: [built.other] });
      const name = basename(built.program).replace(/[^A-Za-z0-9_]/g, '_');
      expect(warnings(dump)).toEqual([expect.stringMatching(new RegExp(`^${built.other} is not shown to be the ${name} the dump ran: \\d+ of the \\d+ bytes the dump holds in its code differ from the file's`))]);
      expect(dump.memory.read(missing.address, 4)).toBeUndefined();
    });
  });
}
