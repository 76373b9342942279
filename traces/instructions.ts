/**
 * Expands columnar batches into one `TraceInstruction` per executed
 * instruction, for printing and exports: registers named through the
 * header, instruction bytes looked up in the code maps of this and earlier
 * batches, events attached to the instruction they name.
 *
 * @example
 * ```ts
 * const { header, batches, events } = readTrace('run.fltrace');
 * for (const insn of instructionsOf(header!, batches, events)) console.log(insn.pc.toString(16));
 * ```
 */
import type { RegisterName } from '../emu/registers.ts';
import type { MemoryAccess, TraceBatch, TraceEvent, TraceHeader, TraceInstruction } from './model.ts';

/** Sequence numbers of a trace's first and last instruction. */
export interface InstructionRange {
  first: number;
  last: number;
}

/**
 * What exporters take: a header, its batches and, optionally, every event
 * (else the batches' own). Batches may be a one-pass stream (a trace read
 * batch by batch) when `events` and `range` are given.
 */
export interface TraceContents {
  header: TraceHeader;
  batches: Iterable<TraceBatch>;
  /** All events of the trace; when absent, the events carried by the batches. */
  events?: readonly TraceEvent[];
  /** The first and last instruction (absent: found from the batches, which are then read twice; null: no instructions). */
  range?: InstructionRange | null;
  /** Why the run stopped, from the end message. */
  stopReason?: string;
}

/** The events of `trace`: the explicit list, or those the batches carry. */
export function eventsOf(trace: Pick<TraceContents, 'batches' | 'events'>): readonly TraceEvent[] {
  return trace.events ?? [...trace.batches].flatMap((batch) => batch.events);
}

/** The first and last instruction of `batches`, or null when they hold none. */
export function rangeOf(batches: Iterable<TraceBatch>): InstructionRange | null {
  let first: number | undefined;
  let last: number | undefined;
  for (const batch of batches) {
    if (batch.count === 0) continue;
    first ??= batch.first;
    last = batch.first + batch.count - 1;
  }
  return first === undefined || last === undefined ? null : { first, last };
}

/**
 * The instructions of `batches` in order. An event is attached to the
 * instruction whose sequence number is its `index`; one past the last
 * instruction goes to the last, one before the first to the first. With no
 * instructions, nothing is yielded (callers print `events` themselves).
 */
export function* instructionsOf(
  header: TraceHeader,
  batches: Iterable<TraceBatch>,
  events?: readonly TraceEvent[],
  range?: InstructionRange | null,
): Generator<TraceInstruction> {
  const known = range === undefined ? rangeOf(batches) : range;
  if (!known) return;
  const { first: firstIndex, last: lastIndex } = known;
  const byIndex = new Map<number, TraceEvent[]>();
  for (const event of events ?? [...batches].flatMap((b) => b.events)) {
    const at = Math.min(Math.max(event.index, firstIndex), lastIndex);
    const list = byIndex.get(at);
    if (list) list.push(event);
    else byIndex.set(at, [event]);
  }
  const names = header.registers;
  const code = new Map<bigint, Uint8Array>();
  for (const batch of batches) {
    for (const [address, bytes] of batch.code) code.set(address, bytes);
    for (let i = 0; i < batch.count; i++) {
      const index = batch.first + i;
      const pc = batch.pc[i]!;
      const changed: Array<[RegisterName, bigint]> = [];
      for (let j = batch.regStart[i]!; j < batch.regStart[i + 1]!; j++) {
        const r = batch.regIndex[j]!;
        changed.push([(names[r] ?? `r${r}`) as RegisterName, batch.regValue[j]!]);
      }
      const memory: MemoryAccess[] = [];
      for (let j = batch.memStart[i]!; j < batch.memStart[i + 1]!; j++) {
        memory.push({ kind: batch.memKind[j] ? 'write' : 'read', address: batch.memAddress[j]!, size: batch.memSize[j]!, value: batch.memValue[j]! });
      }
      const insn: TraceInstruction = { index, pc, size: batch.size[i]!, changed, memory, events: byIndex.get(index) ?? [] };
      const bytes = code.get(pc);
      if (bytes) insn.bytes = bytes;
      yield insn;
    }
  }
}
