/**
 * Runs one saved input through its target in a worker thread (see
 * replay.ts) and posts back whether it failed the way bad input may.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isExpectedError, TARGETS } from './targets.ts';

const { target, path } = workerData as { target: string; path: string };
// The parsers are loaded: the input's time starts now.
parentPort!.postMessage({ outcome: 'ready' });
try {
  await TARGETS.find((t) => t.name === target)!.run(path);
  parentPort!.postMessage({ outcome: 'ok' });
} catch (error) {
  const e = error as Error;
  parentPort!.postMessage(isExpectedError(error) ? { outcome: 'ok', message: e.message } : { outcome: 'crash', message: `${e?.name}: ${e?.message}\n${e?.stack ?? ''}` });
}
