/**
 * The lab writers on real crashes: lab/programs/bugs.c crashed on x86-64
 * (natively), i386 and AArch64 (under qemu-user), each core written as a
 * full and a small minidump and as WinDbg transcripts. Every output is
 * checked against gdb's reading of the same core (registers, the bytes at
 * the pc and the stack pointer, si_addr), through a small independent
 * minidump reader, and read back with faultline's own `openDump`.
 */
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolchainFor, type LabArch, type Toolchain } from '../../lab/toolchain.ts';
import { writeMinidump, writeTranscript, type CrashInput } from '../../lab/writers/index.ts';
import { openDump } from '../../src/dumps/open.ts';
import type { Dump } from '../../src/dumps/model.ts';
import { buildBugs, crashBugs, nativeCoreProblem } from './crash-cores.ts';
import { gdbFacts, type GdbFacts } from './gdb-facts.ts';
import { readMinidumpFields } from './minidump-fields.ts';
import { elfBytesAt, elfEntry, le } from '../helpers/elf-truth.ts';

interface Expected {
  code: number;
  /** ExceptionAddress and the context's pc (the int3 itself after an x86 breakpoint). */
  pc: bigint;
  parameters: bigint[];
}

interface Case {
  name: string;
  args: string[];
  signal: number;
  expect(gdb: GdbFacts, pc: bigint): Expected;
}

interface ArchPlan {
  arch: LabArch;
  pcName: string;
  spName: string;
  /** gdb register names compared with the minidump's CONTEXT. */
  registers: string[];
  /** gdb name → faultline name, where they differ. */
  faultlineNames: Record<string, string>;
  architecture: number;
  contextCpu: number;
  cases: Case[];
}

const AV = 0xc0000005;
const BREAKPOINT = 0x80000003;

const read = (parameter: bigint): Case['expect'] => (_gdb, pc) => ({ code: AV, pc, parameters: [0n, parameter] });

const PLANS: ArchPlan[] = [
  {
    arch: 'x64', pcName: 'rip', spName: 'rsp', architecture: 9, contextCpu: 0x100000,
    registers: ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'eflags'],
    faultlineNames: { eflags: 'efl' },
    cases: [
      { name: 'null-vtable', args: ['null-vtable'], signal: 11, expect: (gdb, pc) => ({ code: AV, pc, parameters: [0n, gdb.siAddr!] }) },
      { name: 'breakpoint', args: ['breakpoint', '1'], signal: 5, expect: (_gdb, pc) => ({ code: BREAKPOINT, pc: pc - 1n, parameters: [0n] }) },
      { name: 'noncanonical', args: ['noncanonical'], signal: 11, expect: read(0xffff_ffff_ffff_ffffn) },
    ],
  },
  {
    arch: 'x86', pcName: 'eip', spName: 'esp', architecture: 0, contextCpu: 0x10000,
    registers: ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp', 'esp', 'eip', 'eflags'],
    faultlineNames: { eflags: 'efl' },
    cases: [
      // qemu cores have no NT_SIGINFO: the writer computes the address from the operand.
      { name: 'wild-pointer', args: ['wild-pointer', '0x12345678'], signal: 11, expect: read(0x12345678n) },
      { name: 'breakpoint', args: ['breakpoint', '1'], signal: 5, expect: (_gdb, pc) => ({ code: BREAKPOINT, pc: pc - 1n, parameters: [0n] }) },
    ],
  },
  {
    arch: 'arm64', pcName: 'pc', spName: 'sp', architecture: 12, contextCpu: 0x400000,
    registers: [...Array.from({ length: 31 }, (_, i) => `x${i}`), 'sp', 'pc', 'cpsr'],
    faultlineNames: { cpsr: 'nzcv' },
    cases: [
      { name: 'null-vtable', args: ['null-vtable'], signal: 11, expect: read(0n) },
      { name: 'wild-write', args: ['wild-write', '0x10'], signal: 11, expect: (_gdb, pc) => ({ code: AV, pc, parameters: [1n, 0x10n] }) },
    ],
  },
];

/** Outputs and truth for one crash. */
interface Written {
  input: CrashInput;
  gdb: GdbFacts;
  expected: Expected;
  pcBytes: Uint8Array;
  full: string;
  small: string;
  user: string;
  kernel?: string;
}

/** The code bytes at `pc` from the program file, placed by AT_ENTRY − e_entry. */
function fileBytesAt(program: string, entry: bigint, pc: bigint): Uint8Array {
  return elfBytesAt(program, pc - (entry - elfEntry(program)), 16);
}

/** Bytes the core holds (the sum of its PT_LOAD p_filesz). */
function coreHeldBytes(core: string): bigint {
  const file = readFileSync(core);
  const is64 = file[4] === 2;
  const phoff = Number(is64 ? le(file, 0x20, 8) : le(file, 0x1c, 4));
  const phentsize = Number(le(file, is64 ? 0x36 : 0x2a, 2));
  const phnum = Number(le(file, is64 ? 0x38 : 0x2c, 2));
  let total = 0n;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (le(file, at, 4) === 1n) total += is64 ? le(file, at + 0x20, 8) : le(file, at + 0x10, 4);
  }
  return total;
}

function registersOf(dump: Dump): Record<string, bigint | undefined> {
  return (dump.threads[0]?.contexts[0]?.registers ?? {}) as Record<string, bigint | undefined>;
}

function expectFault(dump: Dump, expected: Expected): void {
  expect(dump.fault?.kind).toBe('exception');
  if (dump.fault?.kind !== 'exception') return;
  expect(dump.fault.code).toBe(BigInt(expected.code));
  expect(dump.fault.address).toBe(expected.pc);
  expect(dump.fault.parameters).toEqual(expected.parameters);
}

function missingFor(arch: LabArch): string | undefined {
  const toolchain = toolchainFor(arch);
  if ('missing' in toolchain) return `install ${toolchain.missing.join(' ')}`;
  if (toolchain.runner === 'native') return nativeCoreProblem();
  return undefined;
}

for (const plan of PLANS) {
  const missing = missingFor(plan.arch);
  describe.skipIf(missing !== undefined)(`lab writers on ${plan.arch} cores${missing ? ` (skipped: ${missing})` : ''}`, () => {
    let dir: string;
    const written = new Map<string, Written>();

    beforeAll(async () => {
      const toolchain = toolchainFor(plan.arch) as Toolchain;
      dir = mkdtempSync(join(tmpdir(), `lab-writers-${plan.arch}-`));
      const program = buildBugs(toolchain, dir);
      for (const c of plan.cases) {
        const caseDir = join(dir, c.name);
        const core = crashBugs(toolchain, program, c.args, caseDir);
        const gdb = gdbFacts(toolchain.gdb, program, core, toolchain.sysroot);
        const pc = gdb.registers.get(plan.pcName)!;
        const expected = c.expect(gdb, pc);
        // qemu-aarch64 leaves the program's text out of the core (p_filesz 0), which gdb then reads as
        // zeros, and with no NT_FILE gdb cannot place the PIE program: read the file at AT_ENTRY − e_entry.
        const pcBytes = plan.arch === 'arm64' ? fileBytesAt(program, gdb.entry!, pc) : gdb.pcBytes!;
        const input: CrashInput = { arch: plan.arch, core, binaries: [program], sysroot: toolchain.sysroot ?? '/', signal: c.signal };
        const out = (name: string) => join(caseDir, name);
        await writeMinidump(input, out('full.dmp'), { memory: 'full' });
        await writeMinidump(input, out('small.dmp'), { memory: 'small' });
        await writeTranscript(input, out('user.txt'), { style: 'user' });
        const entry: Written = { input, gdb, expected, pcBytes, full: out('full.dmp'), small: out('small.dmp'), user: out('user.txt') };
        if (plan.arch !== 'arm64') {
          await writeTranscript(input, out('kernel.txt'), { style: 'kernel' });
          entry.kernel = out('kernel.txt');
        }
        written.set(c.name, entry);
      }
    });

    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    for (const c of plan.cases) {
      describe(c.name, () => {
        it('writes minidump fields that agree with gdb', () => {
          const w = written.get(c.name)!;
          for (const file of [w.full, w.small]) {
            const fields = readMinidumpFields(readFileSync(file));
            expect(fields.version & 0xffff).toBe(0xa793);
            expect(fields.processorArchitecture).toBe(plan.architecture);
            expect(fields.platformId).toBe(2); // VER_PLATFORM_WIN32_NT
            expect(fields.majorVersion).toBe(10);
            expect(fields.contextFlags & 0x00ff0000).toBe(plan.contextCpu);
            expect(fields.contextFlags & 0x3).toBe(0x3); // CONTROL | INTEGER
            for (const name of plan.registers) {
              const truth = name === plan.pcName ? w.expected.pc : w.gdb.registers.get(name);
              expect(fields.context.get(name), `${name} in ${basename(file)}`).toBe(truth);
            }
            expect(fields.exception.code).toBe(w.expected.code);
            expect(fields.exception.address).toBe(w.expected.pc);
            expect(fields.exception.parameters).toEqual(w.expected.parameters);
            expect(fields.exception.threadId).toBe(fields.threadId);
            const program = fields.modules.find((m) => m.name === w.input.binaries[0]);
            expect(program, 'the program is in the module list').toBeDefined();
            expect(program!.cvSignature).toBe(0x4270454c); // 'BpEL': a GNU build id, as Crashpad writes it
          }
          const full = readMinidumpFields(readFileSync(w.full));
          const small = readMinidumpFields(readFileSync(w.small));
          expect(full.streams.has(9) && !full.streams.has(5)).toBe(true); // Memory64List
          expect(small.streams.has(5) && !small.streams.has(9)).toBe(true); // MemoryList
        });

        it('minidumps that faultline reads back with the same registers, fault and bytes', async () => {
          const w = written.get(c.name)!;
          const sp = w.gdb.registers.get(plan.spName)!;
          const sizes: bigint[] = [];
          for (const file of [w.full, w.small]) {
            const dump = await openDump(file);
            try {
              expect(dump.arch).toBe(plan.arch);
              const registers = registersOf(dump);
              for (const name of plan.registers) {
                const truth = name === plan.pcName ? w.expected.pc : w.gdb.registers.get(name)!;
                const faultlineName = plan.faultlineNames[name] ?? name;
                const value = name === 'cpsr' ? truth & 0xf000_0000n : truth;
                expect(registers[faultlineName], `${faultlineName} in ${basename(file)}`).toBe(value);
              }
              expectFault(dump, w.expected);
              const pc = w.gdb.registers.get(plan.pcName)!;
              if (w.expected.parameters[0] !== 8n) expect(dump.memory.read(pc, 16)).toEqual(w.pcBytes);
              expect(dump.memory.read(sp, 32)).toEqual(w.gdb.spBytes);
              sizes.push(dump.memory.ranges().reduce((n, r) => n + (r.end - r.start), 0n));
            } finally {
              (dump as Dump & { close?: () => void }).close?.();
            }
          }
          expect(sizes[0]).toBeGreaterThanOrEqual(coreHeldBytes(w.input.core)); // full: all the core holds, plus code from files
          expect(sizes[1]).toBeLessThan(0x20000n); // small: the stack and code near the pc and return addresses
        });

        it('a user-mode transcript with the same fault, registers and bytes', async () => {
          const w = written.get(c.name)!;
          const text = readFileSync(w.user, 'utf8');
          expect(text.startsWith('0:000> .exr -1\n')).toBe(true);
          const dump = await openDump(w.user);
          expectFault(dump, w.expected);
          expect(dump.arch).toBe(plan.arch);
          const registers = registersOf(dump);
          for (const name of plan.registers) {
            const truth = name === plan.pcName ? w.expected.pc : w.gdb.registers.get(name)!;
            // WinDbg shows ARM64's cpsr as `psr=` with its NZCV letters; faultline keeps the NZCV bits.
            expect(registers[plan.faultlineNames[name] ?? name], name).toBe(name === 'cpsr' ? truth & 0xf000_0000n : truth);
          }
          if (plan.arch === 'arm64') {
            const word = le(w.pcBytes, 0, 4).toString(16).padStart(8, '0');
            expect(text).toContain(` ${word} `); // `u @pc` prints the instruction word, little-endian in memory
          }
          const pc = w.gdb.registers.get(plan.pcName)!;
          if (w.expected.code === BREAKPOINT) expect(dump.memory.read(w.expected.pc, 1)).toEqual(Uint8Array.of(0xcc)); // the int3 WinDbg shows at the pc
          if (w.expected.parameters[0] !== 8n) expect(dump.memory.read(pc, 4)).toEqual(w.pcBytes.subarray(0, 4));
          expect(dump.memory.read(w.gdb.registers.get(plan.spName)!, 32)).toEqual(w.gdb.spBytes);
        });

        if (plan.arch !== 'arm64') it('a kernel-style transcript: bug check 0x1E and the trap frame', async () => {
          const w = written.get(c.name)!;
          const text = readFileSync(w.kernel!, 'utf8');
          expect(text.startsWith('0: kd> .bugcheck\nBugcheck code 0000001E\n')).toBe(true);
          const dump = await openDump(w.kernel!);
          expect(dump.fault?.kind).toBe('bugcheck');
          if (dump.fault?.kind !== 'bugcheck') return;
          const code = plan.arch === 'x64' ? BigInt.asUintN(64, BigInt.asIntN(32, BigInt(w.expected.code))) : BigInt(w.expected.code);
          expect(dump.fault.code).toBe(0x1en);
          expect(dump.fault.parameters).toEqual([code, w.expected.pc, w.expected.parameters[0] ?? 0n, w.expected.parameters[1] ?? 0n]);
          const context = dump.threads[0]!.contexts[0]!;
          expect(context.kind).toBe('trap-frame');
          const unsaved = plan.arch === 'x64' ? ['rbx', 'rsi', 'rdi', 'r12', 'r13', 'r14', 'r15'] : [];
          if (plan.arch === 'x64') expect(text).toContain('NOTE: The trap frame does not contain all registers.\nSome register values may be zeroed or incorrect.\n');
          // An x64 trap frame does not hold these: WinDbg shows zeros, faultline keeps them and marks them unknown.
          expect(context.unknown).toEqual(plan.arch === 'x64' ? unsaved : undefined);
          for (const name of plan.registers) {
            const truth = name === plan.pcName ? w.expected.pc : w.gdb.registers.get(name);
            const value = (context.registers as Record<string, bigint | undefined>)[plan.faultlineNames[name] ?? name];
            // x64 `.trap` prints no efl=: faultline builds it from iopl and the mnemonics (x64's `po` = PF set), bits 0x3ed7.
            const shown = name === 'eflags' && plan.arch === 'x64' ? truth! & 0x3ed7n : truth;
            expect(value, name).toBe(unsaved.includes(name) ? 0n : shown);
          }
        });
      });
    }

    if (plan.arch === 'arm64') {
      it('refuses a kernel-style ARM64 transcript (kd sessions are written for x86 and x64)', async () => {
        const w = written.values().next().value!;
        await expect(writeTranscript(w.input, join(dir, 'kernel.txt'), { style: 'kernel' })).rejects.toThrow('x86 and x64 only');
      });
    }
  });
}
