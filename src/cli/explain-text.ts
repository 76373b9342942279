/**
 * `faultline explain` as an engineer reads it: the fault, how execution got
 * there, the replay window, the fault models tried, every check behind the
 * verdict, and the verdict with its reasons. WinDbg-style addresses.
 *
 * @example
 * ```ts
 * io.out(explainText(report, dump));
 * ```
 */
import type { Dump } from '../dumps/model.ts';
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

export function explainText(report: ExplainReport, dump: Dump): string {
  const f = (hex: string) => formatAddress(dump.arch, BigInt(hex));
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
  if (report.transfers.length) {
    out.push('How execution could have got there:');
    for (const t of report.transfers) {
      out.push(`  ${t.slot === 'lr' ? 'lr' : `[${f(t.slot)}]`} = ${f(t.returnAddress)} ${t.returnSymbol}, returning from`);
      out.push(`    ${f(t.call.address)} ${tidy(t.call.text)}    ${t.call.symbol}`);
      if (t.pointer) out.push(`    [${f(t.pointer.address)}]${t.pointer.symbol ? ` (${t.pointer.symbol})` : ''} = ${f(t.pointer.value)}`);
      if (t.expected && t.comparison) {
        const c = t.comparison;
        const how = c.relation === 'equal' ? 'equal' : c.relation === 'one-bit' ? `one bit: bit ${c.bit}, ${c.direction?.replace('->', '→')}` : `${c.hamming} bits (${c.relation})`;
        out.push(`    expected ${f(t.expected)}${t.expectedSymbol ? ` ${t.expectedSymbol}` : ''}, observed ${f(t.observed)}: ${how}`);
      } else if (t.unknownReason) {
        out.push(`    expected target unknown: ${t.unknownReason}`);
      }
    }
    out.push('');
  }
  if (report.window) {
    const w = report.window;
    out.push(`Replay window: ${f(w.start)} ${w.startSymbol} .. ${tidy(w.transfer)}, sp=${f(w.stackPointer)}`);
    out.push(`  ${w.startReason}`);
    for (const insn of w.instructions) out.push(`    ${tidy(insn)}`);
    for (const note of w.notes) out.push(`  note: ${note}`);
    out.push('');
  }
  const tried = report.stated ? `${report.stated.length} stated` : `${report.searched} single-bit faults searched in ${report.timings.searchMs} ms`;
  out.push(`Hypotheses (${tried}):`);
  for (const h of report.stated ? [report.hypotheses[0]!, ...report.stated] : report.hypotheses) {
    const s = h.summary;
    out.push(`  ${h.explains ? 'explains ' : 'rejected '} ${h.id.padEnd(34)} ${s.match} match (${s.computedMatch} computed), ${s.mismatch} mismatch, ${s.unknown} unknown`);
  }
  out.push('');
  if (report.checks.length) {
    out.push(`Checks (${report.verdict.hypothesis ?? 'no-fault'}):`);
    out.push(...checkTable(report.checks), '');
  }
  const v = report.verdict;
  const bit = v.bit !== undefined ? `, bit ${v.bit}${v.direction ? ` (${v.direction.replace('->', '→')})` : ''}` : '';
  out.push(`Verdict:   ${v.class}${v.location && v.location !== 'none' ? ` (${v.location})` : ''}${bit}, confidence ${v.confidenceLabel} (${v.confidence})`);
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
