/**
 * Opens a trace of any format faultline reads — its own `.fltrace`, its
 * JSON Lines export (or anything written to that layout, such as a gdb
 * `stepi` log), or Tenet's text trace — as one sequence of instructions with
 * the registers before the first. Instructions are produced lazily.
 *
 * Tenet's line *k* is the state before instruction *k* (the registers
 * instruction *k−1* changed, then the pc of *k*): instruction *k* gets the
 * changes of line *k+1*, and the first line holds the start registers.
 * Every line is an instruction, so a Tenet trace whose last line only closes
 * the previous instruction's effects reads with one instruction more.
 *
 * @example
 * ```ts
 * const trace = openAnyTrace('gdb.jsonl');
 * for (const insn of trace.instructions()) console.log(insn.pc);
 * ```
 */
import { readFileSync } from 'node:fs';
import type { Arch, RegisterName } from '../../emu/registers.ts';
import { TraceFormatError } from '../errors.ts';
import { instructionsOf } from '../instructions.ts';
import type { MemoryAccess, TraceInstruction } from '../model.ts';
import { readTrace } from '../reader.ts';

export type AnyTraceFormat = 'fltrace' | 'jsonl' | 'tenet';

export interface AnyTrace {
  path: string;
  format: AnyTraceFormat;
  arch: Arch;
  /** Registers before the first instruction (lower-case names; the pc under its own name, `rip`, `eip`, `pc`). */
  start: Map<string, bigint>;
  /** What executed a recorded run (a `.fltrace` header's `engine`: `cpu`, `cpu+unicorn`, `qemu-i386` …), when the trace says. */
  engine?: string;
  /** The run's instructions in order; each call starts again from the first. */
  instructions(): Iterable<TraceInstruction>;
}

function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new TraceFormatError(`Cannot read trace ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { code: 'io' });
  }
}

function hexBigint(value: unknown, path: string, line: number, what: string): bigint {
  if (typeof value === 'string' && /^(0x)?[0-9a-f]+$/i.test(value)) return BigInt(value.startsWith('0x') || value.startsWith('0X') ? value : `0x${value}`);
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw new TraceFormatError(`${path} line ${line}: ${what} should be a hex string, got ${JSON.stringify(value)}`);
}

function* lines(text: string): Generator<[number, string]> {
  let at = 0;
  let number = 1;
  while (at < text.length) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    const line = text.slice(at, end).trim();
    if (line) yield [number, line];
    at = end + 1;
    number++;
  }
}

const PC_NAMES: Record<Arch, string> = { x86: 'eip', x64: 'rip', arm64: 'pc' };

function openJsonl(path: string, text: string): AnyTrace {
  const first = lines(text).next().value;
  let header: { arch?: unknown; startRegisters?: Record<string, unknown> };
  try {
    header = JSON.parse(first![1]) as typeof header;
  } catch {
    throw new TraceFormatError(`${path} line ${first![0]}: not JSON`);
  }
  if (typeof header !== 'object' || header === null || (header as { type?: unknown }).type !== 'header') throw new TraceFormatError(`${path} line ${first![0]}: the first line should be the header ({"type":"header",…})`);
  if (header.arch !== 'x86' && header.arch !== 'x64' && header.arch !== 'arm64') throw new TraceFormatError(`${path} line ${first![0]}: "arch" should be x86, x64 or arm64, got ${JSON.stringify(header.arch)}`);
  const arch = header.arch;
  const start = new Map<string, bigint>();
  for (const [name, value] of Object.entries(header.startRegisters ?? {})) start.set(name.toLowerCase(), hexBigint(value, path, first![0], `startRegisters.${name}`));
  return {
    path, format: 'jsonl', arch, start,
    *instructions() {
      for (const [number, line] of lines(text)) {
        let object: Record<string, unknown>;
        try {
          object = JSON.parse(line) as Record<string, unknown>;
        } catch {
          throw new TraceFormatError(`${path} line ${number}: not JSON`);
        }
        if (object.type !== 'instruction') continue;
        const changed: Array<[RegisterName, bigint]> = Object.entries((object.registers ?? {}) as Record<string, unknown>)
          .map(([name, value]) => [name.toLowerCase() as RegisterName, hexBigint(value, path, number, `registers.${name}`)]);
        const memory: MemoryAccess[] = ((object.memory ?? []) as Array<Record<string, unknown>>).map((m) => ({
          kind: m.kind === 'write' ? 'write' : 'read', address: hexBigint(m.address, path, number, 'memory address'), size: Number(m.size ?? 0), value: hexBigint(m.value ?? '0', path, number, 'memory value'),
        }));
        const insn: TraceInstruction = {
          index: typeof object.index === 'number' ? object.index : 0, pc: hexBigint(object.pc, path, number, '"pc"'), size: typeof object.size === 'number' ? object.size : 0,
          changed, memory, events: [],
        };
        if (typeof object.bytes === 'string' && /^([0-9a-f]{2})*$/i.test(object.bytes)) insn.bytes = Uint8Array.from(Buffer.from(object.bytes, 'hex'));
        yield insn;
      }
    },
  };
}

/** One Tenet line: its registers (lower-case), its pc and its memory accesses. */
function tenetLine(path: string, number: number, line: string, pcName: string): { registers: Map<string, bigint>; pc?: bigint; memory: MemoryAccess[] } {
  const registers = new Map<string, bigint>();
  const memory: MemoryAccess[] = [];
  let pc: bigint | undefined;
  for (const entry of line.split(',')) {
    const eq = entry.indexOf('=');
    if (eq < 0) throw new TraceFormatError(`${path} line ${number}: '${entry}' is not NAME=VALUE`);
    const name = entry.slice(0, eq).trim().toLowerCase();
    const value = entry.slice(eq + 1).trim();
    if (name === 'mr' || name === 'mw') {
      const [address, bytes = ''] = value.split(':');
      let little = 0n;
      const hex = bytes.slice(0, 16);
      for (let i = hex.length - 2; i >= 0; i -= 2) little = (little << 8n) | BigInt(`0x${hex.slice(i, i + 2)}`);
      memory.push({ kind: name === 'mw' ? 'write' : 'read', address: hexBigint(address, path, number, name), size: bytes.length / 2, value: little });
    } else if (name === pcName) {
      pc = hexBigint(value, path, number, name);
    } else {
      registers.set(name, hexBigint(value, path, number, name));
    }
  }
  return { registers, pc, memory };
}

function openTenet(path: string, text: string): AnyTrace {
  const first = lines(text).next().value;
  const pcName = ['rip', 'eip', 'pc'].find((name) => new RegExp(`(^|,)\\s*${name}=`, 'i').test(first?.[1] ?? ''));
  if (!first || !pcName) throw new TraceFormatError(`${path}: not a trace faultline reads (not .fltrace, JSON Lines, or Tenet with RIP=, EIP= or PC= on its first line)`);
  const arch: Arch = pcName === 'rip' ? 'x64' : pcName === 'eip' ? 'x86' : 'arm64';
  const head = tenetLine(path, first[0], first[1], pcName);
  return {
    path, format: 'tenet', arch, start: new Map([...head.registers, [pcName, head.pc!]]),
    *instructions() {
      let index = 0;
      let pending: bigint | undefined;
      for (const [number, line] of lines(text)) {
        const parsed = tenetLine(path, number, line, pcName);
        if (parsed.pc === undefined) throw new TraceFormatError(`${path} line ${number}: no ${pcName.toUpperCase()}=`);
        if (pending !== undefined) {
          yield { index: index++, pc: pending, size: 0, changed: [...parsed.registers] as Array<[RegisterName, bigint]>, memory: parsed.memory, events: [] };
        }
        pending = parsed.pc;
      }
      if (pending !== undefined) yield { index, pc: pending, size: 0, changed: [], memory: [], events: [] };
    },
  };
}

/** Opens `path`, whatever its format (by its first bytes). */
export function openAnyTrace(path: string): AnyTrace {
  const bytes = readBytes(path);
  if (bytes.subarray(0, 7).toString('latin1') === 'FLTRACE') {
    const trace = readTrace(bytes);
    if (!trace.header) throw new TraceFormatError(`${path}: no trace header (the file is empty or was cut before its first message)`);
    const header = trace.header;
    const start = new Map<string, bigint>(Object.entries(header.startRegisters).map(([name, value]) => [name, value as bigint]));
    return { path, format: 'fltrace', arch: header.arch, start, ...(header.engine !== undefined && { engine: header.engine }), instructions: () => instructionsOf(header, trace.batches, trace.events) };
  }
  const text = bytes.toString('utf8');
  if (text.trimStart().startsWith('{')) return openJsonl(path, text);
  return openTenet(path, text);
}

export { PC_NAMES };
