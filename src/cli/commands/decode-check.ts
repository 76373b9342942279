/**
 * `faultline decode-check TRACE [--decoder capstone|./plugin.mjs …]`: each
 * decoder against what the CPU executed (lengths, branch targets, registers
 * written), disagreements grouped by encoding with a reproducer each. Exit 1
 * when any decoder disagrees.
 *
 * @example
 * ```sh
 * faultline decode-check cpu.fltrace --decoder capstone --decoder ./my-decoder.mjs
 * ```
 */
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { InputError } from '../../errors.ts';
import { decodeCheck, type DecodeCheckResult } from '../../analysis/decode-check.ts';
import { loadDecoder } from '../../disasm/decoder-plugin.ts';
import { openAnyTrace } from '../../../traces/import/open.ts';
import { formatAddress, hex } from '../../format.ts';
import { jsonText } from '../json.ts';
import { ExitStatus } from '../errors.ts';
import type { Io } from '../main.ts';

interface DecodeCheckOptions {
  decoder: string[];
  json?: boolean;
}

const MODES = { x86: 'x86 32-bit', x64: 'x86-64', arm64: 'AArch64' } as const;

function textLines(result: DecodeCheckResult): string[] {
  const total = result.groups.reduce((n, g) => n + g.count, 0);
  const lines = [`${result.decoder}: ${result.checked} instructions checked, ${total} disagreements in ${result.groups.length} encodings${result.undecoded ? `; ${result.undecoded} not decoded by it, not checked` : ''}${result.withoutBytes ? `; ${result.withoutBytes} without bytes in the trace, not checked` : ''}`];
  for (const g of result.groups) {
    const bytes = Buffer.from(g.first.bytes).toString('hex');
    lines.push(`  ${g.kind} ${g.encoding}: ${g.count}× first at instruction ${g.first.index}: ${g.first.detail}`);
    lines.push(`    reproducer: bytes ${bytes} mode ${MODES[result.arch]} address ${formatAddress(result.arch, g.first.pc)}`);
  }
  return lines;
}

export function addDecodeCheckCommand(program: Command, io: Io): void {
  program
    .command('decode-check')
    .description('check decoders against a trace of what the CPU executed: lengths, branch targets, registers written')
    .argument('<trace>', 'trace with instruction bytes (.fltrace from `faultline record`, or JSON Lines)')
    .option('--decoder <name>', '`capstone`, or a module exporting decode(bytes, address, arch) (repeatable)', (v: string, all: string[]) => [...all, v], [])
    .option('--json', 'machine-readable output')
    .action(async (path: string, options: DecodeCheckOptions) => {
      if (!existsSync(path)) throw new InputError(`Cannot open trace ${path}: no such file`);
      const trace = openAnyTrace(path);
      const results: DecodeCheckResult[] = [];
      for (const spec of options.decoder.length ? options.decoder : ['capstone']) {
        const decoder = await loadDecoder(spec, trace.arch);
        try {
          results.push(decodeCheck(trace, decoder));
        } finally {
          decoder.close();
        }
      }
      if (options.json) {
        io.out(jsonText(results.map((r) => ({ ...r, groups: r.groups.map((g) => ({ ...g, first: { ...g.first, pc: hex(g.first.pc), bytes: Buffer.from(g.first.bytes).toString('hex') } })) }))));
      } else {
        io.out(`${results.flatMap(textLines).join('\n')}\n`);
      }
      if (results.some((r) => r.groups.length > 0)) throw new ExitStatus(1);
    });
}
