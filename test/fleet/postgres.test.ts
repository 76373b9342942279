/**
 * The PostgreSQL store on a real server (Debian's `postgresql`, a cluster
 * the test makes in a temporary directory on a free loopback port): two
 * `batch` processes write into one database at once, each dump is stored
 * once, a rerun skips them all, and `fleet report` gives the report the
 * DuckDB store gives for the same dumps.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.ts';
import { startPostgres, type PostgresServer } from '../helpers/postgres-server.ts';
import { lacks } from '../helpers/system.ts';

const BIN = new URL('../../bin/faultline.js', import.meta.url).pathname;
const fixtures = new URL('../fixtures/', import.meta.url).pathname;
const transcript = (name: string) => join(fixtures, 'transcripts', name);
const breakpad = (name: string) => join(fixtures, 'dumps/breakpad', name);

/** `faultline ARGS…` in a process of its own: its exit code and output. */
function faultline(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('exit', (code) => resolve({ code, out, err }));
  });
}

describe.skipIf(lacks('postgresql'))('the PostgreSQL store (--db postgres://…)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-pg-'));
  let server: PostgresServer | undefined;

  beforeAll(async () => {
    server = await startPostgres(dir);
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes two batch processes writing at once, stores each dump once, and reports as the DuckDB store does', async () => {
    const url = server!.url;
    // A faulty machine (three single-bit CPU faults at three places, one software crash), one with a single
    // memory corruption, two with software crashes only (the fixtures' verdicts: test/fleet/report.test.ts).
    const plan: Array<[string, string, number]> = [
      [transcript('ipi-call-target-bitflip.txt'), 'faulty', 1],
      [transcript('x64-dispatch-target-bitflip.txt'), 'faulty', 1],
      [transcript('ipi-call-eax-loaded-flip.txt'), 'faulty', 2],
      [breakpad('linux_null_read_av.dmp'), 'faulty', 0],
      [transcript('ipi-memory-corruption.txt'), 'once', 0],
      [breakpad('write_av_non_null.dmp'), 'once', 1],
      [transcript('ipi-null-pointer.txt'), 'ok-0', 0],
      [breakpad('linux_null_read_av.dmp'), 'ok-0', 1],
      [breakpad('minidump2.dmp'), 'ok-1', 0],
      [breakpad('write_av_non_null.dmp'), 'ok-1', 1],
    ];
    const lines = plan.map(([source, machine, cpu], i) => {
      const path = `d${i}${source.slice(source.lastIndexOf('.'))}`;
      copyFileSync(source, join(dir, path));
      return JSON.stringify({ path, machine, cpu });
    });
    const halves = [join(dir, 'a.jsonl'), join(dir, 'b.jsonl')];
    writeFileSync(halves[0]!, lines.filter((_, i) => i % 2 === 0).join('\n'));
    writeFileSync(halves[1]!, lines.filter((_, i) => i % 2 === 1).join('\n'));
    const all = join(dir, 'all.jsonl');
    writeFileSync(all, lines.join('\n'));

    const writers = await Promise.all(halves.map((m) => faultline('batch', m, '--db', url, '--jobs', '1', '--search-replays', '300', '--json')));
    for (const w of writers) {
      expect(w.code, w.err).toBe(0);
      expect(JSON.parse(w.out)).toMatchObject({ inputs: 5, skipped: 0, explained: 5, errors: 0 });
    }
    // The rows, read with pg's own client rather than the store's code.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query(`SELECT count(*)::INTEGER AS n, count(DISTINCT key)::INTEGER AS keys, count(*) FILTER (WHERE hardware)::INTEGER AS hardware,
        count(DISTINCT worker)::INTEGER AS workers FROM dumps`);
      expect(rows[0]).toEqual({ n: 10, keys: 10, hardware: 4, workers: 2 });
      const ipi = await client.query(`SELECT verdict, bit, direction, observed, report->'verdict'->>'hypothesis' AS hypothesis FROM dumps WHERE key = $1`, [join(dir, 'd0.txt')]);
      expect(ipi.rows).toEqual([{ verdict: 'cpu-fault', bit: 2, direction: '1->0', observed: '0x8082e3e0', hypothesis: 'bitflip:target@80a5d8f6:2' }]);
    } finally {
      await client.end();
    }
    const again = await runCli('batch', all, '--db', url, '--json');
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out)).toMatchObject({ inputs: 10, skipped: 10, explained: 0 });

    const duck = join(dir, 'fleet.duckdb');
    const local = await runCli('batch', all, '--db', duck, '--jobs', '2', '--search-replays', '300', '--json');
    expect(local.code, local.err).toBe(0);
    const reportOf = async (db: string) => {
      const { code, out, err } = await runCli('fleet', 'report', '--db', db, '--json');
      expect(code, err).toBe(0);
      const { queryMs: _ms, ...report } = JSON.parse(out);
      return report;
    };
    const fromPostgres = await reportOf(url);
    expect(fromPostgres.machines.map((m: { machine: string }) => m.machine)).toEqual(['faulty', 'once']);
    expect(fromPostgres.machines[0]).toMatchObject({ dumps: 4, hardware: 3, single_bit_sites: 3, recurrent: true });
    expect(fromPostgres).toEqual(await reportOf(duck));
  }, 600_000);

  it('an unreachable server is one line naming the URL without its password, exit 2', async () => {
    const { code, out, err } = await runCli('fleet', 'report', '--db', 'postgres://someone:secret@127.0.0.1:1/fleet');
    expect({ code, out }).toEqual({ code: 2, out: '' });
    expect(err).toMatch(/^faultline: Cannot open the store postgres:\/\/someone:\*\*\*@127\.0\.0\.1:1\/fleet: .*ECONNREFUSED.*\n$/);
  });
});
