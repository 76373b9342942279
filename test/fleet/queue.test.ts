/**
 * Scale-out on a real Redis: the test starts `redis-server` on a free
 * loopback port and two `faultline worker` processes, queues 200 real
 * crashes (lab cores) with `batch --queue`, kills one worker while it holds
 * a job, and checks that the other takes over and every dump is stored
 * exactly once. A few minutes on two cores.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.ts';
import { labCoresProblem, makeLabCores } from '../helpers/lab-cores.ts';
import { lacks } from '../helpers/system.ts';
import { queryStore } from './read-store.ts';

const DUMPS = 200;
const BIN = new URL('../../bin/faultline.js', import.meta.url).pathname;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once `child` printed `text` on stdout or stderr. */
function printed(child: ChildProcess, text: string | RegExp, output: { text: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (chunk: Buffer) => {
      output.text += chunk.toString();
      if (typeof text === 'string' ? output.text.includes(text) : text.test(output.text)) resolve();
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', (code) => reject(new Error(`exited (${code}) before printing ${text}: ${output.text.slice(-500)}`)));
  });
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
    await printed(redis, 'Ready to accept connections', { text: '' });
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
      const output = { text: '' };
      await printed(child, 'taking jobs', output);
      return { child, output };
    };
    const [a, b] = await Promise.all([start(), start()]);
    const db = join(dir, 'fleet.duckdb');
    const batch = runCli('batch', join(dir, 'cores'), '--queue', url, '--db', db, '--json', '--search-replays', '20', '--window', '40');
    // Worker a holds its next job as soon as it reports one: kill it then, without letting it finish.
    await printed(a.child, /(worker: .*\n){3}/, a.output);
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
    expect(by(a.child.pid)).toBeLessThan(DUMPS / 2);
    expect(by(a.child.pid) + by(b.child.pid)).toBe(DUMPS);

    // Rerunning finds everything stored and queues nothing.
    const again = await runCli('batch', join(dir, 'cores'), '--queue', url, '--db', db, '--json');
    expect(JSON.parse(again.out)).toMatchObject({ inputs: DUMPS, skipped: DUMPS, explained: 0 });
  }, 30 * 60 * 1000);
});
