/**
 * `faultline fleet report [--db FILE] [--json] [--top N] [--sql]`: the
 * store's verdicts grouped and ranked — the machines most likely faulty
 * first, then per CPU, the bit positions, instructions and modules of the
 * hardware verdicts, and `observed` values seen more than once. `--sql`
 * prints the queries instead, to rerun in the duckdb shell.
 *
 * @example
 * ```sh
 * faultline fleet report --db fleet.duckdb --top 5
 * faultline fleet report --sql | duckdb fleet.duckdb
 * ```
 */
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { InputError } from '../../errors.ts';
import { reportScript } from '../../fleet/report-sql.ts';
import { fleetReport, type FleetReport, type ReportRow } from '../../fleet/report.ts';
import { isPostgresUrl, openStore } from '../../fleet/store.ts';
import { parseCount } from '../../parse.ts';
import { jsonText } from '../json.ts';
import type { Io } from '../main.ts';
import { DEFAULT_DB } from './batch.ts';

function cell(value: ReportRow[string]): string {
  if (value === null) return '-';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'number' && !Number.isInteger(value)) return value < 0.001 && value > 0 ? value.toExponential(1) : value.toFixed(3);
  return String(value);
}

/** Rows as an aligned table: text columns left, numbers right. */
export function table(rows: ReportRow[], columns: [key: string, title: string][]): string[] {
  const cells = rows.map((row) => columns.map(([key]) => cell(row[key] ?? null)));
  const widths = columns.map(([, title], i) => Math.max(title.length, ...cells.map((c) => c[i]!.length)));
  const numeric = columns.map(([key]) => rows.some((r) => typeof r[key] === 'number'));
  const line = (values: string[]) => values.map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(columns.map(([, t]) => t)), ...cells.map(line)];
}

export function fleetReportText(report: FleetReport): string {
  const f = report.fleet;
  const out: string[] = [
    `${f.dumps} dumps (${f.explained} explained, ${f.errors} errors) from ${f.machines} machines; ${f.hardware} hardware verdicts on ${f.machines_with_hardware} machines`,
    `verdicts: ${report.verdicts.map((v) => `${v.dumps} ${v.verdict}`).join(', ') || 'none'}`,
    '',
    'Machines, most likely faulty first (recurrent: single-bit faults at two or more places in the code; chance: machines this extreme expected by chance)',
  ];
  const section = (title: string, rows: ReportRow[], columns: [string, string][]) => {
    out.push('', title);
    out.push(...(rows.length ? table(rows, columns) : ['  none']));
  };
  out.push(...(report.machines.length ? table(report.machines, [['machine', 'machine'], ['dumps', 'dumps'], ['hardware', 'hw'], ['cpu_fault', 'cpu'], ['memory_corruption', 'mem'], ['code_corruption', 'code'], ['hardware_sites', 'sites'], ['recurrent', 'recurrent'], ['chance', 'chance'], ['confidence', 'confidence']]) : ['  none']));
  section('Per CPU', report.cpus, [['machine', 'machine'], ['cpu', 'cpu'], ['dumps', 'dumps'], ['hardware', 'hw'], ['cpu_fault', 'cpu-fault'], ['memory_corruption', 'mem'], ['hardware_sites', 'sites']]);
  section('Bit positions of hardware verdicts', report.bits, [['bit', 'bit'], ['hardware', 'hw'], ['machines', 'machines'], ['one_to_zero', '1->0'], ['zero_to_one', '0->1']]);
  section('Instructions the faults hit', report.instructions, [['instruction', 'instruction'], ['hardware', 'hw'], ['machines', 'machines'], ['branch_target', 'branch target'], ['loaded_value', 'loaded value']]);
  section('Modules', report.modules, [['module', 'module'], ['hardware', 'hw'], ['machines', 'machines']]);
  section('Observed values of hardware verdicts seen in more than one dump', report.observed, [['observed', 'observed'], ['dumps', 'dumps'], ['hardware', 'hw'], ['machines', 'machines'], ['software', 'software']]);
  out.push('', `(${report.queryMs} ms; the queries: faultline fleet report --sql)`, '');
  return out.join('\n');
}

export function addFleetCommand(program: Command, io: Io): void {
  const fleet = program.command('fleet').description('group and rank the verdicts a batch stored');
  fleet
    .command('report')
    .description('the machines most likely faulty, per CPU, bit, instruction and module; repeated observed values')
    .option('--db <file|url>', 'the store batch wrote: a DuckDB file or a postgres:// URL', DEFAULT_DB)
    .option('--json', 'print the report as JSON')
    .option('--top <n>', 'rows per section', '20')
    .option('--sql', 'print the queries (for the duckdb shell or psql) instead of running them')
    .action(async (flags: { db: string; json?: boolean; top: string; sql?: boolean }) => {
      const top = parseCount(flags.top, '--top');
      if (flags.sql) {
        io.out(reportScript(top));
        return;
      }
      if (!isPostgresUrl(flags.db) && !existsSync(flags.db)) throw new InputError(`Cannot open the store ${flags.db}: no such file (faultline batch … --db ${flags.db} writes it)`);
      const store = await openStore(flags.db, { readOnly: true });
      try {
        const report = await fleetReport(store, top);
        io.out(flags.json ? jsonText(report) : fleetReportText(report));
      } finally {
        await store.close();
      }
    });
  // `faultline fleet` alone is a usage error, said in one line like any other.
  fleet.action(() => {
    throw new InputError(`'fleet' needs a subcommand: faultline fleet report [--db FILE] (see faultline fleet report --help)`);
  });
  fleet.exitOverride().configureOutput({ writeOut: io.out, writeErr: () => {} });
}
