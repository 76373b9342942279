/**
 * Scale-out on a real Redis: the test starts `redis-server` on a free
 * loopback port and two `faultline worker` processes, queues 200 real
 * crashes (lab cores) with `batch --queue`, kills one worker while it holds
 * a job, and checks that the other takes over and every dump is stored
 * exactly once. A few minutes on two cores.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.ts';
import { freePort } from '../helpers/free-port.ts';
import { labCoresProblem, makeLabCores } from '../helpers/lab-cores.ts';
import { lacks } from '../helpers/system.ts';
import { queryStore } from './read-store.ts';

const DUMPS = 200;
const BIN = new URL('../../bin/faultline.js', import.meta.url).pathname;

/** Everything `child` prints on stdout and stderr, as it comes. */
function watch(child: ChildProcess): { text: string; exited: boolean } {
  const output = { text: '', exited: false };
  child.stdout?.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
  child.once('exit', () => (output.exited = true));
  return output;
}

/** Resolves once `test` holds for what the child printed so far. */
async function until(output: { text: string; exited: boolean }, test: (text: string) => boolean, what: string): Promise<void> {
  while (!test(output.text)) {
    if (output.exited) throw new Error(`exited before ${what}: ${output.text.slice(-500)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const missing = lacks('redis-server') || labCoresProblem() !== undefined;

describe.skipIf(missing)('batch --queue with faultline worker on Redis', () => {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-queue-'));
  const children: ChildProcess[] = [];
  let url = '';

  beforeAll(async () => {
    const port = await freePort();
    const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(redis);
    await until(watch(redis), (text) => text.includes('Ready to accept connections'), 'redis-server was ready');
    url = `redis://127.0.0.1:${port}`;
  });

  afterAll(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it(`${DUMPS} lab dumps, two workers, one killed mid-run: every dump explained exactly once in the store`, async () => {
    const cores = makeLabCores(join(dir, 'cores'), DUMPS);
    const start = async () => {
      const child = spawn(process.execPath, [BIN, 'worker', '--queue', url, '--jobs', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      const output = watch(child);
      await until(output, (text) => text.includes('taking jobs'), 'the worker connected');
      return { child, output };
    };
    const [a, b] = await Promise.all([start(), start()]);
    const db = join(dir, 'fleet.duckdb');
    const batch = runCli('batch', join(dir, 'cores'), '--queue', url, '--db', db, '--json', '--search-replays', '20', '--window', '40');
    // Worker a takes its next job as soon as it reports one: kill it then, holding that job. (The job it just
    // reported may not have reached Redis yet: then b explains that one again, and it is stored once.)
    const results = (text: string) => text.split('\n').filter((line) => line.startsWith('worker: /')).length;
    await until(a.output, (text) => results(text) >= 4, 'worker a explained four dumps');
    a.child.kill('SIGKILL');
    const { code, out, err } = await batch;
    expect(code, err).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ inputs: DUMPS, skipped: 0, explained: DUMPS, errors: 0 });

    const rows = await queryStore(db, `SELECT path, status, worker FROM dumps`);
    expect(rows).toHaveLength(DUMPS);
    expect(new Set(rows.map((r) => r.path))).toEqual(new Set(cores));
    expect(rows.every((r) => r.status === 'explained')).toBe(true);
    const by = (pid: number | undefined) => rows.filter((r) => String(r.worker).endsWith(`:${pid}`)).length;
    expect(by(a.child.pid)).toBeGreaterThanOrEqual(3);
    expect(results(b.output.text)).toBeGreaterThanOrEqual(DUMPS - by(a.child.pid));
    expect(by(a.child.pid)).toBeLessThan(DUMPS / 2);
    expect(by(a.child.pid) + by(b.child.pid)).toBe(DUMPS);

    // Rerunning finds everything stored and queues nothing.
    const again = await runCli('batch', join(dir, 'cores'), '--queue', url, '--db', db, '--json');
    expect(JSON.parse(again.out)).toMatchObject({ inputs: DUMPS, skipped: DUMPS, explained: 0 });
  }, 30 * 60 * 1000);
});
