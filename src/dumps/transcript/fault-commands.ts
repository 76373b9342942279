/**
 * The fault a transcript reports: `.bugcheck` in kd, `.exr` in cdb.
 *
 * ```
 * 1: kd> .bugcheck
 * Bugcheck code 0000008E
 * Arguments 80000003 8082e3e0 f78aec38 00000000
 * 0:000> .exr -1
 * ExceptionAddress: 77f0f9d0 (ntdll!DbgBreakPoint)
 *    ExceptionCode: 80000003 (Break instruction exception)
 *   ExceptionFlags: 00000000
 * NumberParameters: 1
 *    Parameter[0]: 00000000
 * ```
 *
 * The first fault seen stays; a later one that differs is a warning.
 *
 * @example
 * ```ts
 * readBugcheck(command, facts);
 * facts.fault; // { kind: 'bugcheck', code: 0x8en, parameters: [0x80000003n, 0x8082e3e0n, 0xf78aec38n, 0n], … }
 * ```
 */
import { parseHex } from '../hex.ts';
import type { Fault } from '../model.ts';
import { parseSymbolText } from '../symbol-table.ts';
import type { TranscriptFacts } from './facts.ts';
import type { TranscriptCommand, TranscriptLine } from './lexer.ts';
import { shortText, quoteInput } from '../../quote.ts';

function hexOrFail(token: string, what: string, entry: TranscriptLine, facts: TranscriptFacts): bigint {
  const value = parseHex(token);
  if (value === undefined) facts.fail(`${what} ${quoteInput(token)} is not hex in ${quoteInput(entry.text.trim(), 60)}`, entry.line);
  return value;
}

function sameFault(a: Fault, b: Fault): boolean {
  if (a.kind === 'signal' || b.kind === 'signal' || a.kind !== b.kind || a.code !== b.code) return false;
  return a.parameters.length === b.parameters.length && a.parameters.every((p, i) => p === b.parameters[i]);
}

function record(fault: Fault, facts: TranscriptFacts): void {
  if (!facts.fault) {
    facts.fault = fault;
  } else if (!sameFault(facts.fault, fault)) {
    const first = facts.fault.provenance;
    facts.note('warning', `Line ${fault.provenance.line} reports a different fault than line ${first.line} (\`${shortText(first.source, 60)}\`); keeping the first`, fault.provenance);
  }
}

/**
 * Reads `.bugcheck` output: a code and its arguments become a `bugcheck`
 * fault. Output without a `Bugcheck code` line (none yet, a typo) is noted.
 *
 * @example
 * ```ts
 * readBugcheck(command, facts); // Arguments 80000003 8082e3e0 f78aec38 00000000 → four parameters
 * ```
 */
export function readBugcheck(command: TranscriptCommand, facts: TranscriptFacts): void {
  let code: bigint | undefined;
  let codeLine: TranscriptLine | undefined;
  let parameters: bigint[] = [];
  for (const entry of command.output) {
    const codeMatch = /^\s*Bugcheck code\s+(\S+)\s*$/i.exec(entry.text);
    const argsMatch = /^\s*Arguments\s+(.+)$/i.exec(entry.text);
    if (codeMatch) {
      code = hexOrFail(codeMatch[1]!, 'Bugcheck code', entry, facts);
      codeLine = entry;
    } else if (argsMatch) {
      parameters = argsMatch[1]!.trim().split(/\s+/).map((t) => hexOrFail(t, 'Bugcheck argument', entry, facts));
    }
  }
  if (code === undefined || !codeLine) {
    facts.noteSkipped(command, "no 'Bugcheck code' line in its output");
    return;
  }
  record({ kind: 'bugcheck', code, parameters, provenance: facts.provenance(command, codeLine.line) }, facts);
}

/**
 * Reads `.exr` output: an `exception` fault at `ExceptionAddress`, whose
 * symbol in parentheses is recorded too.
 *
 * @example
 * ```ts
 * readExceptionRecord(command, facts); // ExceptionCode: c0000005 → { kind: 'exception', code: 0xc0000005n, … }
 * ```
 */
export function readExceptionRecord(command: TranscriptCommand, facts: TranscriptFacts): void {
  let address: bigint | undefined;
  let code: bigint | undefined;
  let codeLine = command.line;
  const parameters: bigint[] = [];
  for (const entry of command.output) {
    const match = /^\s*([A-Za-z]+)(?:\[(\d+)\])?:\s*(\S+)(?:\s+\((.*)\))?/.exec(entry.text);
    if (!match) continue;
    const [, field, index, value, note] = match;
    if (field === 'ExceptionAddress') {
      address = hexOrFail(value!, 'ExceptionAddress', entry, facts);
      facts.noteAddressToken(value!);
      const symbol = note ? parseSymbolText(note.trim()) : undefined;
      if (symbol) facts.addSymbolAt(symbol, address, facts.provenance(command, entry.line));
    } else if (field === 'ExceptionCode') {
      code = hexOrFail(value!, 'ExceptionCode', entry, facts);
      codeLine = entry.line;
    } else if (field === 'Parameter' && index !== undefined) {
      parameters[Number(index)] = hexOrFail(value!, `Parameter[${index}]`, entry, facts);
    }
  }
  if (code === undefined || address === undefined) {
    facts.noteSkipped(command, 'no ExceptionAddress and ExceptionCode in its output');
    return;
  }
  record(
    { kind: 'exception', code, address, parameters: Array.from(parameters, (p) => p ?? 0n), threadId: command.thread, provenance: facts.provenance(command, codeLine) },
    facts,
  );
}
