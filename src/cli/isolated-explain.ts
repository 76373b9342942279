/**
 * Runs `explain` in a worker process, so that an abort inside the emulator
 * (Unicorn 2.0.1 aborts the whole process on some instructions it cannot
 * translate) costs one replay, not the command. The worker journals the
 * replay it is about to run; when it dies of a signal, a new worker starts
 * with that replay skipped, and the report says which replay was lost.
 * Set FAULTLINE_IN_PROCESS=1 to run in this process instead (debugging).
 *
 * `faultline batch` passes its own `ExplainProcess`, kept alive from one
 * dump to the next, and a time bound: past it the worker is killed and the
 * dump is an error.
 *
 * @example
 * ```ts
 * const { report, aborted } = await explainIsolated('core', { binaries: ['./crash'] }, {});
 * const worker = new ExplainProcess();
 * await explainIsolated('core', {}, {}, undefined, { worker, timeoutMs: 30_000, trace: false });
 * worker.dispose();
 * ```
 */
import { fork, type ChildProcess } from 'node:child_process';
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

interface RunOutcome {
  reply?: WorkerReply;
  signal?: string;
  exitCode?: number | null;
}

/**
 * One explain worker process, started on first use and kept for the next
 * request when `keep` is set; a worker that died or was killed is replaced
 * on the next request.
 */
export class ExplainProcess {
  private child?: ChildProcess;
  private pending?: (outcome: RunOutcome) => void;
  private reply?: WorkerReply;
  private onProgress?: ExplainProgress;

  private start(): ChildProcess {
    // Built JavaScript (dist/) starts the built worker; the TypeScript sources start theirs through tsx.
    const built = import.meta.url.endsWith('.js');
    const worker = new URL(built ? './explain-worker.js' : './explain-worker.ts', import.meta.url).pathname;
    const execArgv = built ? [] : ['--import', import.meta.resolve('tsx')];
    const child = fork(worker, [], { execArgv, serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    child.stderr?.on('data', () => {});
    child.on('message', (message: WorkerReply | WorkerProgress) => {
      if (child !== this.pendingChild) return;
      if (message.kind === 'progress') {
        this.onProgress?.(message.replays, message.elapsedMs);
        return;
      }
      this.reply = message;
      // A kept worker stays alive: its reply ends the request.
      if (this.keep) this.settle(child, { reply: message });
    });
    const gone = (outcome: RunOutcome) => {
      if (this.child === child) this.child = undefined;
      this.settle(child, outcome);
    };
    child.on('error', () => gone({ reply: this.reply }));
    child.on('exit', (code, signal) => gone({ reply: this.reply, signal: signal ?? undefined, exitCode: code }));
    return child;
  }

  private keep = false;

  private pendingChild?: ChildProcess;

  /** Ends the request `child` is running, if it runs one. */
  private settle(child: ChildProcess, outcome: RunOutcome): void {
    if (child !== this.pendingChild) return;
    const pending = this.pending;
    this.pending = undefined;
    this.pendingChild = undefined;
    pending?.(outcome);
  }

  /** Sends `request` and waits for the reply, or for the process to die. */
  run(request: WorkerRequest, onProgress?: ExplainProgress): Promise<RunOutcome> {
    this.child ??= this.start();
    const child = this.child;
    this.keep = request.keep === true;
    this.reply = undefined;
    this.onProgress = onProgress;
    return new Promise((resolve) => {
      this.pending = resolve;
      this.pendingChild = child;
      child.send(request);
    });
  }

  /** Kills the worker (a request it runs ends as a death by SIGKILL). */
  kill(): void {
    this.child?.kill('SIGKILL');
  }

  /** Ends a kept worker. */
  dispose(): void {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

export interface IsolationOptions {
  /** A worker to reuse (kept alive between requests); default: a new one for this explain. */
  worker?: ExplainProcess;
  /** Wall-time bound of the whole explain, aborts included: past it the worker is killed and a WorkerError thrown. */
  timeoutMs?: number;
  /** Attach the replayed window (`trace`); default true. */
  trace?: boolean;
}

export async function explainIsolated(path: string, open: OpenOptions, options: ExplainOptions, onProgress?: ExplainProgress, isolation: IsolationOptions = {}): Promise<{ report: ExplainDocument; aborted: string[] }> {
  if (process.env.FAULTLINE_IN_PROCESS === '1') {
    const dump = await openDump(path, open);
    const report = await explain(dump, options);
    return { report: isolation.trace === false ? report : await attachTrace(dump, report, options), aborted: [] };
  }
  const worker = isolation.worker ?? new ExplainProcess();
  const keep = isolation.worker !== undefined;
  let timedOut = false;
  const timer = isolation.timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    worker.kill();
  }, isolation.timeoutMs);
  const dir = mkdtempSync(join(tmpdir(), 'faultline-explain-'));
  const aborted: string[] = [];
  const run = async (journal: string, runOptions: ExplainOptions) => {
    const outcome = await worker.run({ path, open, options: runOptions, skip: aborted, journal, progress: onProgress !== undefined, trace: isolation.trace, keep }, onProgress);
    if (timedOut) throw new WorkerError(`explain took longer than ${isolation.timeoutMs! / 1000} s and was stopped`, 1);
    return outcome;
  };
  try {
    for (let attempt = 0; attempt < MAX_WORKERS; attempt++) {
      const journal = join(dir, `journal-${attempt}`);
      const { reply, signal, exitCode } = await run(journal, options);
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
    const { reply } = await run(join(dir, 'journal-last'), { ...options, exhaustive: false });
    if (reply?.kind === 'report') {
      reply.report.unchecked.push(`the fault search: ${aborted.length} of its replays aborted the emulator, so it was not run`);
      return { report: reply.report, aborted };
    }
    throw new WorkerError(`${MAX_WORKERS} replays in a row aborted the emulator; giving up`, 1);
  } finally {
    if (timer) clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  }
}
