/**
 * `faultline record -- PROGRAM [ARGS…]`: run a program on the CPU under
 * ptrace single-step and save what it executed as a `.fltrace` (pc, bytes,
 * registers changed, sync points), to compare with an emulator's trace
 * (`faultline diff`).
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
import type { Io } from '../main.ts';

interface RecordOptions {
  out?: string;
  maxInstructions: string;
  maskCpuid?: boolean;
}

export function addRecordCommand(program: Command, io: Io): void {
  program
    .command('record')
    .description('run a program under ptrace single-step (x86-64 Linux) and save the trace of what the CPU executed; i386 and AArch64 programs run under qemu-user, stepped through its gdbstub')
    .argument('<program>', 'the program to run (after --)')
    .argument('[args...]', 'its arguments')
    .option('--out <file>', 'trace file to write (default: PROGRAM.fltrace in the current directory)')
    .option('--max-instructions <n>', 'stop (and kill the program) after this many instructions', '5000000')
    .option('--mask-cpuid', 'answer cpuid without AVX, AVX2, AVX-512, FMA, F16C, XSAVE and TSX, so libraries take code paths Unicorn emulates')
    .action(async (path: string, args: string[], options: RecordOptions) => {
      if (!path) throw new InputError('record needs a program: faultline record [--out FILE] -- PROGRAM [ARGS…]');
      const out = options.out ?? `${basename(path)}.fltrace`;
      const summary = await recordProgram({ program: path, args, out, maxInstructions: parseCount(options.maxInstructions, '--max-instructions'), maskCpuid: options.maskCpuid === true });
      const rate = summary.rate >= 1000 ? `${Math.round(summary.rate / 1000)} k` : `${Math.round(summary.rate)}`;
      io.err(`${path} ${summary.ending}; ${summary.instructions} instructions recorded in ${summary.seconds.toFixed(2)} s (${rate} instructions/s), written to ${out}\n`);
    });
}
