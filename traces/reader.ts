/**
 * Reads trace files (FORMAT.md): whole, with `readTrace`, or while another
 * process still writes them, with `TraceFollower`. A file cut anywhere (an
 * interrupted run) reads as the messages before the cut with
 * `truncated: true`; only bytes that are not a trace throw.
 *
 * @example
 * ```ts
 * const trace = readTrace('run.fltrace');
 * if (trace.truncated) console.warn('the run was interrupted; showing what it recorded');
 * for (const insn of instructionsOf(trace.header!, trace.batches, trace.events)) console.log(insn.pc.toString(16));
 * ```
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import type { TraceMessage } from './codec.ts';
import { TraceDecoder } from './decoder.ts';
import { TraceFormatError } from './errors.ts';
import type { TraceBatch, TraceEvent, TraceHeader } from './model.ts';
import { BlockExpander } from './replay.ts';

export { instructionsOf, type TraceContents } from './instructions.ts';
import type { InstructionRange } from './instructions.ts';

/** Everything a trace file holds. */
export interface TraceFile {
  /** Absent only when the file was cut before its header message was complete. */
  header?: TraceHeader;
  batches: TraceBatch[];
  /** Every event in file order: those inside batches and those written alone. */
  events: TraceEvent[];
  /** The end message is missing: the run was interrupted or the file is still being written. */
  truncated: boolean;
  /** Bytes after the last complete message (part of a message that was being written). */
  trailingBytes: number;
  /** Why the run stopped, from the end message. */
  stopReason?: string;
}

function ioError(path: string, error: unknown): TraceFormatError {
  return new TraceFormatError(`Cannot read trace ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { code: 'io' });
}

/** Adds decoded messages to `into`; version-2 batches of blocks are replayed into per-instruction batches. */
function collect(into: TraceFile, messages: readonly TraceMessage[], expander: () => BlockExpander): void {
  for (const message of messages) {
    switch (message.type) {
      case 'header': into.header ??= message.header; break;
      case 'batch': into.batches.push(message.batch); into.events.push(...message.batch.events); break;
      case 'blocks':
        into.batches.push(...expander().expand(message.batch));
        into.events.push(...message.batch.events);
        break;
      case 'event': into.events.push(message.event); break;
      case 'end': if (message.reason !== undefined) into.stopReason = message.reason; break;
      case 'unknown': break;
    }
  }
}

function requireHeader(trace: TraceFile): TraceHeader {
  if (!trace.header) throw new TraceFormatError('A blocks message comes before the trace header', { code: 'bad-message' });
  return trace.header;
}

/** Reads a whole trace from its bytes or its path. */
export function readTrace(source: Uint8Array | string): TraceFile {
  let bytes: Uint8Array;
  if (typeof source === 'string') {
    try {
      // A directory, FIFO or device is refused before it is read (a FIFO would block, /dev/zero never end).
      if (!statSync(source).isFile()) throw new TraceFormatError(`Cannot read trace ${source}: not a regular file`, { code: 'io' });
      bytes = readFileSync(source);
    } catch (error) {
      if (error instanceof TraceFormatError) throw error;
      throw ioError(source, error);
    }
  } else {
    bytes = source;
  }
  const decoder = new TraceDecoder();
  const trace: TraceFile = { batches: [], events: [], truncated: false, trailingBytes: 0 };
  let expander: BlockExpander | undefined;
  try {
    collect(trace, decoder.push(bytes), () => (expander ??= new BlockExpander(requireHeader(trace))));
  } finally {
    expander?.dispose();
  }
  trace.truncated = !decoder.ended;
  trace.trailingBytes = decoder.pendingBytes;
  return trace;
}

/**
 * Follows a trace file that may still be growing: each `readAvailable()`
 * returns the messages completed since the previous call. A file that does
 * not exist yet reads as empty until it appears.
 */
export class TraceFollower {
  private fd: number | undefined;
  private readonly decoder = new TraceDecoder();
  private fileOffset = 0;
  private currentHeader: TraceHeader | undefined;
  private readonly chunk = Buffer.allocUnsafe(1 << 20);

  constructor(readonly path: string) {}

  /** The header, once read. */
  get header(): TraceHeader | undefined {
    return this.currentHeader;
  }

  /** True once the end message was read: nothing more will come. */
  get ended(): boolean {
    return this.decoder.ended;
  }

  /** New complete messages since the last call (possibly none). */
  readAvailable(): TraceMessage[] {
    if (this.decoder.ended) return [];
    if (this.fd === undefined) {
      try {
        if (!statSync(this.path).isFile()) throw new TraceFormatError(`Cannot read trace ${this.path}: not a regular file`, { code: 'io' });
        this.fd = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
      } catch (error) {
        if (error instanceof TraceFormatError) throw error;
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw ioError(this.path, error);
      }
    }
    const messages: TraceMessage[] = [];
    try {
      const size = fstatSync(this.fd).size;
      while (this.fileOffset < size && !this.decoder.ended) {
        const n = readSync(this.fd, this.chunk, 0, Math.min(this.chunk.length, size - this.fileOffset), this.fileOffset);
        if (n === 0) break;
        this.fileOffset += n;
        // The decoder may keep the bytes it cannot decode yet, so it gets a copy of the shared chunk.
        messages.push(...this.decoder.push(new Uint8Array(this.chunk.subarray(0, n))));
      }
    } catch (error) {
      if (error instanceof TraceFormatError) throw error;
      throw ioError(this.path, error);
    }
    for (const message of messages) if (message.type === 'header') this.currentHeader ??= message.header;
    return messages;
  }

  /** Releases the file. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * A trace read batch by batch, for printing one of any length in flat
 * memory: the summary (header, events, instruction range, end) comes from a
 * first pass over the file; `batches()` reads it again and yields each
 * batch (version-2 blocks replayed into per-instruction batches) as it goes.
 */
export interface TraceStream {
  header?: TraceHeader;
  events: TraceEvent[];
  truncated: boolean;
  stopReason?: string;
  /** Instructions in all batches. */
  instructions: number;
  range: InstructionRange | null;
  batches(): Generator<TraceBatch>;
}

/** The messages of the trace at `path`, read in 1 MiB chunks; `state` learns whether the end message came. */
function* messagesOf(path: string, state: { ended: boolean; pending: number }): Generator<TraceMessage> {
  let fd: number;
  try {
    // A directory, FIFO or device is refused before it is opened (a FIFO would block, /dev/zero never end).
    if (!statSync(path).isFile()) throw new TraceFormatError(`Cannot read trace ${path}: not a regular file`, { code: 'io' });
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if (error instanceof TraceFormatError) throw error;
    throw ioError(path, error);
  }
  try {
    const decoder = new TraceDecoder();
    const chunk = Buffer.allocUnsafe(1 << 20);
    let offset = 0;
    while (!decoder.ended) {
      let n: number;
      try {
        n = readSync(fd, chunk, 0, chunk.length, offset);
      } catch (error) {
        throw ioError(path, error);
      }
      if (n === 0) break;
      offset += n;
      yield* decoder.push(new Uint8Array(chunk.subarray(0, n)));
    }
    state.ended = decoder.ended;
    state.pending = decoder.pendingBytes;
  } finally {
    closeSync(fd);
  }
}

/** Opens the trace at `path` for reading batch by batch (see `TraceStream`). */
export function streamTrace(path: string): TraceStream {
  const state = { ended: false, pending: 0 };
  const summary: TraceStream = { events: [], truncated: false, instructions: 0, range: null, batches: () => batchesOf(path, summary) };
  let first: number | undefined;
  let last = 0;
  for (const message of messagesOf(path, state)) {
    switch (message.type) {
      case 'header': summary.header ??= message.header; break;
      case 'batch':
      case 'blocks':
        summary.events.push(...message.batch.events);
        summary.instructions += message.batch.count;
        if (message.batch.count > 0) {
          first ??= message.batch.first;
          last = message.batch.first + message.batch.count - 1;
        }
        break;
      case 'event': summary.events.push(message.event); break;
      case 'end': if (message.reason !== undefined) summary.stopReason = message.reason; break;
      case 'unknown': break;
    }
  }
  summary.truncated = !state.ended;
  summary.range = first === undefined ? null : { first, last };
  return summary;
}

function* batchesOf(path: string, summary: TraceStream): Generator<TraceBatch> {
  let expander: BlockExpander | undefined;
  try {
    for (const message of messagesOf(path, { ended: false, pending: 0 })) {
      if (message.type === 'batch') yield message.batch;
      if (message.type === 'blocks') {
        if (!summary.header) throw new TraceFormatError('A blocks message comes before the trace header', { code: 'bad-message' });
        expander ??= new BlockExpander(summary.header);
        yield* expander.expand(message.batch);
      }
    }
  } finally {
    expander?.dispose();
  }
}
