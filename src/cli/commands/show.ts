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
import { streamTrace } from '../../../traces/reader.ts';
import { InputError } from '../../errors.ts';
import { TRACE_FORMATS, traceLines, writeLines, type TraceFormat } from '../render.ts';
import type { Io } from '../main.ts';
import type { SymbolTable } from '../../dumps/model.ts';

/** Prints the trace at `path` batch by batch (memory stays flat however long it is); `name` is how messages call it. */
export async function printTrace(path: string, format: TraceFormat, io: Io, options: { symbols?: SymbolTable; name?: string; stopReason?: string } = {}): Promise<void> {
  const name = options.name ?? path;
  const trace = streamTrace(path);
  if (!trace.header) throw new InputError(`${name}: no trace header (the file is empty or was cut before its first message)`);
  const stopReason = options.stopReason ?? trace.stopReason;
  const contents = { header: trace.header, batches: { [Symbol.iterator]: () => trace.batches() }, events: trace.events, range: trace.range, ...(stopReason !== undefined && { stopReason }) };
  writeLines(await traceLines(format, contents, options.symbols), io.out);
  if (trace.truncated) io.err(`${name}: the trace ends without its end record (an interrupted run); printed the ${trace.instructions} instructions before the cut\n`);
}

export function addShowCommand(program: Command, io: Io): void {
  program
    .command('show')
    .description('print a saved trace (.fltrace) as text, JSON Lines or Tenet')
    .argument('<trace>', 'trace file written by `faultline trace --out`')
    .addOption(new Option('--format <format>', 'output format').choices(TRACE_FORMATS as unknown as string[]).default('text'))
    .action(async (path: string, options: { format: string }) => {
      if (!existsSync(path)) throw new InputError(`Cannot open trace ${path}: no such file`);
      await printTrace(path, options.format as TraceFormat, io);
    });
}
