/**
 * `npm run fuzz`: a structure-aware mutational fuzzer for each parser
 * (targets.ts), seeded from test/fixtures, with a time and a memory limit
 * per input. Each target runs in a worker thread; this thread polls its
 * progress and stops it when an input runs longer than `--timeout-ms`
 * (a hang: that much of the process's CPU time, or `--wall-timeout-ms` of
 * wall time for an input that waits without computing) or the process's
 * resident memory passes `--rss-mb`. CPU time, because on a loaded machine
 * at `nice 19` an input that needs 50 ms can wait seconds for a core (the
 * slowest minidump input took 4.4 s of wall time at load 14). Every
 * failing input is saved under test/fuzz/corpus/TARGET/ (crash-, hang-,
 * memory- and its hash), which `npm test` replays (test/fuzz/corpus.test.ts):
 * a failing input becomes a regression test.
 *
 * ```sh
 * npm run fuzz -- --execs 1000000                 # every target
 * npm run fuzz -- --target transcript --execs 20000 --seed 7
 * npm run fuzz -- --target minidump --execs 1000000 --max-seconds 1800  # stops early, says so
 * ```
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { TARGETS } from './targets.ts';
import { cpuMs, SLOT, type WorkerInput } from './progress.ts';

const { values } = parseArgs({
  options: {
    target: { type: 'string', multiple: true },
    execs: { type: 'string', default: '10000' },
    'timeout-ms': { type: 'string', default: '5000' },
    'wall-timeout-ms': { type: 'string', default: '60000' },
    'rss-mb': { type: 'string', default: '500' },
    seed: { type: 'string', default: '1' },
    corpus: { type: 'string', default: 'test/fuzz/corpus' },
    'max-seconds': { type: 'string' },
  },
});
const execs = Number(values.execs);
const timeoutMs = Number(values['timeout-ms']);
const wallTimeoutMs = Number(values['wall-timeout-ms']);
const rssLimit = Number(values['rss-mb']) * 1024 * 1024;
/** Wall-clock budget per target (ms), after which the run stops and says how far it got. */
const budgetMs = values['max-seconds'] === undefined ? Infinity : Number(values['max-seconds']) * 1000;
const names = values.target ?? TARGETS.map((t) => t.name);
const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
if (unknown.length) {
  console.error(`fuzz: unknown target ${unknown.join(', ')} (targets: ${TARGETS.map((t) => t.name).join(', ')})`);
  process.exit(2);
}

interface Result {
  target: string;
  execs: number;
  seconds: number;
  crashes: number;
  hangs: number;
  memory: number;
  /** The longest input in wall time and in the process's CPU time. */
  slowestMs: number;
  mostCpuMs: number;
  peakRssMb: number;
  /** Stopped by --max-seconds before its execs. */
  stopped: boolean;
}

/** The summary line of a target's run. */
function summary(result: Result, note = ''): string {
  return (
    `${result.target}: ${result.execs} execs${note} in ${result.seconds.toFixed(0)} s (${(result.execs / Math.max(result.seconds, 1e-3)).toFixed(0)}/s), ` +
    `${result.crashes} crashes, ${result.hangs} hangs (> ${timeoutMs} ms CPU or ${wallTimeoutMs} ms wall), ${result.memory} over ${values['rss-mb']} MB; ` +
    `slowest input ${result.slowestMs.toFixed(0)} ms wall, ${result.mostCpuMs.toFixed(0)} ms CPU; peak RSS ${result.peakRssMb.toFixed(0)} MB`
  );
}

/** The run in progress, for the summary printed when the fuzzer is interrupted. */
let inProgress: { result: Result; started: number; slots: () => Float64Array<ArrayBufferLike> } | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (inProgress) {
      const { result, started, slots } = inProgress;
      result.execs += slots()[SLOT.execs]!;
      result.slowestMs = Math.max(result.slowestMs, slots()[SLOT.slowest]!);
      result.mostCpuMs = Math.max(result.mostCpuMs, slots()[SLOT.mostCpu]!);
      result.seconds = (performance.now() - started) / 1000;
      console.log(summary(result, ` (interrupted by ${signal})`));
    }
    rmSync(scratch, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

/** Copies the input a stopped worker was running into the corpus. */
function keep(current: string, corpus: string, kind: 'hang' | 'memory', ext: string): string {
  mkdirSync(corpus, { recursive: true });
  const hash = createHash('sha1').update(readFileSync(current)).digest('hex').slice(0, 12);
  const path = join(corpus, `${kind}-${hash}${ext}`);
  copyFileSync(current, path);
  return path;
}

async function fuzz(name: string, scratch: string): Promise<Result> {
  const target = TARGETS.find((t) => t.name === name)!;
  const seeds = await target.seeds(scratch);
  const result: Result = { target: name, execs: 0, seconds: 0, crashes: 0, hangs: 0, memory: 0, slowestMs: 0, mostCpuMs: 0, peakRssMb: 0, stopped: false };
  if (seeds.length === 0) {
    console.log(`${name}: no seeds (a tool to make them is missing); skipped`);
    return result;
  }
  const corpus = join(values.corpus!, name);
  const current = join(scratch, `current-${name}${target.ext}`);
  const started = performance.now();
  let restarts = 0;
  let currentSlots: Float64Array<ArrayBufferLike> = new Float64Array(8);
  inProgress = { result, started, slots: () => currentSlots };
  while (result.execs < execs && !result.stopped) {
    const progress = new SharedArrayBuffer(8 * 8);
    const slots = new Float64Array(progress);
    currentSlots = slots;
    const data: WorkerInput = { target: name, seeds, current, corpus, seed: Number(values.seed) * 7919 + restarts++, execs: execs - result.execs, progress };
    const worker = new Worker(new URL('./worker-entry.js', import.meta.url), { workerData: data, resourceLimits: { maxOldGenerationSizeMb: Number(values['rss-mb']) } });
    const outcome = await new Promise<'done' | 'hang' | 'memory'>((resolve, reject) => {
      let lastReport = performance.now();
      const poll = setInterval(() => {
        const rss = process.memoryUsage.rss();
        result.peakRssMb = Math.max(result.peakRssMb, rss / (1024 * 1024));
        if (performance.now() - started > budgetMs && slots[SLOT.stop] === 0) {
          // Out of time: the worker ends after its current input (still watched for a hang).
          slots[SLOT.stop] = 1;
          result.stopped = true;
        }
        const running = slots[SLOT.running] === 1;
        if (running && (cpuMs() - slots[SLOT.startedCpu]! > timeoutMs || performance.timeOrigin + performance.now() - slots[SLOT.started]! > wallTimeoutMs)) finish('hang');
        else if (rss > rssLimit && slots[SLOT.running] === 1) finish('memory');
        if (performance.now() - lastReport > 10_000) {
          lastReport = performance.now();
          const slowest = Math.max(result.slowestMs, slots[SLOT.slowest]!);
          const mostCpu = Math.max(result.mostCpuMs, slots[SLOT.mostCpu]!);
          console.log(
            `${name}: ${result.execs + slots[SLOT.execs]!} execs in ${((performance.now() - started) / 1000).toFixed(0)} s, ${result.crashes} crashes, ${result.hangs} hangs, ` +
              `${result.memory} over memory; slowest ${slowest.toFixed(0)} ms wall, ${mostCpu.toFixed(0)} ms CPU; peak RSS ${result.peakRssMb.toFixed(0)} MB`,
          );
        }
      }, 50);
      const finish = (why: 'done' | 'hang' | 'memory'): void => {
        clearInterval(poll);
        void worker.terminate().then(() => resolve(why));
      };
      worker.on('message', (message: { kind: string; file?: string; signature?: string }) => {
        if (message.kind === 'crash') {
          result.crashes++;
          console.log(`${name}: CRASH ${message.signature} -> ${message.file}`);
        } else if (message.kind === 'done') finish('done');
      });
      worker.on('error', (error: Error & { code?: string }) => {
        if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') return finish('memory');
        // Not an input's doing (the harness itself failed): stop with its message.
        clearInterval(poll);
        reject(error);
      });
    });
    result.execs += slots[SLOT.execs]!;
    result.slowestMs = Math.max(result.slowestMs, slots[SLOT.slowest]!);
    result.mostCpuMs = Math.max(result.mostCpuMs, slots[SLOT.mostCpu]!);
    if (outcome !== 'done') {
      result.execs++;
      if (outcome === 'hang') result.hangs++;
      else result.memory++;
      const kept = keep(current, corpus, outcome, target.ext);
      console.log(`${name}: ${outcome.toUpperCase()} -> ${kept}`);
      if (outcome === 'hang') result.mostCpuMs = Math.max(result.mostCpuMs, cpuMs() - slots[SLOT.startedCpu]!);
    }
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

// Each input is written to a file before it runs (the parsers open paths): in memory
// (/dev/shm) where there is one, which makes a write ~0.2 ms instead of ~3 ms on disk.
const scratch = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'faultline-fuzz-'));
try {
  const results: Result[] = [];
  for (const name of names) {
    const result = await fuzz(name, scratch);
    results.push(result);
    console.log(summary(result, result.stopped ? ` (stopped at --max-seconds ${values['max-seconds']})` : ''));
  }
  process.exitCode = results.some((r) => r.crashes + r.hangs + r.memory > 0) ? 1 : 0;
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
