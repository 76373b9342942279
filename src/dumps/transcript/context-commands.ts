/**
 * Commands that show a register context: `.trap ADDR` (a trap frame),
 * `.cxr ADDR` and `.ecxr` (a CONTEXT record), and `r` (the current thread's
 * registers, or the frame `.trap`/`.cxr` selected until reset).
 *
 * ```
 * 1: kd> .trap f78aec38
 * ErrCode = 00000000
 * eax=0e364a01 ebx=f78aed50 ecx=f78aecb8 edx=000000e1 esi=f7727ec0 edi=f75d9ca2
 * eip=8082e3e1 esp=f78aecac ebp=f78aecc0 iopl=0         nv up ei pl nz na po nc
 * cs=0008  ss=0010  ds=0023  es=0023  fs=0030  gs=0000             efl=00000202
 * nt!KiCheckForKernelApcDelivery+0x37:
 * 8082e3e1 cc              int     3
 * ```
 *
 * Rules, beyond what the block shows:
 * - `efl` missing but flag mnemonics shown (x64 `.trap`): `efl` is built
 *   from them and `iopl`, bits they do not show taken as clear, with a note;
 *   `efl` shown and disagreeing with them: a warning. The same for ARM64's
 *   `psr=` and its NZCV letters.
 * - x64 `.trap`: a KTRAP_FRAME does not save rbx, rsi, rdi, r12–r15 (WinDbg
 *   says so in a NOTE and prints zeros or stale values for them), so the
 *   context lists them as `unknown`, NOTE or not; the values shown stay as
 *   WinDbg printed them. An x86 trap frame saves every register.
 * - `r` after `.trap ADDR`/`.cxr ADDR` shows that frame: its registers are
 *   merged into it (a disagreement is a warning) instead of adding a thread
 *   context. `.trap`/`.cxr` without an address, and `.thread`, reset this.
 *
 * @example
 * ```ts
 * readContextCommand(command, facts, 'trap-frame');
 * facts.contexts[0].context.registers.eip; // 0x8082e3e1n
 * ```
 */
import type { RegisterName, RegisterValues } from '../../../emu/registers.ts';
import { parseHex } from '../hex.ts';
import type { RegisterContext } from '../model.ts';
import type { ContextFact, TranscriptFacts } from './facts.ts';
import type { TranscriptCommand } from './lexer.ts';
import { readListing } from './listing.ts';
import { readRegisterBlock, startsRegisterBlock, type RegisterBlock } from './register-block.ts';
import { shortText, quoteInput } from '../../quote.ts';

/** Registers an x64 KTRAP_FRAME does not save (WinDbg prints them as zero or stale). */
const X64_TRAP_FRAME_UNSAVED: readonly RegisterName[] = ['rbx', 'rsi', 'rdi', 'r12', 'r13', 'r14', 'r15'];
const ERROR_CODE = /^\s*ErrCode\s*=\s*(\S+)\s*$/i;

function show(value: bigint): string {
  return value.toString(16);
}

function settleFlags(block: RegisterBlock, command: TranscriptCommand, facts: TranscriptFacts): void {
  const flags = block.shownFlags;
  if (!flags) return;
  const provenance = facts.provenance(command, block.line);
  const name = flags.register;
  const held = block.registers[name];
  if (held === undefined) {
    block.registers[name] = flags.value;
    facts.note('info', `\`${shortText(command.text, 60)}\` shows no ${name}; built ${name}=${show(flags.value)} from its flag words (bits they do not show taken as clear)`, provenance);
  } else if (((held ^ flags.value) & flags.mask) !== 0n) {
    facts.note('warning', `\`${shortText(command.text, 60)}\` shows ${name}=${show(held)} but its flag words say ${show(flags.value)} (bits ${show(flags.mask)}); keeping ${name}`, provenance);
  }
}

function mergeInto(scope: ContextFact, registers: RegisterValues, command: TranscriptCommand, line: number, facts: TranscriptFacts): void {
  const held = scope.context.registers;
  for (const [name, value] of Object.entries(registers) as [RegisterName, bigint][]) {
    const before = held[name];
    if (before === undefined) held[name] = value;
    else if (before !== value) {
      facts.note(
        'warning',
        `\`${shortText(command.text, 60)}\` shows ${name}=${show(value)} but \`${shortText(scope.context.label, 60)}\` (line ${scope.context.provenance.line}) holds ${show(before)}; keeping ${show(before)}`,
        facts.provenance(command, line),
      );
    }
  }
}

/**
 * Reads a context command's output into `facts` as a register context of
 * `kind`. A malformed register line throws `DumpFormatError` with its line.
 *
 * @example
 * ```ts
 * readContextCommand(command, facts, 'thread'); // `r` → a 'thread' context, or merged into the `.trap` frame in scope
 * ```
 */
export function readContextCommand(command: TranscriptCommand, facts: TranscriptFacts, kind: RegisterContext['kind']): void {
  const output = command.output;
  if (command.verb === 'r' && command.args.includes('=')) {
    facts.note('warning', `\`${shortText(command.text, 60)}\` changes a register: later register output may not be what the dump holds`, facts.provenance(command, command.line));
    return;
  }
  const start = output.findIndex((l) => startsRegisterBlock(l.text));
  if (start < 0) {
    if (kind !== 'thread' && command.args === '') facts.scope = undefined;
    else if (output.length > 0) facts.noteSkipped(command, 'no register block in its output');
    return;
  }
  const block = readRegisterBlock(output, start, (message, line) => facts.fail(message, line));
  const registers = block.registers;
  settleFlags(block, command, facts);
  const provenance = facts.provenance(command, block.line);
  if (block.unmodelled.length > 0) facts.note('info', `\`${shortText(command.text, 60)}\` shows registers faultline does not model: ${block.unmodelled.join(', ')}`, provenance);
  const pc = registers.rip ?? registers.eip ?? registers.pc;
  facts.noteUnread(command, readListing(command, output, block.end, facts, { headerFallback: pc }));

  if (kind === 'thread' && facts.scope && facts.scope.thread === command.thread) {
    mergeInto(facts.scope, registers, command, block.line, facts);
    return;
  }
  const context: RegisterContext = { kind, label: command.text, registers, provenance };
  if (kind === 'trap-frame' && block.arch === 'x64') {
    context.unknown = [...X64_TRAP_FRAME_UNSAVED];
    facts.note('info', `\`${shortText(command.text, 60)}\`: an x64 trap frame does not save ${X64_TRAP_FRAME_UNSAVED.join(', ')}; the values shown for them are not the machine's`, provenance);
  }
  const address = kind === 'thread' ? undefined : parseHex(command.args.split(/\s+/).pop() ?? '');
  if (address !== undefined) context.address = address;
  for (const entry of output.slice(0, start)) {
    const errorCode = ERROR_CODE.exec(entry.text);
    if (!errorCode) continue;
    const value = parseHex(errorCode[1]!);
    if (value === undefined) facts.fail(`ErrCode ${quoteInput(errorCode[1]!)} is not hex`, entry.line);
    context.errorCode = value;
  }
  const fact: ContextFact = { thread: command.thread, context };
  if (block.arch) fact.arch = block.arch;
  facts.contexts.push(fact);
  if (kind !== 'thread') facts.scope = fact;
}
