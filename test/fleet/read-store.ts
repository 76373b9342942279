/** Reads a fleet store's rows in the tests, with DuckDB's own client (not the code under test). */
import { DuckDBInstance } from '@duckdb/node-api';

export async function queryStore(path: string, sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
