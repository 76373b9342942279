/**
 * Child processes for the lab: every one bounded in time (its whole process
 * group is killed at the deadline) and in captured output, so a wedged gdb
 * or qemu costs one case, never the run.
 *
 * @example
 * ```ts
 * const r = await runProcess('gcc', ['-O2', '-o', 'prog', 'prog.c'], { timeoutMs: 60_000 });
 * if (r.code !== 0) console.error(r.stderr);
 * ```
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

export interface ProcessOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Bytes of stdout and stderr kept (each); the rest is dropped. */
  maxOutput?: number;
}

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Set when the program could not be started at all. */
  error?: string;
}

/** Runs `command` to completion (or its deadline) and returns its status and output. */
export function runProcess(command: string, args: string[], options: ProcessOptions): Promise<ProcessResult> {
  const max = options.maxOutput ?? 1 << 20;
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (stdout.length < max) stdout += chunk.toString('utf8', 0, Math.min(chunk.length, max - stdout.length));
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < max) stderr += chunk.toString('utf8', 0, Math.min(chunk.length, max - stderr.length));
    });
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, options.timeoutMs);
    const done = (result: Omit<ProcessResult, 'stdout' | 'stderr' | 'timedOut'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...result, stdout, stderr, timedOut });
    };
    child.on('error', (error) => done({ code: null, signal: null, error: error.message }));
    child.on('close', (code, signal) => done({ code, signal }));
  });
}

/** Kills a process group started with `detached: true`; a group already gone is fine. */
export function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already exited.
  }
}

/** A TCP port nothing listens on right now (another process may still take it: callers retry). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Runs `tasks` with at most `limit` at a time, in order of start; resolves with their results in order. */
export async function pool<T>(limit: number, count: number, task: (index: number) => Promise<T>, shouldStop: () => boolean = () => false): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count && !shouldStop()) {
      const index = next++;
      results[index] = await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  return results;
}
