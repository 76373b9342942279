/**
 * The fuzzer's worker thread: mutates seeds, writes each input to the
 * `current` file (so the main thread can keep it if the input hangs or eats
 * memory and the thread is stopped), runs the target on it, and saves
 * inputs that crash. Progress is shared through `Float64Array` slots the
 * main thread polls (see main.ts).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { workerData, parentPort } from 'node:worker_threads';
import { InputFile } from './input-file.ts';
import { fieldOffsets, MAX_INPUT, mutateBinary, MutationBuffers, mutateText, seededRandom } from './mutate.ts';
import { cpuMs, SLOT, type WorkerInput } from './progress.ts';
import { isExpectedError, TARGETS } from './targets.ts';

const input = workerData as WorkerInput;
const target = TARGETS.find((t) => t.name === input.target)!;
const progress = new Float64Array(input.progress);
const random = seededRandom(input.seed);
const seeds = input.seeds.map((s) => Uint8Array.from(s.bytes));
const fields = seeds.map((s) => fieldOffsets(s));
const texts = seeds.map((s) => Buffer.from(s).toString('utf8'));
const seen = new Set<string>();
const largest = Math.max(MAX_INPUT, ...seeds.map((s) => s.length));
const buffers = new MutationBuffers(largest);

/** Where each input is written (in place, from the first piece that differs from the last input). */
const file = new InputFile(input.current, Math.max(largest, 3 * MAX_INPUT));

/** Saves `bytes` as a crash in the corpus (once per crash signature). */
function saveCrash(bytes: Uint8Array, error: unknown): void {
  const e = error as Error;
  const signature = `${e?.name}: ${String(e?.message).slice(0, 80)} @ ${(e?.stack ?? '').split('\n')[1]?.trim()}`;
  if (seen.has(signature)) return;
  seen.add(signature);
  mkdirSync(input.corpus, { recursive: true });
  const name = `crash-${createHash('sha1').update(bytes).digest('hex').slice(0, 12)}${target.ext}`;
  const path = join(input.corpus, name);
  if (!existsSync(path)) writeFileSync(path, bytes);
  parentPort!.postMessage({ kind: 'crash', file: path, signature });
}

for (let n = 0; n < input.execs && progress[SLOT.stop] === 0; n++) {
  const which = random(seeds.length);
  const bytes = target.kind === 'text'
    ? Buffer.from(mutateText(texts[which]!, texts, random), 'utf8')
    : mutateBinary(seeds[which]!, seeds, random, fields[which], buffers);
  file.write(bytes);
  const started = performance.now();
  const startedCpu = cpuMs();
  progress[SLOT.started] = performance.timeOrigin + started;
  progress[SLOT.startedCpu] = startedCpu;
  progress[SLOT.running] = 1;
  try {
    await target.run(input.current);
  } catch (error) {
    if (!isExpectedError(error)) saveCrash(bytes, error);
  }
  progress[SLOT.running] = 0;
  progress[SLOT.slowest] = Math.max(progress[SLOT.slowest]!, performance.now() - started);
  progress[SLOT.mostCpu] = Math.max(progress[SLOT.mostCpu]!, cpuMs() - startedCpu);
  progress[SLOT.execs]! += 1;
}
file.close();
parentPort!.postMessage({ kind: 'done' });
