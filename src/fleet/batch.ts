/**
 * Runs explain over many dumps with a fixed number of worker processes,
 * each kept alive from one dump to the next (starting one costs seconds of
 * module loading), each dump bounded in time: past the bound, or when the
 * emulator aborts more often than explain recovers from, that dump is
 * stored as an error and the batch goes on. Results go to the store as they
 * come, so an interrupted batch resumes where it stopped: a dump already
 * stored with the same size and modification time is skipped.
 *
 * @example
 * ```ts
 * const summary = await runBatch(store, jobs, { jobs: 2, timeoutMs: 60_000, explain: { searchReplays: 500 } });
 * ```
 */
import { hostname } from 'node:os';
import type { ExplainOptions } from '../analysis/explain.ts';
import { describeError } from '../cli/errors.ts';
import { ExplainProcess, explainIsolated } from '../cli/isolated-explain.ts';
import type { DumpJob } from './inputs.ts';
import type { DumpOutcome, FleetStore, StoredDump } from './store.ts';

/** A worker process is replaced after this many dumps, so what one run leaks cannot add up. */
const DUMPS_PER_PROCESS = 200;

export interface BatchOptions {
  /** Worker processes. */
  jobs: number;
  /** Wall-time bound per dump. */
  timeoutMs: number;
  explain: ExplainOptions;
  /** Explain again dumps stored as errors. */
  retryErrors?: boolean;
  /** Called after each dump. */
  onDump?: (done: number, total: number, job: DumpJob, outcome: DumpOutcome) => void;
}

export interface BatchSummary {
  schema: 'faultline/batch/1';
  /** Dumps the inputs named. */
  inputs: number;
  /** Already in the store: not run again. */
  skipped: number;
  explained: number;
  errors: number;
  seconds: number;
  /** Dumps per second over this run. */
  rate: number;
  p50Ms?: number;
  p99Ms?: number;
  /** Verdicts of this run by class. */
  verdicts: Record<string, number>;
}

/** True when `stored` already answers for `job` (same file, and explained or errors are not retried). */
export function isDone(job: DumpJob, stored: StoredDump | undefined, retryErrors = false): boolean {
  return stored !== undefined && stored.size === job.size && stored.mtimeMs === job.mtimeMs && (stored.status === 'explained' || !retryErrors);
}

/** The q-quantile of sorted values, nearest rank. */
export function quantile(sorted: number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Explains `job` in `worker`: the report, or the one line saying why there is none. */
export async function explainJob(job: DumpJob, worker: ExplainProcess, options: { timeoutMs: number; explain: ExplainOptions; who: string }): Promise<DumpOutcome> {
  const started = performance.now();
  try {
    const { report } = await explainIsolated(job.path, { binaries: job.binaries, sysroot: job.sysroot }, { ...options.explain, binaries: job.binaries }, undefined, { worker, timeoutMs: options.timeoutMs, trace: false });
    return { report, elapsedMs: performance.now() - started, worker: options.who };
  } catch (error) {
    return { error: describeError(error).line, elapsedMs: performance.now() - started, worker: options.who };
  }
}

export async function runBatch(store: FleetStore, jobs: DumpJob[], options: BatchOptions): Promise<BatchSummary> {
  const stored = await store.stored();
  const pending = jobs.filter((job) => !isDone(job, stored.get(job.key), options.retryErrors));
  const started = performance.now();
  const times: number[] = [];
  const verdicts: Record<string, number> = {};
  let next = 0;
  let done = 0;
  let errors = 0;
  // One write at a time on the store's connection.
  let writes = Promise.resolve();
  const lane = async (index: number) => {
    let worker = new ExplainProcess();
    let served = 0;
    try {
      while (next < pending.length) {
        const job = pending[next++]!;
        if (served++ === DUMPS_PER_PROCESS) {
          worker.dispose();
          worker = new ExplainProcess();
          served = 1;
        }
        const outcome = await explainJob(job, worker, { timeoutMs: options.timeoutMs, explain: options.explain, who: `${hostname()}:${process.pid}/${index}` });
        times.push(outcome.elapsedMs);
        if (outcome.report) verdicts[outcome.report.verdict.class] = (verdicts[outcome.report.verdict.class] ?? 0) + 1;
        else errors++;
        writes = writes.then(() => store.record(job, outcome));
        await writes;
        options.onDump?.(++done, pending.length, job, outcome);
      }
    } finally {
      worker.dispose();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.jobs, pending.length)) }, (_, i) => lane(i)));
  return summarize(jobs.length, pending.length, done, errors, started, times, verdicts);
}

/** A batch's counts, rate and per-dump time quantiles (`times` in ms, any order), from `started` (performance.now()). */
export function summarize(inputs: number, pending: number, done: number, errors: number, started: number, times: number[], verdicts: BatchSummary['verdicts']): BatchSummary {
  const seconds = (performance.now() - started) / 1000;
  const sorted = [...times].sort((a, b) => a - b);
  return {
    schema: 'faultline/batch/1',
    inputs,
    skipped: inputs - pending,
    explained: done - errors,
    errors,
    seconds: Math.round(seconds * 100) / 100,
    rate: seconds > 0 ? Math.round((done / seconds) * 100) / 100 : 0,
    p50Ms: round(quantile(sorted, 0.5)),
    p99Ms: round(quantile(sorted, 0.99)),
    verdicts,
  };
}

const round = (v: number | undefined) => (v === undefined ? undefined : Math.round(v));
