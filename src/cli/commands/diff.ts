/**
 * `faultline diff A B`: the first divergence between two traces of any
 * format faultline reads (.fltrace, JSON Lines, Tenet), printed like WinDbg:
 * the instructions before it, the instruction, and each register with A's
 * and B's value. Exit 0 when they agree on every instruction both hold, 1 at
 * a divergence.
 *
 * @example
 * ```sh
 * faultline diff cpu.fltrace unicorn.fltrace --align pc --context 10
 * ```
 */
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { InputError } from '../../errors.ts';
import { parseCount } from '../../parse.ts';
import { diffTraces, type DiffAlign, type DiffResult } from '../../analysis/trace-diff.ts';
import { openAnyTrace, type AnyTrace } from '../../../traces/import/open.ts';
import { instructionLine, memoryLine } from '../../../traces/export/text.ts';
import { createDisassembler, type Disassembler } from '../../disasm/disassembler.ts';
import { formatValue, hex } from '../../format.ts';
import { jsonText } from '../json.ts';
import type { Io } from '../main.ts';
import { ExitStatus } from '../errors.ts';

interface DiffOptions {
  align: DiffAlign;
  context: string;
  json?: boolean;
}

function describeTrace(trace: AnyTrace): string {
  return `${trace.path} (${trace.format}, ${trace.arch})`;
}

/** What the two traces are called in the output: `A` and `B` for `diff`, `real` and `emulated` for `replay-check`. */
export interface TraceLabels {
  a: string;
  b: string;
}

function textLines(a: AnyTrace, b: AnyTrace, result: DiffResult, disasm: Disassembler): string[] {
  const lines = [`A: ${describeTrace(a)}`, `B: ${describeTrace(b)}`];
  if (result.offsetA || result.offsetB) lines.push(`aligned by pc: instruction ${result.offsetA} of A with instruction ${result.offsetB} of B`);
  return [...lines, ...comparisonLines(result, disasm, { a: 'A', b: 'B' })];
}

/** The comparison's outcome: no divergence and what was compared, or the first divergence printed like WinDbg. */
export function comparisonLines(result: DiffResult, disasm: Disassembler, labels: TraceLabels): string[] {
  const arch = result.arch;
  const lines: string[] = [];
  const d = result.divergence;
  if (!d) {
    const tail = result.remainingA ? `; ${labels.a} has ${result.remainingA} more instructions` : result.remainingB ? `; ${labels.b} has ${result.remainingB} more instructions` : '';
    lines.push(`no divergence in ${result.compared} instructions (registers compared: ${result.commonRegisters.join(' ') || 'none'})${tail}`);
    if (result.ignoredFlags) lines.push(`flags differed only where left architecturally undefined after ${result.ignoredFlags} instructions (not counted)`);
    return lines;
  }
  const what = d.kind === 'start' ? 'registers before the first instruction'
    : d.kind === 'pc' ? 'the instruction executed'
      : d.kind === 'memory' ? 'memory accessed' : d.registers.map((r) => r.name).join(' ');
  const same = labels.a === 'A' ? `instruction ${d.indexA} of A, ${d.indexB} of B` : `instruction ${d.indexA}`;
  lines.push(`first divergence at ${same} (after ${result.compared} matching): ${what}`);
  for (const insn of d.before) lines.push(`   ${instructionLine(arch, insn, disasm)}`);
  if (d.kind === 'pc') {
    lines.push(`>  ${labels.a} continues at ${instructionLine(arch, d.instruction!, disasm)}`);
    lines.push(`>  ${labels.b} continues at ${hex(d.pcB!)}${d.before.length ? ' (the instruction above sent them apart)' : ''}`);
    return lines;
  }
  if (d.instruction && d.kind !== 'start') lines.push(`>  ${instructionLine(arch, d.instruction, disasm)}`);
  const width = Math.max(...d.registers.map((r) => r.name.length), 3);
  for (const r of d.registers) lines.push(`     ${r.name.padEnd(width)}  ${labels.a}=${formatValue(arch, r.a)}  ${labels.b}=${formatValue(arch, r.b)}  (xor ${hex(r.a ^ r.b)})`);
  if (d.memory) {
    lines.push(`     ${labels.a}:`, ...d.memory.a.map((m) => `   ${memoryLine(arch, m)}`));
    lines.push(`     ${labels.b}:`, ...d.memory.b.map((m) => `   ${memoryLine(arch, m)}`));
  }
  return lines;
}

function jsonResult(a: AnyTrace, b: AnyTrace, result: DiffResult) {
  const d = result.divergence;
  const insn = (i: { index: number; pc: bigint; bytes?: Uint8Array }) => ({ index: i.index, pc: hex(i.pc), bytes: i.bytes && Buffer.from(i.bytes).toString('hex') });
  return {
    a: { path: a.path, format: a.format }, b: { path: b.path, format: b.format }, arch: result.arch,
    compared: result.compared, ignoredFlags: result.ignoredFlags, offsetA: result.offsetA, offsetB: result.offsetB, remainingA: result.remainingA, remainingB: result.remainingB,
    commonRegisters: result.commonRegisters,
    divergence: d && {
      kind: d.kind, indexA: d.indexA, indexB: d.indexB, instruction: d.instruction && insn(d.instruction), pcB: d.pcB === undefined ? undefined : hex(d.pcB),
      registers: d.registers.map((r) => ({ name: r.name, a: hex(r.a), b: hex(r.b) })),
      memory: d.memory && { a: d.memory.a.map((m) => ({ ...m, address: hex(m.address), value: hex(m.value) })), b: d.memory.b.map((m) => ({ ...m, address: hex(m.address), value: hex(m.value) })) },
      before: d.before.map(insn),
    },
  };
}

/** WinDbg's mnemonic of the instruction at an address, decoded once per address and bytes (for the undefined-flags table). */
export function mnemonicOf(disasm: Disassembler): (bytes: Uint8Array, address: bigint) => string | undefined {
  const mnemonics = new Map<bigint, { bytes: Uint8Array; mnemonic: string | undefined }>();
  return (bytes, address) => {
    const cached = mnemonics.get(address);
    if (cached && cached.bytes === bytes) return cached.mnemonic;
    const decoded = disasm.decode(bytes, address)?.mnemonic;
    mnemonics.set(address, { bytes, mnemonic: decoded });
    return decoded;
  };
}

export function addDiffCommand(program: Command, io: Io): void {
  program
    .command('diff')
    .description('the first divergence between two traces (.fltrace, JSON Lines or Tenet): pc, registers, memory')
    .argument('<a>', 'first trace (e.g. `faultline record`)')
    .argument('<b>', 'second trace (e.g. `faultline trace --out`)')
    .addOption(new Option('--align <how>', 'pair instructions by index, or from the first pc both traces reach').choices(['index', 'pc']).default('index'))
    .option('--context <n>', 'instructions shown before the divergence', '8')
    .option('--json', 'machine-readable output')
    .action(async (pathA: string, pathB: string, options: DiffOptions) => {
      for (const path of [pathA, pathB]) if (!existsSync(path)) throw new InputError(`Cannot open trace ${path}: no such file`);
      const context = options.context === '0' ? 0 : parseCount(options.context, '--context');
      const a = openAnyTrace(pathA);
      const b = openAnyTrace(pathB);
      const disasm = await createDisassembler(a.arch);
      try {
        const mnemonic = mnemonicOf(disasm);
        const result = diffTraces(a, b, { align: options.align, context, mnemonic });
        if (options.json) io.out(jsonText(jsonResult(a, b, result)));
        else io.out(`${textLines(a, b, result, disasm).join('\n')}\n`);
        if (result.divergence) throw new ExitStatus(1);
      } finally {
        disasm.close();
      }
    });
}
