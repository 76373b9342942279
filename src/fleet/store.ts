/**
 * The fleet store: a row per dump `faultline batch` handled — its machine,
 * CPU and labels, whether it was explained or why not, the verdict's
 * columns for grouping, and the report as evidence. The schema is
 * docs/fleet.md's; `fleet report` and users' own SQL read it. By default
 * one embedded DuckDB file (no server; DuckDB allows one writing process
 * per file, so the batch process writes and workers only send results);
 * `postgres://…` puts the same table in PostgreSQL for many writers
 * (postgres-store.ts).
 *
 * @example
 * ```ts
 * const store = await openStore('fleet.duckdb'); // or 'postgres://user@host/db'
 * await store.record(job, { report, elapsedMs: 812, worker: 'host:1234' });
 * await store.close();
 * ```
 */
import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import type { ExplainDocument } from '../analysis/window-trace.ts';
import { InputError } from '../errors.ts';
import type { DumpJob } from './inputs.ts';
import { HARDWARE_CLASSES, verdictRow } from './verdict-row.ts';

/** The schema's version, kept in `meta`. */
export const STORE_SCHEMA = 'faultline/fleet/1';

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS dumps (
  key VARCHAR PRIMARY KEY,
  path VARCHAR NOT NULL,
  size BIGINT,
  mtime TIMESTAMPTZ,
  machine VARCHAR,
  cpu VARCHAR,
  time TIMESTAMPTZ,
  labels JSON,
  status VARCHAR NOT NULL,
  error VARCHAR,
  format VARCHAR,
  arch VARCHAR,
  verdict VARCHAR,
  hardware BOOLEAN,
  location VARCHAR,
  bit INTEGER,
  direction VARCHAR,
  expected VARCHAR,
  observed VARCHAR,
  address VARCHAR,
  confidence DOUBLE,
  margin DOUBLE,
  hypothesis VARCHAR,
  fault_kind VARCHAR,
  fault_pc VARCHAR,
  symbol VARCHAR,
  module VARCHAR,
  "function" VARCHAR,
  instruction VARCHAR,
  instruction_text VARCHAR,
  elapsed_ms DOUBLE,
  explained_at TIMESTAMPTZ,
  worker VARCHAR,
  report JSON
);`;

export const COLUMNS = [
  'key', 'path', 'size', 'mtime', 'machine', 'cpu', 'time', 'labels', 'status', 'error', 'format', 'arch', 'verdict', 'hardware',
  'location', 'bit', 'direction', 'expected', 'observed', 'address', 'confidence', 'margin', 'hypothesis', 'fault_kind', 'fault_pc',
  'symbol', 'module', '"function"', 'instruction', 'instruction_text', 'elapsed_ms', 'explained_at', 'worker', 'report',
] as const;

/** How each value is written: timestamps from epoch milliseconds, JSON from its text. */
const PLACEHOLDER: Partial<Record<(typeof COLUMNS)[number], (n: number) => string>> = {
  mtime: (n) => `make_timestamptz($${n}::BIGINT * 1000)`,
  time: (n) => `CAST($${n} AS TIMESTAMPTZ)`,
  explained_at: (n) => `make_timestamptz($${n}::BIGINT * 1000)`,
  labels: (n) => `$${n}::JSON`,
  report: (n) => `$${n}::JSON`,
};

/** One value per column of COLUMNS, as `record` writes it. */
export type ColumnValues = Record<(typeof COLUMNS)[number], string | number | boolean | null>;

const INSERT_SQL = `INSERT OR REPLACE INTO dumps (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c, i) => PLACEHOLDER[c]?.(i + 1) ?? `$${i + 1}`).join(', ')})`;

/** The outcome of one dump: a report, or the one line saying why there is none. */
export interface DumpOutcome {
  report?: ExplainDocument;
  error?: string;
  elapsedMs: number;
  /** Who explained it (`host:pid`). */
  worker: string;
}

/** What a rerun needs to know of a stored dump. */
export interface StoredDump {
  status: 'explained' | 'error';
  size: number;
  mtimeMs: number;
}

/** What batch, the queue and `fleet report` need of a store, whichever database holds it. */
export interface FleetStore {
  /** The file or URL (without its password) the store was opened from. */
  readonly path: string;
  /** Every stored dump by key. */
  stored(): Promise<Map<string, StoredDump>>;
  /** Stores (or replaces) the outcome of `job`. */
  record(job: DumpJob, outcome: DumpOutcome): Promise<void>;
  /** The rows of one query, 64-bit counts and decimals as numbers. */
  query(sql: string): Promise<Record<string, unknown>[]>;
  close(): void | Promise<void>;
}

/** True when `target` names a PostgreSQL database rather than a DuckDB file. */
export function isPostgresUrl(target: string): boolean {
  return /^postgres(ql)?:\/\//.test(target);
}

/** Opens the store `target` names: a PostgreSQL URL (`postgres://…`) or a DuckDB file (created when absent unless read-only). */
export async function openStore(target: string, options: { readOnly?: boolean } = {}): Promise<FleetStore> {
  if (!isPostgresUrl(target)) return DuckDbStore.open(target, options);
  const { PostgresStore } = await import('./postgres-store.ts');
  return PostgresStore.open(target, options);
}

/** The values `record` stores for `job` and its outcome, by column. */
export function columnValues(job: DumpJob, outcome: DumpOutcome): ColumnValues {
  const report = outcome.report && { ...outcome.report, trace: undefined };
  const row = report ? verdictRow(report) : undefined;
  return {
    key: job.key,
    path: job.path,
    size: job.size,
    mtime: job.mtimeMs,
    machine: job.machine ?? null,
    cpu: job.cpu ?? null,
    time: job.time ?? null,
    labels: JSON.stringify(job.labels),
    status: report ? 'explained' : 'error',
    error: report ? null : (outcome.error ?? 'unknown error'),
    format: row?.format ?? null,
    arch: row?.arch ?? null,
    verdict: row?.verdict ?? null,
    hardware: row ? (HARDWARE_CLASSES as readonly string[]).includes(row.verdict) : null,
    location: row?.location ?? null,
    bit: row?.bit ?? null,
    direction: row?.direction ?? null,
    expected: row?.expected ?? null,
    observed: row?.observed ?? null,
    address: row?.address ?? null,
    confidence: row?.confidence ?? null,
    margin: row?.margin ?? null,
    hypothesis: row?.hypothesis ?? null,
    fault_kind: row?.faultKind ?? null,
    fault_pc: row?.faultPc ?? null,
    symbol: row?.symbol ?? null,
    module: row?.module ?? null,
    '"function"': row?.function ?? null,
    instruction: row?.instruction ?? null,
    instruction_text: row?.instructionText ?? null,
    elapsed_ms: outcome.elapsedMs,
    explained_at: Date.now(),
    worker: outcome.worker,
    report: report ? JSON.stringify(report, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v)) : null,
  };
}

/** The store in an embedded DuckDB file. */
export class DuckDbStore implements FleetStore {
  private constructor(private readonly instance: DuckDBInstance, readonly connection: DuckDBConnection, readonly path: string) {}

  /** Opens (creating when absent) the store at `path`; a file DuckDB cannot open is bad input. */
  static async open(path: string, options: { readOnly?: boolean } = {}): Promise<DuckDbStore> {
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(path, options.readOnly ? { access_mode: 'READ_ONLY' } : {});
    } catch (error) {
      throw new InputError(`Cannot open the store ${path}: ${firstLine(error)}`);
    }
    const connection = await instance.connect();
    const store = new DuckDbStore(instance, connection, path);
    if (!options.readOnly) {
      await connection.run(SCHEMA_SQL);
      await connection.run(`INSERT OR REPLACE INTO meta VALUES ('schema', $1)`, [STORE_SCHEMA]);
    }
    try {
      const schema = (await connection.runAndReadAll(`SELECT value FROM meta WHERE key = 'schema'`)).getRowObjectsJS()[0]?.value;
      if (schema !== STORE_SCHEMA) throw new Error(`schema ${String(schema)}`);
    } catch (error) {
      store.close();
      throw new InputError(`${path} is not a faultline store (${STORE_SCHEMA}): ${firstLine(error)}`);
    }
    return store;
  }

  /** Every stored dump by key. */
  async stored(): Promise<Map<string, StoredDump>> {
    const rows = (await this.connection.runAndReadAll(`SELECT key, status, size::DOUBLE AS size, epoch_ms(mtime)::DOUBLE AS mtime FROM dumps`)).getRowObjectsJS();
    return new Map(rows.map((r) => [String(r.key), { status: r.status as StoredDump['status'], size: Number(r.size), mtimeMs: Number(r.mtime) }]));
  }

  /** Stores (or replaces) the outcome of `job`. */
  async record(job: DumpJob, outcome: DumpOutcome): Promise<void> {
    const values = columnValues(job, outcome);
    await this.connection.run(INSERT_SQL, COLUMNS.map((c) => values[c] as DuckDBValue));
  }

  async query(sql: string): Promise<Record<string, unknown>[]> {
    return (await this.connection.runAndReadAll(sql)).getRowObjectsJS();
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

export function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 200);
}
