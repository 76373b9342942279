/**
 * The process `faultline explain` runs its analysis in (see
 * isolated-explain.ts): it opens the dump, runs `explain`, and sends the
 * report back. Before each replay it writes the replay's key to a journal
 * file with a synchronous write, so that if Unicorn aborts the process
 * (`tcg fatal error`), the parent knows which replay did it and starts a
 * new worker that skips it. A request with `keep` leaves the process
 * running for the next one (`faultline batch` reuses its workers: starting
 * one costs seconds of module loading).
 *
 * @example
 * ```ts
 * // Started by explainIsolated with child_process.fork; not called directly.
 * ```
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { explain, type ExplainOptions } from '../analysis/explain.ts';
import { attachTrace, type ExplainDocument } from '../analysis/window-trace.ts';
import { setReplayGuard } from '../analysis/replay.ts';
import { openDump, type OpenOptions } from '../dumps/open.ts';
import { reuseEngines } from '../../emu/engine-pool.ts';
import { describeError } from './errors.ts';

export interface WorkerRequest {
  path: string;
  open: OpenOptions;
  options: ExplainOptions;
  /** Replays to skip: they aborted an earlier worker. */
  skip: string[];
  /** Where to write the key of the replay about to run. */
  journal: string;
  /** Send `WorkerProgress` messages. */
  progress?: boolean;
  /** Attach the verdict's replayed window (`trace`, for the HTML report); default true. */
  trace?: boolean;
  /** Stay alive for the next request after replying (batch workers); default false: exit. */
  keep?: boolean;
}

export type WorkerReply = { kind: 'report'; report: ExplainDocument } | { kind: 'error'; line: string; code: number; stack?: string };

/** Sent while the analysis runs: replays started so far, and the time since the worker started explain. */
export interface WorkerProgress {
  kind: 'progress';
  replays: number;
  elapsedMs: number;
}

/** Progress messages go out at most this often. */
const PROGRESS_MS = 100;

/**
 * Unicorn engines a kept worker reuses per architecture (emu/engine-pool.ts): an analysis of a small core opens
 * about 70, up to 15 of them at once (nested probes, three lanes each); 16 kept cover that, with no more memory
 * than opening new ones (about 220 MB either way).
 */
const ENGINES_KEPT = 16;

/** Journal records are fixed-size, so each write replaces the last. */
export const JOURNAL_RECORD = 4096;

async function serve(request: WorkerRequest): Promise<WorkerReply> {
  reuseEngines(request.keep ? ENGINES_KEPT : 0);
  const fd = openSync(request.journal, 'w');
  const skip = new Set(request.skip);
  const record = Buffer.alloc(JOURNAL_RECORD);
  const started = performance.now();
  let replays = 0;
  let sent = 0;
  setReplayGuard({
    before(key) {
      if (skip.has(key)) return false;
      // The replay guard sees every replay: the one place outside explain that can count the search's progress.
      replays++;
      const now = performance.now();
      if (request.progress && now - sent >= PROGRESS_MS) {
        sent = now;
        process.send!({ kind: 'progress', replays, elapsedMs: Math.round(now - started) } satisfies WorkerProgress);
      }
      record.fill(0x20);
      record.write(key.slice(0, JOURNAL_RECORD), 'utf8');
      writeSync(fd, record, 0, JOURNAL_RECORD, 0);
      return true;
    },
  });
  try {
    const dump = await openDump(request.path, request.open);
    try {
      const report = await explain(dump, request.options);
      return { kind: 'report', report: request.trace === false ? report : await attachTrace(dump, report, request.options) };
    } finally {
      (dump as { close?: () => void }).close?.();
    }
  } catch (error) {
    const { line, code } = describeError(error);
    return { kind: 'error', line, code, stack: error instanceof Error ? error.stack : undefined };
  } finally {
    setReplayGuard(undefined);
    closeSync(fd);
  }
}

// A parent that went away takes its kept worker with it.
process.on('disconnect', () => process.exit(0));
// Requests are served one at a time: the parent sends the next only after this one's reply.
process.on('message', (request: WorkerRequest) => {
  void serve(request).then((reply) => process.send!(reply, () => {
    if (!request.keep) process.exit(0);
  }));
});
