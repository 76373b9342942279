/**
 * Replays one input the fuzzer saved, with the fuzzer's limits: in a worker
 * thread that is stopped when the input runs past `timeoutMs` (a hang) or
 * the process's resident memory passes `rssMb`. Used by the corpus
 * regression test (test/fuzz/corpus.test.ts).
 *
 * @example
 * ```ts
 * await replayInput('transcript', 'test/fuzz/corpus/transcript/hang-c7d40103efac.txt');
 * // { outcome: 'ok', ms: 140, peakRssMb: 180 }
 * ```
 */
import { Worker } from 'node:worker_threads';

/** How an input ended: read (or refused as bad input), a crash, a hang, too much memory. */
export interface Replay {
  outcome: 'ok' | 'crash' | 'hang' | 'memory';
  ms: number;
  peakRssMb: number;
  /** The error's message (refused input) or stack (crash). */
  message?: string;
}

/** Runs the input at `path` through target `target` within the limits. */
export function replayInput(target: string, path: string, limits: { timeoutMs?: number; rssMb?: number } = {}): Promise<Replay> {
  const timeoutMs = limits.timeoutMs ?? 5000;
  const rssMb = limits.rssMb ?? 500;
  const module = new URL('./replay-worker.ts', import.meta.url).href;
  const worker = new Worker(new URL('./worker-entry.js', import.meta.url), { workerData: { module, target, path }, resourceLimits: { maxOldGenerationSizeMb: rssMb } });
  return new Promise((resolve, reject) => {
    let started: number | undefined;
    let peakRssMb = 0;
    const poll = setInterval(() => {
      const rss = process.memoryUsage.rss() / (1024 * 1024);
      peakRssMb = Math.max(peakRssMb, rss);
      if (rss > rssMb) end({ outcome: 'memory' });
      else if (started !== undefined && performance.now() - started > timeoutMs) end({ outcome: 'hang' });
    }, 20);
    const end = (result: { outcome: Replay['outcome']; message?: string }): void => {
      clearInterval(poll);
      const ms = started === undefined ? 0 : performance.now() - started;
      void worker.terminate().then(() => resolve({ ...result, ms, peakRssMb }));
    };
    // The clock starts when the worker has loaded the parsers and says so.
    worker.on('message', (message: { outcome: Replay['outcome'] | 'ready'; message?: string }) => {
      if (message.outcome === 'ready') started = performance.now();
      else end(message as { outcome: Replay['outcome']; message?: string });
    });
    worker.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') return end({ outcome: 'memory' });
      clearInterval(poll);
      reject(error);
    });
  });
}
