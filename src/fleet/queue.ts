/**
 * Scale-out on BullMQ (Redis): `faultline batch --queue redis://HOST:PORT`
 * puts one job per dump on the queue `faultline-explain` and stores the
 * results as they come back; `faultline worker --queue …`, on any number of
 * machines that see the dumps at the same paths, takes jobs and explains
 * them in its own kept worker processes. Retries, the lock each running job
 * holds, recovery of a job whose worker died (its lock lapses and another
 * worker takes it), and concurrency limits are BullMQ's.
 *
 * Results travel back as the jobs' return values, so the batch process
 * stays the only writer of the DuckDB file. Each dump's job id is a hash of
 * its path, size and modification time: queueing it twice adds nothing, and
 * a batch that stopped before storing finds the finished jobs' results when
 * it runs again. A dump is stored once, however often its job ran.
 *
 * @example
 * ```ts
 * const summary = await runQueuedBatch(store, jobs, { url: 'redis://127.0.0.1:6379', timeoutMs: 60_000, explain: {} });
 * const worker = await startQueueWorker({ url: 'redis://127.0.0.1:6379', concurrency: 2 });
 * ```
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { Job, Queue, QueueEvents, Worker } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { ExplainOptions } from '../analysis/explain.ts';
import { ExplainProcess } from '../cli/isolated-explain.ts';
import { InputError } from '../errors.ts';
import { explainJob, isDone, summarize, type BatchSummary } from './batch.ts';
import type { DumpJob } from './inputs.ts';
import type { DumpOutcome, FleetStore } from './store.ts';

export const QUEUE_NAME = 'faultline-explain';

/** What a queued job carries: the dump and how to explain it. */
export interface QueuedDump {
  job: DumpJob;
  explain: ExplainOptions;
  timeoutMs: number;
}

/** How long a job's lock lasts unless its worker renews it (BullMQ renews it at half): a dead worker's job is taken again after about this long. */
const LOCK_MS = 10_000;
/** How often workers look for jobs whose lock lapsed. */
const STALLED_CHECK_MS = 5_000;
/** Times a job may lose its worker before it fails. */
const MAX_STALLED = 3;
/** How long to wait for Redis at the start before saying it cannot be reached. */
const CONNECT_MS = 5_000;
/** Finished jobs are also polled for this often, in case an event was missed. */
const POLL_MS = 5_000;

/** `redis://[:password@]HOST:PORT[/DB]` → ioredis's connection options. */
export function redisOptions(url: string): RedisOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InputError(`Bad --queue '${url.slice(0, 80)}': expected redis://HOST:PORT`);
  }
  if (parsed.protocol !== 'redis:' || !parsed.hostname) throw new InputError(`Bad --queue '${url.slice(0, 80)}': expected redis://HOST:PORT`);
  const db = parsed.pathname.replace(/^\//, '');
  if (db && !/^\d+$/.test(db)) throw new InputError(`Bad --queue '${url.slice(0, 80)}': the database after the port must be a number`);
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port ? Number(parsed.port) : 6379,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    db: db ? Number(db) : undefined,
    // BullMQ's workers block on Redis; ioredis must not give up on those commands.
    maxRetriesPerRequest: null,
    // Keep trying while running (a restarted Redis is found again); the start is checked by `ensureReachable`.
    retryStrategy: (times: number) => Math.min(times * 200, 2_000),
    lazyConnect: false,
  };
}

/**
 * A new ioredis client for `url`: BullMQ takes a client rather than options
 * under native ESM (it cannot load ioredis itself there). One client per
 * queue, event reader and worker; BullMQ duplicates it for blocking reads.
 */
function redisClient(options: RedisOptions): Redis {
  const client = new Redis(options);
  client.on('error', () => {});
  return client;
}

/** The job id of a dump: its identity and its version. */
export function jobId(job: DumpJob): string {
  return createHash('sha1').update(`${job.key}\0${job.size}\0${job.mtimeMs}`).digest('hex');
}

/**
 * Throws the one line saying Redis cannot be reached, unless a plain client
 * connects within CONNECT_MS. Checked before any BullMQ object exists: one
 * made without a server keeps reconnecting and cannot be closed.
 */
async function ensureReachable(options: RedisOptions, url: string): Promise<void> {
  const probe = new Redis({ ...options, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 1, connectTimeout: CONNECT_MS });
  // The socket's own error (ECONNREFUSED …) says more than the rejection ('Connection is closed').
  let cause: Error | undefined;
  probe.on('error', (error: Error) => (cause ??= error));
  try {
    await probe.connect();
    await probe.ping();
  } catch (error) {
    throw new InputError(`Cannot reach Redis at ${url} (--queue): ${(cause ?? (error as Error)).message.split('\n')[0]}`);
  } finally {
    probe.disconnect();
  }
}

export interface QueuedBatchOptions {
  url: string;
  timeoutMs: number;
  explain: ExplainOptions;
  retryErrors?: boolean;
  onDump?: (done: number, total: number, job: DumpJob, outcome: DumpOutcome) => void;
}

/** Queues the dumps not yet stored and stores each result as a worker returns it; resolves when every one is stored. */
export async function runQueuedBatch(store: FleetStore, jobs: DumpJob[], options: QueuedBatchOptions): Promise<BatchSummary> {
  const redis = redisOptions(options.url);
  await ensureReachable(redis, options.url);
  const stored = await store.stored();
  const pending = jobs.filter((job) => !isDone(job, stored.get(job.key), options.retryErrors));
  const started = performance.now();
  const clients = [redisClient(redis), redisClient(redis)];
  const queue = new Queue<QueuedDump, DumpOutcome>(QUEUE_NAME, { connection: clients[0]! });
  const events = new QueueEvents(QUEUE_NAME, { connection: clients[1]! });
  queue.on('error', () => {});
  events.on('error', () => {});
  const byId = new Map(pending.map((job) => [jobId(job), job]));
  const remaining = new Set(byId.keys());
  const times: number[] = [];
  const verdicts: Record<string, number> = {};
  let errors = 0;
  let writes = Promise.resolve();
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const settle = (id: string, outcome: DumpOutcome) => {
    const job = byId.get(id);
    if (!job || !remaining.delete(id)) return;
    times.push(outcome.elapsedMs);
    if (outcome.report) verdicts[outcome.report.verdict.class] = (verdicts[outcome.report.verdict.class] ?? 0) + 1;
    else errors++;
    writes = writes.then(() => store.record(job, outcome)).then(() => {
      options.onDump?.(pending.length - remaining.size, pending.length, job, outcome);
      if (remaining.size === 0) finish();
    });
  };
  /** Takes the result of a finished job; true when it was finished. */
  const collect = (job: Job<QueuedDump, DumpOutcome> | undefined): boolean => {
    if (!job?.finishedOn) return false;
    if (job.returnvalue && !job.failedReason) settle(job.id!, job.returnvalue);
    else settle(job.id!, { error: `the queue gave up on it: ${job.failedReason ?? 'no result'}`, elapsedMs: 0, worker: 'queue' });
    return true;
  };

  try {
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    events.on('completed', ({ jobId: id }) => void Job.fromId<QueuedDump, DumpOutcome>(queue, id).then(collect, () => {}));
    events.on('failed', ({ jobId: id }) => void Job.fromId<QueuedDump, DumpOutcome>(queue, id).then(collect, () => {}));
    // Jobs a previous run queued: a finished one gives its result now (a failed one is queued again with --retry-errors).
    const fresh: DumpJob[] = [];
    for (const [id, job] of byId) {
      const existing = await Job.fromId<QueuedDump, DumpOutcome>(queue, id);
      if (existing?.finishedOn && existing.failedReason && options.retryErrors) await existing.retry('failed');
      else if (!existing) fresh.push(job);
      else collect(existing);
    }
    for (let i = 0; i < fresh.length; i += 500) {
      await queue.addBulk(fresh.slice(i, i + 500).map((job) => ({
        name: 'explain',
        data: { job, explain: options.explain, timeoutMs: options.timeoutMs },
        opts: { jobId: jobId(job), attempts: 3, backoff: { type: 'fixed', delay: 1_000 }, removeOnComplete: { age: 7 * 86_400 }, removeOnFail: { age: 7 * 86_400 } },
      })));
    }
    if (remaining.size === 0) finish();
    // A safety net behind the events: look at the unfinished jobs every few seconds.
    const poll = setInterval(() => {
      for (const id of [...remaining].slice(0, 500)) void Job.fromId<QueuedDump, DumpOutcome>(queue, id).then(collect, () => {});
    }, POLL_MS);
    try {
      await finished;
      await writes;
    } finally {
      clearInterval(poll);
    }
  } finally {
    await Promise.allSettled([events.close(), queue.close()]);
    for (const client of clients) client.disconnect();
  }
  return summarize(jobs.length, pending.length, pending.length, errors, started, times, verdicts);
}


export interface QueueWorkerOptions {
  url: string;
  /** Jobs explained at once (each in its own worker process). */
  concurrency: number;
  /** Called after each job. */
  onJob?: (job: DumpJob, outcome: DumpOutcome) => void;
}

/** A running `faultline worker`: `close()` lets the jobs in hand finish, then stops. */
export interface QueueWorker {
  close(): Promise<void>;
}

/** Starts taking jobs from the queue; resolves once connected. */
export async function startQueueWorker(options: QueueWorkerOptions): Promise<QueueWorker> {
  const redis = redisOptions(options.url);
  await ensureReachable(redis, options.url);
  const client = redisClient(redis);
  const idle: ExplainProcess[] = [];
  const who = `${hostname()}:${process.pid}`;
  const worker = new Worker<QueuedDump, DumpOutcome>(QUEUE_NAME, async (job) => {
    const process = idle.pop() ?? new ExplainProcess();
    try {
      const outcome = await explainJob(job.data.job, process, { timeoutMs: job.data.timeoutMs, explain: job.data.explain, who });
      options.onJob?.(job.data.job, outcome);
      return outcome;
    } finally {
      idle.push(process);
    }
  }, { connection: client, concurrency: options.concurrency, lockDuration: LOCK_MS, stalledInterval: STALLED_CHECK_MS, maxStalledCount: MAX_STALLED, autorun: false });
  worker.on('error', () => {});
  await worker.waitUntilReady();
  void worker.run();
  return {
    async close() {
      await worker.close();
      client.disconnect();
      for (const p of idle) p.dispose();
    },
  };
}
