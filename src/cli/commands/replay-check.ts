/**
 * `faultline replay-check FILE.fltrace`: re-executes a `faultline record`
 * recording in Unicorn from its recorded start, feeding back what the CPU
 * and the kernel chose, and compares every instruction's pc and registers
 * with the recording. The first divergence prints like WinDbg (the
 * instructions before it, the instruction, each register real vs
 * emulated); exit 1 there or where Unicorn stops early, 0 when every
 * recorded instruction agrees.
 *
 * @example
 * ```sh
 * faultline record --out p.fltrace -- ./p && faultline replay-check p.fltrace --context 5
 * ```
 */
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { InputError } from '../../errors.ts';
import { parseCount } from '../../parse.ts';
import { diffTraces } from '../../analysis/trace-diff.ts';
import { openReplay } from '../../analysis/replay-check.ts';
import { openAnyTrace } from '../../../traces/import/open.ts';
import { instructionLine } from '../../../traces/export/text.ts';
import { createDisassembler } from '../../disasm/disassembler.ts';
import type { Io } from '../main.ts';
import type { TraceInstruction } from '../../../traces/model.ts';
import { ExitStatus } from '../errors.ts';
import { comparisonLines, mnemonicOf } from './diff.ts';

interface ReplayCheckOptions {
  context: string;
}

export function addReplayCheckCommand(program: Command, io: Io): void {
  program
    .command('replay-check')
    .description('re-execute a `faultline record` trace in Unicorn and compare every instruction with what the CPU did')
    .argument('<trace>', 'a .fltrace written by faultline record')
    .option('--context <n>', 'instructions shown before the divergence', '8')
    .action(async (path: string, options: ReplayCheckOptions) => {
      if (!existsSync(path)) throw new InputError(`Cannot open trace ${path}: no such file`);
      const context = options.context === '0' ? 0 : parseCount(options.context, '--context');
      const recorded = openAnyTrace(path);
      const disasm = await createDisassembler(recorded.arch);
      try {
        const mnemonic = mnemonicOf(disasm);
        const replay = openReplay(recorded, { mnemonic: (bytes, address) => disasm.decode(bytes, address)?.mnemonic });
        const result = diffTraces(replay.recorded, replay.emulated, { align: 'index', context, mnemonic });
        const { emulated, fed, memoryEvents } = replay.counts;
        const lines = [`${path}: replayed in Unicorn from the recorded start (${emulated} instructions emulated, ${fed} sync points and ${memoryEvents} memory events fed from the recording)`];
        if (recorded.engine === 'cpu+unicorn') lines.push('recorded with --fast: between sync points the recording is Unicorn\'s own, checked against the CPU at each sync point (record with --step to compare every instruction with the CPU)');
        const stopped = replay.stopped;
        if (stopped && !result.divergence) {
          // Unicorn could not go on: everything before agreed, the rest is unchecked.
          lines.push(`no divergence in the ${result.compared} instructions before Unicorn stopped (registers compared: ${result.commonRegisters.join(' ')})`);
          let insn: TraceInstruction | undefined;
          for (const i of replay.recorded.instructions()) {
            if (i.index !== stopped.index) continue;
            insn = i;
            break;
          }
          lines.push(`Unicorn stopped at instruction ${stopped.index}: ${stopped.reason}`);
          if (insn) lines.push(`>  ${instructionLine(recorded.arch, insn, disasm)}`);
          lines.push(`${result.remainingA} recorded instructions not checked`);
        } else {
          lines.push(...comparisonLines(result, disasm, { a: 'real', b: 'emulated' }));
        }
        io.out(`${lines.join('\n')}\n`);
        if (result.divergence || stopped) throw new ExitStatus(1);
      } finally {
        disasm.close();
      }
    });
}

