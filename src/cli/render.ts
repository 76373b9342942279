/**
 * Prints and saves traces for the CLI: the text (WinDbg-like), JSON Lines
 * and Tenet exports, with symbols from the dump when it has them.
 *
 * @example
 * ```ts
 * for await (const line of traceLines('text', { header, batches }, dump.symbols)) io.out(line + '\n');
 * ```
 */
import type { TraceBatch, TraceEvent, TraceHeader } from '../../traces/model.ts';
import type { InstructionRange } from '../../traces/instructions.ts';
import { textLines } from '../../traces/export/text.ts';
import { jsonlLines } from '../../traces/export/jsonl.ts';
import { tenetLines } from '../../traces/export/tenet.ts';
import { writeTraceFileWith } from '../../traces/writer.ts';
import { createDisassembler } from '../disasm/disassembler.ts';
import type { SymbolTable } from '../dumps/model.ts';
import { exactSymbol } from '../dumps/exact-symbol.ts';

export const TRACE_FORMATS = ['text', 'jsonl', 'tenet'] as const;
export type TraceFormat = (typeof TRACE_FORMATS)[number];

export interface RenderableTrace {
  header: TraceHeader;
  /** In memory, or streamed from a file (then with `events` and `range`). */
  batches: Iterable<TraceBatch>;
  events?: TraceEvent[];
  range?: InstructionRange | null;
  stopReason?: string;
}

/** The lines of `trace` in `format`. */
export async function traceLines(format: TraceFormat, trace: RenderableTrace, symbols?: SymbolTable): Promise<Iterable<string>> {
  switch (format) {
    case 'jsonl':
      return jsonlLines(trace);
    case 'tenet':
      return tenetLines(trace);
    case 'text': {
      const disassembler = await createDisassembler(trace.header.arch);
      const symbolize = symbols && symbols.size > 0
        ? (address: bigint) => (symbols.lookup(address) ? symbols.format(address) : undefined)
        : undefined;
      const exactName = symbols && symbols.size > 0 ? (address: bigint) => exactSymbol(symbols, address) : undefined;
      return textLines(trace, { disassembler, symbolize, exactName });
    }
  }
}

/** Writes `lines` to `out` in chunks, so a long trace is not one giant string. */
export function writeLines(lines: Iterable<string>, out: (text: string) => void): void {
  let chunk: string[] = [];
  for (const line of lines) {
    chunk.push(line);
    if (chunk.length >= 4096) {
      out(`${chunk.join('\n')}\n`);
      chunk = [];
    }
  }
  if (chunk.length) out(`${chunk.join('\n')}\n`);
}

/** Saving traces whole or not at all, streamed while the run goes on. */
export { writeTraceFileWith };
