/**
 * The walker against gdb's `bt` on the same real cores: a C program built
 * with gcc at -O0 and -O2, with and without frame pointers, crashing by an
 * assertion (through libc's abort), a divide by zero and a call through a
 * null function pointer (test/helpers/backtrace-programs.ts). The
 * program's own frames must match gdb's frame for frame; libc frames gdb
 * names by an exported symbol must be there under that symbol (or an alias
 * at the same address: gdb says `raise` where the table also has `gsignal`);
 * and every frame up to `main` must be one gdb shows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LabArch } from '../../lab/toolchain.ts';
import { openElfCore } from '../../src/dumps/elf/open-core.ts';
import { frameSymbol } from '../../src/unwind/frame-symbol.ts';
import { walkStack } from '../../src/unwind/walk.ts';
import { coreDumpBlocked, crashCore, crashModes, gdbFrameRegisters, type BuildVariant } from '../helpers/backtrace-programs.ts';
import { nmFunctions } from '../helpers/elf-truth.ts';
import { toolchainMissing } from '../helpers/system.ts';

const dir = mkdtempSync(join(tmpdir(), 'faultline-bt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** gcc's clone suffixes (`level2.constprop.0`) and glibc's internal aliases (`__GI_raise`) as gdb's plain names. */
const plain = (name: string) => name.replace(/\..*$/, '').replace(/^__GI_/, '');

const CASES: Array<[LabArch, BuildVariant[]]> = [
  ['x64', ['O0', 'O0-nofp', 'O2', 'O2-fp', 'O2-static']],
  ['x86', ['O0', 'O2']],
  ['arm64', ['O0', 'O2']],
];

for (const [arch, variants] of CASES) {
  const missing = toolchainMissing(arch);
  const blocked = coreDumpBlocked();
  describe.skipIf(missing.length > 0 || blocked !== undefined)(`${arch} cores against gdb bt${missing.length ? ` (missing ${missing.join(' ')})` : blocked ? ` (${blocked})` : ''}`, () => {
    for (const variant of variants) {
      for (const mode of crashModes(arch)) {
        // qemu-aarch64's core holds neither libc's pages nor NT_FILE to find libc by, so the walk leaves
        // libc by frame pointers, whose sp guess (x29+16) misleads the CFI of an -O2 caller without one;
        // gdb reads libc's CFI from the sysroot. Known gap, see the README.
        const gap = arch === 'arm64' && variant === 'O2' && mode === 'assert';
        it.skipIf(gap)(`${variant} ${mode}`, async () => {
          const run = crashCore(arch, variant, mode, dir);
          const dump = openElfCore(run.core, { binaries: [run.binary], sysroot: run.toolchain.sysroot ?? '/' });
          try {
            const faulting = dump.fault?.kind === 'signal' ? dump.fault.threadId : undefined;
            const thread = dump.threads.find((t) => t.id === faulting) ?? dump.threads[0]!;
            const walk = await walkStack(dump, thread.contexts[0]!);
            const ours = walk.frames.map((f) => ({ frame: f, symbol: frameSymbol(dump, f) }));
            const mainAt = ours.findIndex((f) => f.symbol?.symbol === 'main');
            expect(mainAt, `${walk.notes.join('\n')}\n${run.gdbOutput}`).toBeGreaterThan(0);
            const upToMain = ours.slice(0, mainAt + 1);
            const program = new Set([...nmFunctions(run.binary).keys()].map(plain));
            const programModule = upToMain[mainAt]!.symbol!.module;
            const pc0 = walk.frames[0]!.pc;

            // The program's frames, frame for frame.
            const gdbProgram = run.gdbFrames.filter((f) => program.has(plain(f.name))).map((f) => ({ pc: f.pc ?? pc0, name: plain(f.name) }));
            const ourProgram = upToMain.filter((f) => f.symbol?.module === programModule).map((f) => ({ pc: f.frame.pc, name: plain(f.symbol!.symbol ?? '?') }));
            // A static image holds libc too: its aliases (gdb's `raise` is also `gsignal`) are compared by address.
            if (variant === 'O2-static') expect(ourProgram.map((f) => f.pc), run.gdbOutput).toEqual(gdbProgram.map((f) => f.pc));
            else expect(ourProgram, run.gdbOutput).toEqual(gdbProgram);
            // Without frame pointers only the CFI leads through the program's frames (a static image's too); the
            // caller of a call to null is read where the call left its return address.
            if (variant === 'O2-static') {
              for (const f of upToMain.slice(mode === 'null-call' ? 2 : 1)) expect(f.frame.trust, `frame ${f.frame.index}`).toBe('cfi');
            }

            // libc frames gdb names by an exported symbol.
            const libc = dump.elf.files.find((f) => basename(f.path).startsWith('libc.so'))?.foundAt;
            const exports = libc ? nmFunctions(libc, true) : new Map<string, bigint>();
            for (const g of run.gdbFrames.filter((f) => f.pc !== undefined && !program.has(plain(f.name)) && exports.has(plain(f.name)))) {
              const mine = upToMain.find((f) => f.frame.pc === g.pc);
              expect(mine, `gdb #${g.index} ${g.name}\n${run.gdbOutput}`).toBeDefined();
              expect(exports.get(plain(mine!.symbol?.symbol ?? '')), `gdb #${g.index} ${g.name}`).toBe(exports.get(plain(g.name)));
            }

            // Nothing gdb does not show.
            const gdbPcs = new Set(run.gdbFrames.map((f) => f.pc ?? pc0));
            for (const f of upToMain.slice(1)) expect(gdbPcs.has(f.frame.pc), `our frame ${f.frame.index} ${f.symbol?.symbol}\n${run.gdbOutput}`).toBe(true);
            // The callee-saved registers the walk recovered in the program's frames are gdb's (x64: gdb reads the same CFI).
            if (arch === 'x64') {
              const names = ['rbx', 'rbp', 'r12', 'r13', 'r14', 'r15', 'rsp', 'rip'] as const;
              const indexes = run.gdbFrames.filter((f) => program.has(plain(f.name)) && f.index > 0).map((f) => f.index);
              const gdbRegs = gdbFrameRegisters(run, indexes, [...names]);
              let compared = 0;
              for (const index of indexes) {
                const g = run.gdbFrames[index]!;
                const mine = upToMain.find((f) => f.frame.pc === g.pc)!.frame;
                for (const name of names) {
                  const theirs = gdbRegs.get(index)?.[name];
                  if (theirs === undefined || mine.registers[name] === undefined) continue;
                  expect(mine.registers[name], `frame ${index} ${name}`).toBe(theirs);
                  compared++;
                }
              }
              expect(compared).toBeGreaterThan(indexes.length * 2);
            }

            // The program's frames come from its unwind tables (qemu's cores may leave the program's pages out).
            if (run.toolchain.runner === 'native') {
              for (const f of upToMain.filter((x) => x.symbol?.module === programModule && x.frame.index > 1)) expect(f.frame.trust).toBe('cfi');
            }
          } finally {
            dump.close();
          }
        }, 60_000);
      }
    }
  });
}
