/**
 * `faultline record -- PROGRAM [ARGS…]`: run a program on the CPU under
 * ptrace — natively from one sync point to the next with Unicorn recording
 * the instructions between them and checked at each (the default), or every
 * instruction single-stepped on the CPU (`--step`) — and save what it
 * executed as a `.fltrace` (pc, bytes, registers changed, sync points), to
 * compare with an emulator's trace (`faultline diff`).
 *
 * @example
 * ```sh
 * faultline record --out ls.fltrace --max-instructions 200000 -- /bin/ls /
 * ```
 */
import { Command } from 'commander';
import { basename } from 'node:path';
import { parseCount } from '../../parse.ts';
import { recordProgram } from '../../record/record.ts';
import { InputError } from '../../errors.ts';
import { RecordDivergence } from '../../record/fast-record.ts';
import { ExitStatus } from '../errors.ts';
import type { Io } from '../main.ts';

interface RecordOptions {
  out?: string;
  maxInstructions: string;
  maskCpuid?: boolean;
  fast?: boolean;
  step?: boolean;
}

export function addRecordCommand(program: Command, io: Io): void {
  program
    .command('record')
    .description('run a program under ptrace (x86-64 Linux) and save the trace of what it executed: natively between sync points, Unicorn recording the instructions there, checked against the CPU at each (--step: every instruction single-stepped on the CPU); i386 and AArch64 programs run under qemu-user, stepped through its gdbstub')
    .argument('<program>', 'the program to run (after --)')
    .argument('[args...]', 'its arguments')
    .option('--out <file>', 'trace file to write (default: PROGRAM.fltrace in the current directory)')
    .option('--max-instructions <n>', 'stop (and kill the program) after this many instructions', '5000000')
    .option('--mask-cpuid', 'answer cpuid without AVX, AVX2, AVX-512, FMA, F16C, XSAVE and TSX, so libraries take code paths Unicorn emulates (under qemu-user: a CPU model without AVX or SVE)')
    .option('--fast', 'run natively from one sync point to the next, Unicorn recording the instructions between them, registers checked at each (the default)')
    .option('--step', 'single-step every instruction on the CPU instead (slower; no emulator involved)')
    .action(async (path: string, args: string[], options: RecordOptions) => {
      if (options.fast && options.step) throw new InputError('record: --fast and --step are two modes; give one');
      if (!path) throw new InputError('record needs a program: faultline record [--out FILE] -- PROGRAM [ARGS…]');
      const out = options.out ?? `${basename(path)}.fltrace`;
      let summary;
      try {
        summary = await recordProgram({
          program: path, args, out, maxInstructions: parseCount(options.maxInstructions, '--max-instructions'), maskCpuid: options.maskCpuid === true,
          mode: options.step ? 'step' : 'fast',
        });
      } catch (error) {
        if (!(error instanceof RecordDivergence)) throw error;
        io.err(`${error.message}\n`);
        throw new ExitStatus(1);
      }
      if (summary.note) io.err(`${path}: ${summary.note}\n`);
      const rate = summary.rate >= 1000 ? `${Math.round(summary.rate / 1000)} k` : `${Math.round(summary.rate)}`;
      io.err(`${path} ${summary.ending}; ${summary.instructions} instructions recorded in ${summary.seconds.toFixed(2)} s (${rate} instructions/s), written to ${out}\n`);
    });
}
