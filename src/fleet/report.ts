/**
 * `fleet report`'s data: each section of REPORT_SQL run on the store, rows
 * as plain objects (DuckDB's 64-bit counts as numbers).
 *
 * @example
 * ```ts
 * const report = await fleetReport(store, 10);
 * report.machines[0]?.machine; // the machine most likely to be faulty
 * ```
 */
import { REPORT_SQL, type ReportSection } from './report-sql.ts';
import type { FleetStore } from './store.ts';

export type ReportRow = Record<string, string | number | boolean | null>;

export type FleetReport = { schema: 'faultline/fleet-report/1'; top: number; queryMs: number; fleet: ReportRow } & Record<Exclude<ReportSection, 'fleet'>, ReportRow[]>;

function plain(value: unknown): string | number | boolean | null {
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'number') return Number.isInteger(value) ? value : Number(value.toPrecision(6));
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  return String(value);
}

export async function fleetReport(store: FleetStore, top: number): Promise<FleetReport> {
  const started = performance.now();
  const sections: Record<string, ReportRow[]> = {};
  for (const [name, sql] of Object.entries(REPORT_SQL)) {
    const rows = await store.query(sql.replace('$top', String(top)));
    sections[name] = rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, plain(v)])));
  }
  const { fleet, ...rest } = sections;
  return { schema: 'faultline/fleet-report/1', top, queryMs: Math.round(performance.now() - started), fleet: fleet![0]!, ...rest } as FleetReport;
}
