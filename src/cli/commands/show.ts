/**
 * `faultline show FILE.fltrace`: print a saved trace as text, JSON Lines or
 * Tenet. A trace cut short (an interrupted run) prints its valid prefix and
 * says so.
 *
 * @example
 * ```sh
 * faultline show run.fltrace --format tenet > run.tenet
 * ```
 */
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { readTrace } from '../../../traces/reader.ts';
import { InputError } from '../../errors.ts';
import { TRACE_FORMATS, traceLines, writeLines, type TraceFormat } from '../render.ts';
import type { Io } from '../main.ts';

export function addShowCommand(program: Command, io: Io): void {
  program
    .command('show')
    .description('print a saved trace (.fltrace) as text, JSON Lines or Tenet')
    .argument('<trace>', 'trace file written by `faultline trace --out`')
    .addOption(new Option('--format <format>', 'output format').choices(TRACE_FORMATS as unknown as string[]).default('text'))
    .action(async (path: string, options: { format: string }) => {
      if (!existsSync(path)) throw new InputError(`Cannot open trace ${path}: no such file`);
      const trace = readTrace(path);
      if (!trace.header) throw new InputError(`${path}: no trace header (the file is empty or was cut before its first message)`);
      writeLines(await traceLines(options.format as TraceFormat, { ...trace, header: trace.header }), io.out);
      if (trace.truncated) io.err(`${path}: the trace ends without its end record (an interrupted run); printed the ${trace.batches.reduce((n, b) => n + b.count, 0)} instructions before the cut\n`);
    });
}
