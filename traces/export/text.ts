/**
 * The trace as text in the style of WinDbg's step output: one line per
 * instruction (address, bytes, disassembly), then the registers it changed,
 * its memory accesses and its events. With a symbolizer, a `module!sym+0xoff:`
 * line precedes an instruction whenever the symbol changes.
 *
 * ```text
 * nt!KeBugCheckEx+0x1c:
 * 8082e3e1 cc              int     3
 *   eax=00000001 esp=f78aecac
 *   [f78aecac] <- 80a5d8fc (4)
 *   *** trap int 3 at 8082e3e1
 * ```
 *
 * @example
 * ```ts
 * const disassembler = await createDisassembler(trace.header.arch);
 * for (const line of textLines(trace, { disassembler })) process.stdout.write(`${line}\n`);
 * ```
 */
import type { Arch } from '../../emu/registers.ts';
import type { Disassembler } from '../../src/disasm/disassembler.ts';
import { symbolizeOperandText } from '../../src/disasm/windbg-syntax.ts';
import { masmHex } from '../../src/disasm/windbg-syntax.ts';
import { formatAddress, formatValue } from '../../src/format.ts';
import { eventsOf, instructionsOf, type TraceContents } from '../instructions.ts';
import type { MemoryAccess, TraceEvent, TraceInstruction } from '../model.ts';

export interface TextExportOptions {
  /** Disassembles each instruction; without one, lines show bytes only. */
  disassembler?: Disassembler;
  /** Names an address (`nt!KeBugCheckEx+0x1c`), or undefined when it has no symbol. */
  symbolize?: (address: bigint) => string | undefined;
  /** Names an address only where a symbol starts, for operands (`[hal!_imp__X (80a5b020)]`). */
  exactName?: (address: bigint) => string | undefined;
}

function hexBytes(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** The bytes column: bytes in memory order, or on arm64 the 32-bit instruction word as WinDbg shows it. */
function bytesColumn(arch: Arch, bytes: Uint8Array | undefined): string {
  if (!bytes) return '??';
  if (arch === 'arm64' && bytes.length === 4) {
    return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true).toString(16).padStart(8, '0');
  }
  return hexBytes(bytes);
}

/** One instruction as WinDbg steps it: address, bytes and, with a disassembler, the instruction. */
export function instructionLine(arch: Arch, insn: TraceInstruction, disassembler: Disassembler | undefined, exactName?: (address: bigint) => string | undefined): string {
  const address = formatAddress(arch, insn.pc);
  const bytes = bytesColumn(arch, insn.bytes);
  if (!disassembler) return `${address} ${bytes}`;
  const decoded = insn.bytes ? disassembler.decode(insn.bytes, insn.pc) : undefined;
  // WinDbg gives x86 bytes a 16-column field; arm64 words are all 8 wide.
  const column = arch === 'arm64' ? bytes : bytes.padEnd(15);
  const text = decoded?.text ?? '???';
  return `${address} ${column} ${exactName ? symbolizeOperandText(text, exactName) : text}`;
}

/** One memory access: `  [address] <- value (size)`. */
export function memoryLine(arch: Arch, access: MemoryAccess): string {
  const digits = Math.max(1, Math.min(access.size, 8)) * 2;
  const arrow = access.kind === 'write' ? '<-' : '->';
  return `  [${formatAddress(arch, access.address)}] ${arrow} ${access.value.toString(16).padStart(digits, '0')} (${access.size})`;
}

/** One event as a `  *** …` line. */
export function eventLine(arch: Arch, event: TraceEvent): string {
  switch (event.kind) {
    case 'trap': {
      const what = event.name ?? (arch === 'arm64' ? `exception ${event.vector}` : `int ${masmHex(BigInt(event.vector))}`);
      return `  *** trap ${what} at ${formatAddress(arch, event.pc)}`;
    }
    case 'fault': return `  *** fault: ${event.access} of ${formatAddress(arch, event.address)} at ${formatAddress(arch, event.pc)}: ${event.reason}`;
    case 'stop': return `  *** stop at ${formatAddress(arch, event.pc)}: ${event.reason}`;
    case 'injected': return `  *** injected: ${event.description}`;
    case 'sync': return `  *** sync point ${event.name} at ${formatAddress(arch, event.pc)}`;
    case 'signal': {
      const set = event.registers?.map(([name, value]) => `${name}=${formatValue(arch, value)}`).join(' ');
      return `  *** signal ${event.name} (${event.signal}) at ${formatAddress(arch, event.pc)}${set ? `: ${set}` : ''}`;
    }
    case 'memory': {
      const range = `${formatAddress(arch, event.address)} (${event.size} bytes)`;
      const when = event.start ? ' (initial image)' : '';
      return event.action === 'map' ? `  *** memory mapped ${event.protection ?? ''} ${range}${when}`
        : event.action === 'unmap' ? `  *** memory unmapped ${range}${when}` : `  *** memory written by the kernel ${range}${when}`;
    }
  }
}

/** The lines of the text export, without line ends. */
export function* textLines(trace: TraceContents, options: TextExportOptions = {}): Generator<string> {
  const { arch } = trace.header;
  let lastSymbol: string | undefined;
  let any = false;
  for (const insn of instructionsOf(trace.header, trace.batches, trace.events, trace.range)) {
    any = true;
    const symbol = options.symbolize?.(insn.pc);
    const base = symbol?.replace(/\+0x[0-9a-f]+$/i, '');
    if (symbol !== undefined && base !== lastSymbol) yield `${symbol}:`;
    lastSymbol = base;
    yield instructionLine(arch, insn, options.disassembler, options.exactName);
    if (insn.changed.length) yield `  ${insn.changed.map(([name, value]) => `${name}=${formatValue(arch, value)}`).join(' ')}`;
    for (const access of insn.memory) yield memoryLine(arch, access);
    for (const event of insn.events) yield eventLine(arch, event);
  }
  if (!any) for (const event of eventsOf(trace)) yield eventLine(arch, event);
}
