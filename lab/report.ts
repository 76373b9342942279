/**
 * The lab's report: how many verdicts were right, how many software bugs
 * were called hardware, and the confusion matrix (truth × verdict), overall
 * and per architecture, format, shape, fault model and bug; printed as
 * tables a person reads.
 *
 * @example
 * ```ts
 * const report = summarise(evaluations, labels, { seed: 1, … });
 * console.log(formatReport(report));
 * ```
 */
import type { Evaluation, Label } from './judge.ts';
import { HARDWARE } from './judge.ts';

export const TRUTH_CLASSES = ['cpu-fault', 'memory-corruption', 'code-corruption', 'software', 'no-fault'] as const;
export const VERDICT_CLASSES = [...TRUTH_CLASSES, 'inconclusive', 'error'] as const;

export type Confusion = Record<string, Record<string, number>>;

export interface Tally {
  evaluations: number;
  right: number;
  /** Hardware labels whose verdict named the right bit and values. */
  exact: number;
  hardware: number;
  falseHardware: number;
  software: number;
  confusion: Confusion;
}

export interface LabReport {
  schema: 'faultline/lab-report/1';
  seed: number;
  arches: string[];
  /** Crashes kept (each has an ELF core and maybe other formats). */
  cases: number;
  /** Verdicts judged: one per case and format. */
  evaluations: number;
  right: number;
  rightRate: number;
  exact: number;
  hardware: number;
  falseHardware: number;
  software: number;
  confusion: Confusion;
  byArch: Record<string, Tally>;
  byFormat: Record<string, Tally>;
  byShape: Record<string, Tally>;
  byModel: Record<string, Tally>;
  byBug: Record<string, Tally>;
  /** Cases tried, and why the ones that do not count were dropped. */
  attempts: number;
  discarded: Record<string, number>;
  /** Explain's failures (exit code, timeout), by message. */
  errors: Record<string, number>;
  timings: { totalMs: number; explainMs: number; slowestExplainMs: number };
}

function emptyTally(): Tally {
  return { evaluations: 0, right: 0, exact: 0, hardware: 0, falseHardware: 0, software: 0, confusion: {} };
}

function add(tally: Tally, e: Evaluation): void {
  tally.evaluations++;
  if (e.right) tally.right++;
  if (e.exact) tally.exact++;
  if (HARDWARE.has(e.truth)) tally.hardware++;
  else tally.software++;
  if (e.falseHardware) tally.falseHardware++;
  const row = (tally.confusion[e.truth] ??= {});
  row[e.got] = (row[e.got] ?? 0) + 1;
}

function group(evaluations: Evaluation[], key: (e: Evaluation) => string | undefined): Record<string, Tally> {
  const out: Record<string, Tally> = {};
  for (const e of evaluations) {
    const k = key(e);
    if (k !== undefined) add((out[k] ??= emptyTally()), e);
  }
  return out;
}

/** Reasons without the numbers that make each one unique, so they group. */
export function reasonCategory(reason: string): string {
  return reason.replace(/0x[0-9a-f]+/gi, 'N').replace(/\b\d+\b/g, 'N').slice(0, 100);
}

export interface ReportContext {
  seed: number;
  arches: string[];
  attempts: number;
  discarded: string[];
  totalMs: number;
}

export function summarise(evaluations: Evaluation[], labels: Label[], context: ReportContext): LabReport {
  const byId = new Map(labels.map((l) => [l.id, l]));
  const all = emptyTally();
  for (const e of evaluations) add(all, e);
  const discarded: Record<string, number> = {};
  for (const reason of context.discarded) discarded[reasonCategory(reason)] = (discarded[reasonCategory(reason)] ?? 0) + 1;
  const errors: Record<string, number> = {};
  for (const e of evaluations) if (e.error) errors[reasonCategory(e.error)] = (errors[reasonCategory(e.error)] ?? 0) + 1;
  const explainMs = evaluations.reduce((n, e) => n + e.ms, 0);
  return {
    schema: 'faultline/lab-report/1',
    seed: context.seed,
    arches: context.arches,
    cases: labels.length,
    evaluations: all.evaluations,
    right: all.right,
    rightRate: all.evaluations ? Math.round((all.right / all.evaluations) * 1000) / 1000 : 0,
    exact: all.exact,
    hardware: all.hardware,
    falseHardware: all.falseHardware,
    software: all.software,
    confusion: all.confusion,
    byArch: group(evaluations, (e) => byId.get(e.id)?.arch),
    byFormat: group(evaluations, (e) => e.format),
    byShape: group(evaluations, (e) => byId.get(e.id)?.shape ?? (byId.get(e.id)?.bug ? 'bugs' : undefined)),
    byModel: group(evaluations, (e) => byId.get(e.id)?.model ?? (byId.get(e.id)?.bug ? 'software bug' : undefined)),
    byBug: group(evaluations, (e) => byId.get(e.id)?.bug),
    attempts: context.attempts,
    discarded,
    errors,
    timings: { totalMs: context.totalMs, explainMs, slowestExplainMs: evaluations.reduce((n, e) => Math.max(n, e.ms), 0) },
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n');
}

/** The truth × verdict matrix as text. */
export function formatConfusion(confusion: Confusion): string {
  const columns = VERDICT_CLASSES.filter((v) => Object.values(confusion).some((row) => row[v]));
  const rows = [['truth \\ verdict', ...columns, 'right']];
  for (const truth of TRUTH_CLASSES) {
    const row = confusion[truth];
    if (!row) continue;
    const total = Object.values(row).reduce((n, c) => n + c, 0);
    rows.push([truth, ...columns.map((c) => String(row[c] ?? 0)), `${row[truth] ?? 0}/${total}`]);
  }
  return table(rows);
}

function tallyLine(name: string, t: Tally): string[] {
  const pct = (n: number, d: number) => (d ? `${Math.round((n / d) * 100)}%` : '-');
  return [name, String(t.evaluations), `${t.right} (${pct(t.right, t.evaluations)})`, t.hardware ? `${t.exact}/${t.hardware}` : '-', t.software ? `${t.falseHardware}/${t.software}` : '-'];
}

function tallies(title: string, groups: Record<string, Tally>): string {
  const rows = [[title, 'verdicts', 'right', 'exact bit (hw)', 'false hw (sw)']];
  for (const [name, t] of Object.entries(groups).sort(([a], [b]) => a.localeCompare(b))) rows.push(tallyLine(name, t));
  return table(rows);
}

/** The whole report as text: totals, the matrix, then each breakdown. */
export function formatReport(report: LabReport): string {
  const pct = (n: number, d: number) => (d ? `${((n / d) * 100).toFixed(1)}%` : '-');
  const lines = [
    `faultline lab, seed ${report.seed}, ${report.arches.join(', ')}: ${report.cases} cases (${report.attempts} tried), ${report.evaluations} verdicts`,
    `right class: ${report.right}/${report.evaluations} (${pct(report.right, report.evaluations)}); exact bit and values: ${report.exact}/${report.hardware} hardware; software bugs called hardware: ${report.falseHardware}/${report.software}`,
    '',
    formatConfusion(report.confusion),
    '',
    tallies('architecture', report.byArch),
    '',
    tallies('format', report.byFormat),
    '',
    tallies('shape', report.byShape),
    '',
    tallies('fault model', report.byModel),
    '',
    tallies('bug', report.byBug),
  ];
  const discarded = Object.entries(report.discarded).sort(([, a], [, b]) => b - a);
  if (discarded.length) lines.push('', 'not counted (did not crash as intended):', ...discarded.slice(0, 12).map(([r, n]) => `  ${String(n).padStart(4)}  ${r}`));
  const errors = Object.entries(report.errors).sort(([, a], [, b]) => b - a);
  if (errors.length) lines.push('', 'explain failed:', ...errors.slice(0, 12).map(([r, n]) => `  ${String(n).padStart(4)}  ${r}`));
  lines.push('', `time: ${(report.timings.totalMs / 1000).toFixed(0)} s in all; explain ${(report.timings.explainMs / 1000).toFixed(0)} s of CPU-process time, slowest ${(report.timings.slowestExplainMs / 1000).toFixed(1)} s`);
  return lines.join('\n');
}
