/**
 * The fleet store in PostgreSQL (`--db postgres://USER[:PASSWORD]@HOST[:PORT]/DB`),
 * for many writers: several `batch` processes, on as many machines, can
 * store into one database at once, where a DuckDB file takes one writing
 * process. The same `meta` and `dumps` tables as the DuckDB store (the
 * schema's DOUBLE is PostgreSQL's DOUBLE PRECISION), written with an upsert
 * on the key, so `fleet report` runs the same queries on either. Through
 * the `pg` client; one connection per store.
 *
 * @example
 * ```ts
 * const store = await PostgresStore.open('postgres://faultline@db.lan/fleet');
 * await store.record(job, outcome);
 * await store.close();
 * ```
 */
import pg from 'pg';
import { InputError } from '../errors.ts';
import type { DumpJob } from './inputs.ts';
import { COLUMNS, columnValues, firstLine, SCHEMA_SQL, STORE_SCHEMA, type DumpOutcome, type FleetStore, type StoredDump } from './store.ts';

/** PostgreSQL spells DuckDB's DOUBLE this way; every other type of the schema is the same. */
export const POSTGRES_SCHEMA_SQL = SCHEMA_SQL.replace(/ DOUBLE,/g, ' DOUBLE PRECISION,');

/** Serializes schema creation between writers starting at once (CREATE TABLE IF NOT EXISTS races in PostgreSQL). */
const SCHEMA_LOCK = 0x66617531; // 'fau1'

/** Epoch milliseconds to a timestamp, exactly (a double divided by 1000 would round). */
const fromMs = (n: number) => `('epoch'::TIMESTAMPTZ + $${n}::BIGINT * INTERVAL '1 millisecond')`;

const PLACEHOLDER: Partial<Record<(typeof COLUMNS)[number], (n: number) => string>> = {
  mtime: fromMs,
  time: (n) => `CAST($${n} AS TIMESTAMPTZ)`,
  explained_at: fromMs,
  labels: (n) => `$${n}::JSON`,
  report: (n) => `$${n}::JSON`,
};

const UPSERT_SQL = `INSERT INTO dumps (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c, i) => PLACEHOLDER[c]?.(i + 1) ?? `$${i + 1}`).join(', ')})
ON CONFLICT (key) DO UPDATE SET ${COLUMNS.filter((c) => c !== 'key').map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`;

/** 64-bit integers (counts) and decimals (sums) as numbers, as the DuckDB store gives them; pg gives strings. */
const TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

/** `url` without its password, for messages. */
export function redactedUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*):[^@]*@/, '$1:***@');
}

export class PostgresStore implements FleetStore {
  private constructor(private readonly client: pg.Client, readonly path: string) {}

  /** Connects, and creates the tables unless `readOnly`; an unreachable server or a database that is no faultline store is bad input. */
  static async open(url: string, options: { readOnly?: boolean } = {}): Promise<PostgresStore> {
    const shown = redactedUrl(url);
    const client = new pg.Client({ connectionString: url, types: TYPES, connectionTimeoutMillis: 10_000 });
    // A server that goes away later fails the query that is running; this keeps it from being an unhandled error too.
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => {});
      throw new InputError(`Cannot open the store ${shown}: ${firstLine(error) || 'connection failed'}`);
    }
    const store = new PostgresStore(client, shown);
    try {
      if (!options.readOnly) {
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
        await client.query(POSTGRES_SCHEMA_SQL);
        await client.query(`INSERT INTO meta VALUES ('schema', $1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, [STORE_SCHEMA]);
        await client.query('COMMIT');
      }
      const schema = (await client.query(`SELECT value FROM meta WHERE key = 'schema'`)).rows[0]?.value;
      if (schema !== STORE_SCHEMA) throw new Error(`schema ${String(schema)}`);
    } catch (error) {
      await store.close();
      throw new InputError(`${shown} is not a faultline store (${STORE_SCHEMA}): ${firstLine(error)}`);
    }
    return store;
  }

  async stored(): Promise<Map<string, StoredDump>> {
    const { rows } = await this.client.query(`SELECT key, status, size::DOUBLE PRECISION AS size, (extract(epoch FROM mtime) * 1000)::DOUBLE PRECISION AS mtime FROM dumps`);
    return new Map(rows.map((r) => [String(r.key), { status: r.status as StoredDump['status'], size: Number(r.size), mtimeMs: Number(r.mtime) }]));
  }

  async record(job: DumpJob, outcome: DumpOutcome): Promise<void> {
    const values = columnValues(job, outcome);
    await this.client.query(UPSERT_SQL, COLUMNS.map((c) => values[c]));
  }

  async query(sql: string): Promise<Record<string, unknown>[]> {
    return (await this.client.query(sql)).rows;
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => {});
  }
}
