/**
 * `faultline explain` as an engineer reads it: the fault, how execution got
 * there, the replay window, the fault models tried, every check behind the
 * verdict, and the verdict with its reasons. WinDbg-style addresses.
 *
 * @example
 * ```ts
 * io.out(explainText(report, 'x86'));
 * ```
 */
import type { Arch } from '../../emu/registers.ts';
import type { ExplainReport } from '../analysis/explain.ts';
import type { Check } from '../analysis/checks.ts';
import { formatAddress } from '../format.ts';

const tidy = (text: string) => text.replace(/\s+/g, ' ');

function checkTable(checks: Check[]): string[] {
  const rows = checks.map((c) => [c.what, c.expected ?? '(not in dump)', c.actual ?? '?', c.status === 'match' && c.basis === 'carried' ? 'match (carried)' : c.note ? `${c.status} (${c.note})` : c.status]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length), ['check', 'dump', 'replay'][i]!.length));
  const line = (r: string[]) => `  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]!.padEnd(widths[2]!)}  ${r[3]}`;
  return [line(['check', 'dump', 'replay', 'status']), ...rows.map(line)];
}

export function explainText(report: ExplainReport, arch: Arch): string {
  const f = (hex: string) => formatAddress(arch, BigInt(hex));
  const out: string[] = [];
  out.push(`${report.dump.path} (${report.dump.format}, ${report.dump.arch})`, '');
  if (report.fault) {
    const fault = report.fault;
    out.push(`Fault:     ${fault.summary}`);
    out.push(`           ${fault.instruction ? tidy(fault.instruction) : `${f(fault.pc)} (bytes not in the dump)`}    ${fault.symbol}`);
    if (fault.reachableByFallThrough === false) out.push(`           not reachable by falling through: ${tidy(fault.predecessor ?? '')} comes before it`);
    else if (fault.reachableByFallThrough === true) out.push(`           reachable by falling through from ${tidy(fault.predecessor ?? '')}`);
    out.push('');
  }
  if (report.candidates.length) {
    out.push('How execution could have got there:');
    for (const c of report.candidates) {
      out.push(`  ${c.kind.padEnd(13)} ${c.evidence.join('; ')}`);
      out.push(`    ${f(c.instruction.address)} ${tidy(c.instruction.text)}    ${c.instruction.symbol}`);
      if (c.pointer) out.push(`    [${f(c.pointer.address)}]${c.pointer.symbol ? ` (${c.pointer.symbol})` : ''} = ${f(c.pointer.value)}`);
      if (c.expected && c.comparison) {
        const k = c.comparison;
        const how = k.relation === 'equal' ? 'equal' : k.relation === 'one-bit' ? `one bit: bit ${k.bit}, ${k.direction?.replace('->', '→')}` : `${k.hamming} bits (${k.relation})`;
        out.push(`    expected ${f(c.expected)}${c.expectedSymbol ? ` ${c.expectedSymbol}` : ''}, observed ${f(c.observed)}: ${how}`);
      } else if (c.unknownReason) {
        out.push(`    target unknown: ${c.unknownReason}`);
      }
    }
    out.push('');
  }
  for (const w of report.windows) {
    const chosen = report.window?.id === w.id ? ' (the verdict\'s)' : '';
    out.push(`Replay window ${w.id}${chosen}: ${f(w.start)} ${w.startSymbol} .. ${tidy(w.anchor)}, sp=${f(w.stackPointer)}`);
    out.push(`  ${w.startReason}`);
    if (report.window?.id === w.id) for (const insn of w.instructions) out.push(`    ${tidy(insn)}`);
    if (w.unknown.length) out.push(`  unknown at the start: ${w.unknown.join(', ')}`);
    for (const r of w.recovered) {
      out.push(`  ${r.register} = ${f(r.value)}, ${r.slot === 'stepped' ? 'undoing the fixed step the window applies to it' : r.slot === 'unwind' ? 'from the unwind rule there (the frame the anchor\'s stack pointer gives)' : r.slot === 'copied' ? `from ${r.from} at the fault, which the window's last transfer went to unchanged` : `from the slot the window saved it to, [${f(r.slot)}]`}`);
    }
    out.push(`  as written, the code ends: ${w.end}`);
    for (const c of w.code?.fromFiles ?? []) {
      const how = c.checkedBy === 'build id' ? `build id ${c.buildId}` : c.checkedBy === 'PE stamp' ? 'PE TimeDateStamp and SizeOfImage' : c.checkedBy === 'CodeView' ? 'CodeView GUID and age' : c.checkedBy === 'named' ? 'named with --binary, unchecked' : 'its bytes agree with the dump\'s';
      out.push(`  replayed code from a file, not the dump: ${f(c.start)}..${f(c.end)} (${c.instructions} instruction${c.instructions === 1 ? '' : 's'}) from ${c.file} (${how})`);
    }
    for (const note of w.notes) out.push(`  note: ${note}`);
    out.push('');
  }
  const tried = report.stated ? `${report.stated.length} stated` : `${report.searched} faults tried in ${report.timings.searchMs} ms`;
  out.push(`Hypotheses (${tried}):`);
  for (const h of report.stated ?? report.hypotheses.slice(0, 12)) {
    const s = h.summary;
    out.push(`  ${h.explains ? 'explains ' : 'rejected '} ${h.id.padEnd(34)} ${String(h.score).padStart(6)}  ${s.match} match (${s.computedMatch} computed), ${s.mismatch} mismatch, ${s.unknown} unknown`);
  }
  out.push('');
  if (report.checks.length) {
    out.push(`Checks (${report.verdict.hypothesis ?? 'as-written'}):`);
    out.push(...checkTable(report.checks), '');
  }
  const v = report.verdict;
  const bit = v.bit !== undefined ? `, bit ${v.bit}${v.direction ? ` (${v.direction.replace('->', '→')})` : ''}` : '';
  out.push(`Verdict:   ${v.class}${v.location && v.location !== 'none' ? ` (${v.location})` : ''}${bit}, confidence ${v.confidenceLabel} (${v.confidence})${v.margin !== undefined ? `, lead ${v.margin === null || !Number.isFinite(v.margin) ? 'unopposed' : v.margin}` : ''}`);
  if (v.expected && v.observed) out.push(`           expected ${f(v.expected)}, observed ${f(v.observed)}`);
  else if (v.observed) out.push(`           observed ${f(v.observed)}`);
  out.push(`  ${v.summary}`);
  for (const reason of v.reasons) out.push(`  - ${tidy(reason)}`);
  if (v.equivalent?.length) out.push(`  Indistinguishable from it: ${v.equivalent.join(', ')}`);
  if (v.alternatives?.length) out.push(`  Also consistent: ${v.alternatives.slice(0, 5).join(', ')}${v.alternatives.length > 5 ? ', …' : ''}`);
  if (report.unchecked.length) {
    out.push('', 'Not checked:');
    for (const u of report.unchecked) out.push(`  - ${u}`);
  }
  return `${out.join('\n')}\n`;
}
