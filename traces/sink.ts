/**
 * Where a recorder hands its batches: the trace writer (to a file), the
 * in-memory `TraceBuffer`, or anything else that wants instructions as they
 * are recorded. The batch and its arrays become the sink's to keep; the
 * recorder never touches them again.
 *
 * @example
 * ```ts
 * let instructions = 0;
 * const counter: TraceSink = { onBatch: (batch) => { instructions += batch.count; } };
 * ```
 */
import type { TraceBatch } from './model.ts';

/** Receives each batch once, in recording order. */
export interface TraceSink {
  onBatch(batch: TraceBatch): void;
}
