/**
 * `faultline record -- PROGRAM [ARGS…]`: run a program on the CPU under
 * ptrace — natively from one sync point to the next with Unicorn filling in
 * and checked at each, or single-stepped (`--step`) — and save what it
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
    .description('run a program under ptrace (x86-64 Linux) and save the trace of what the CPU executed; i386 and AArch64 programs run under qemu-user, stepped through its gdbstub')
    .argument('<program>', 'the program to run (after --)')
    .argument('[args...]', 'its arguments')
    .option('--out <file>', 'trace file to write (default: PROGRAM.fltrace in the current directory)')
    .option('--max-instructions <n>', 'stop (and kill the program) after this many instructions', '5000000')
    .option('--mask-cpuid', 'answer cpuid without AVX, AVX2, AVX-512, FMA, F16C, XSAVE and TSX, so libraries take code paths Unicorn emulates')
    .option('--fast', 'run natively from one sync point to the next, Unicorn between them, registers checked at each (default: single-step every instruction on the CPU)')
    .option('--step', 'single-step every instruction on the CPU (the default)')
    .action(async (path: string, args: string[], options: RecordOptions) => {
      if (options.fast && options.step) throw new InputError('record: --fast and --step are two modes; give one');
      if (!path) throw new InputError('record needs a program: faultline record [--out FILE] -- PROGRAM [ARGS…]');
      const out = options.out ?? `${basename(path)}.fltrace`;
      let summary;
      try {
        summary = await recordProgram({
          program: path, args, out, maxInstructions: parseCount(options.maxInstructions, '--max-instructions'), maskCpuid: options.maskCpuid === true,
          mode: options.fast ? 'fast' : 'step',
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
