/**
 * A trace sink that keeps every batch in memory, for short runs and tests
 * (a long run should stream to a `TraceWriter` instead).
 *
 * @example
 * ```ts
 * const buffer = new TraceBuffer();
 * const recorder = Recorder.attach(emu, buffer);
 * emu.run({ from: 0x1000n, count: 100 });
 * console.log(buffer.instructions); // 100
 * ```
 */
import type { TraceBatch, TraceEvent } from './model.ts';
import type { TraceSink } from './sink.ts';

export class TraceBuffer implements TraceSink {
  /** The batches received, in order. */
  readonly batches: TraceBatch[] = [];

  onBatch(batch: TraceBatch): void {
    this.batches.push(batch);
  }

  /** Instructions received so far. */
  get instructions(): number {
    let total = 0;
    for (const batch of this.batches) total += batch.count;
    return total;
  }

  /** Every event carried by the batches, in order. */
  get events(): TraceEvent[] {
    return this.batches.flatMap((batch) => batch.events);
  }
}
