/**
 * A throwaway PostgreSQL server for the tests: Debian's `postgresql`
 * binaries, a cluster made by initdb in a temporary directory (trust
 * authentication, C locale, no fsync), listening on a free loopback port
 * and no Unix socket. PostgreSQL refuses to run as root, so as root the
 * cluster belongs to, and the server runs as, the `postgres` user the
 * package creates (`nobody` without it).
 *
 * @example
 * ```ts
 * const server = await startPostgres(dir); // server.url: postgres://faultline@127.0.0.1:PORT/postgres
 * await server.stop();
 * ```
 */
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { postgresBinDir } from './system.ts';

export interface PostgresServer {
  url: string;
  stop(): Promise<void>;
}

/** The uid and gid to run the server as: none when not root, else `postgres` (or `nobody`) from /etc/passwd. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const lines = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':'));
  const entry = lines.find((f) => f[0] === 'postgres') ?? lines.find((f) => f[0] === 'nobody');
  if (!entry) throw new Error('no postgres or nobody user to run PostgreSQL as');
  return { uid: Number(entry[2]), gid: Number(entry[3]) };
}

export async function startPostgres(dir: string): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('postgresql is not installed');
  const user = serverUser();
  const data = join(dir, 'pgdata');
  mkdirSync(data, { mode: 0o700 });
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chownSync(data, user.uid, user.gid);
  }
  const as = { ...user, cwd: dir };
  const init = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', 'faultline', '-A', 'trust', '--no-locale', '-E', 'UTF8', '--no-sync'], { ...as, encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.error}`);
  const port = await freePort();
  const server = spawn(join(bin, 'postgres'), ['-D', data, '-h', '127.0.0.1', '-p', String(port), '-k', '', '-c', 'fsync=off', '-c', 'full_page_writes=off'], { ...as, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  let exited = false;
  server.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  server.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const gone = new Promise<void>((resolve) => server.once('exit', () => {
    exited = true;
    resolve();
  }));
  for (const started = Date.now(); !log.includes('ready to accept connections'); ) {
    if (exited || Date.now() - started > 60_000) {
      server.kill('SIGKILL');
      throw new Error(`postgres did not start: ${log.slice(-500)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url: `postgres://faultline@127.0.0.1:${port}/postgres`,
    async stop() {
      // SIGINT: PostgreSQL's fast shutdown (disconnects clients, no waiting for them).
      if (!exited) server.kill('SIGINT');
      await gone;
    },
  };
}
