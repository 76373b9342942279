/**
 * Runs `explain` in a worker process, so that an abort inside the emulator
 * (Unicorn 2.0.1 aborts the whole process on some instructions it cannot
 * translate) costs one replay, not the command. The worker journals the
 * replay it is about to run; when it dies of a signal, a new worker starts
 * with that replay skipped, and the report says which replay was lost.
 * Set FAULTLINE_IN_PROCESS=1 to run in this process instead (debugging).
 *
 * @example
 * ```ts
 * const { report, aborted } = await explainIsolated('core', { binaries: ['./crash'] }, {});
 * ```
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explain, type ExplainOptions } from '../analysis/explain.ts';
import { attachTrace, type ExplainDocument } from '../analysis/window-trace.ts';
import { openDump, type OpenOptions } from '../dumps/open.ts';
import type { WorkerProgress, WorkerReply, WorkerRequest } from './explain-worker.ts';
import { InputError } from '../errors.ts';

/** Workers started at most for one explain (each abort costs one). */
const MAX_WORKERS = 8;

/** An error the worker reported: the same line and exit code the CLI would have given. */
export class WorkerError extends Error {
  override readonly name = "WorkerError";
  constructor(message: string, readonly code: number) {
    super(message);
  }
}

/** Receives the worker's progress: replays run so far, and the time since the analysis started. */
export type ExplainProgress = (replays: number, elapsedMs: number) => void;

function runWorker(request: WorkerRequest, onProgress?: ExplainProgress): Promise<{ reply?: WorkerReply; signal?: string; exitCode?: number | null }> {
  const worker = new URL('./explain-worker.ts', import.meta.url).pathname;
  const tsx = import.meta.resolve('tsx');
  return new Promise((resolve) => {
    const child = fork(worker, [], { execArgv: ['--import', tsx], serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let reply: WorkerReply | undefined;
    child.stderr?.on('data', () => {});
    child.on('message', (message: WorkerReply | WorkerProgress) => {
      if (message.kind === 'progress') onProgress?.(message.replays, message.elapsedMs);
      else reply = message;
    });
    child.on('error', () => resolve({ reply }));
    child.on('exit', (code, signal) => resolve({ reply, signal: signal ?? undefined, exitCode: code }));
    child.send(request);
  });
}

export async function explainIsolated(path: string, open: OpenOptions, options: ExplainOptions, onProgress?: ExplainProgress): Promise<{ report: ExplainDocument; aborted: string[] }> {
  if (process.env.FAULTLINE_IN_PROCESS === '1') {
    const dump = await openDump(path, open);
    return { report: await attachTrace(dump, await explain(dump, options), options), aborted: [] };
  }
  const dir = mkdtempSync(join(tmpdir(), 'faultline-explain-'));
  const aborted: string[] = [];
  try {
    for (let attempt = 0; attempt < MAX_WORKERS; attempt++) {
      const journal = join(dir, `journal-${attempt}`);
      const { reply, signal, exitCode } = await runWorker({ path, open, options, skip: aborted, journal, progress: onProgress !== undefined }, onProgress);
      if (reply?.kind === 'report') {
        for (const key of aborted) reply.report.unchecked.push(`a replay aborted the emulator and was skipped (${key})`);
        return { report: reply.report, aborted };
      }
      if (reply?.kind === 'error') {
        if (reply.code === 2) throw new InputError(reply.line);
        throw new WorkerError(reply.line, reply.code);
      }
      let key = '';
      try {
        key = readFileSync(journal, 'utf8').trim();
      } catch {
        // The worker died before its first replay.
      }
      if (!key || aborted.includes(key)) throw new WorkerError(`the analysis process died (${signal ?? `exit ${exitCode}`}) outside any replay`, 1);
      aborted.push(key);
    }
    // Replays keep aborting (each a different one): the account without the fault search, which is where they run.
    const journal = join(dir, 'journal-last');
    const { reply } = await runWorker({ path, open, options: { ...options, exhaustive: false }, skip: aborted, journal });
    if (reply?.kind === 'report') {
      reply.report.unchecked.push(`the fault search: ${aborted.length} of its replays aborted the emulator, so it was not run`);
      return { report: reply.report, aborted };
    }
    throw new WorkerError(`${MAX_WORKERS} replays in a row aborted the emulator; giving up`, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
