/**
 * Splits the bytes of a trace file into messages as they arrive: checks the
 * 8-byte prefix, decodes every complete msgpack message and keeps an
 * incomplete last one until more bytes come. A file cut anywhere therefore
 * yields every message before the cut, never an error; bytes that are not a
 * trace, or a message that is malformed, throw `TraceFormatError`.
 *
 * @example
 * ```ts
 * const decoder = new TraceDecoder();
 * const messages = decoder.push(readFileSync('run.fltrace'));
 * if (!decoder.ended) console.log(`cut short, ${decoder.pendingBytes} bytes of a message lost`);
 * ```
 */
import { FORMAT_VERSION, PRELUDE_SIZE, TRACE_MAGIC, decodeMessage, unpackr, type TraceMessage } from './codec.ts';
import { TraceFormatError } from './errors.ts';

const MAGIC_TEXT = TRACE_MAGIC.subarray(0, PRELUDE_SIZE - 1);

function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Incremental decoder of one trace stream. */
export class TraceDecoder {
  /** Bytes received but not yet decoded (the start of an incomplete message). */
  private pending: Uint8Array = new Uint8Array(0);
  /** File offset of `pending[0]`. */
  private offset = 0;
  private preludeSeen = false;
  private nextFirst = 0;
  private sawEnd = false;

  /** True once the end message was decoded; later bytes are ignored. */
  get ended(): boolean {
    return this.sawEnd;
  }

  /** Bytes held back because the message they start is not complete yet. */
  get pendingBytes(): number {
    return this.pending.length;
  }

  /** Bytes consumed so far: the file offset where the next message starts. */
  get position(): number {
    return this.offset;
  }

  /** Adds the next bytes of the stream and returns the messages they complete. */
  push(chunk: Uint8Array): TraceMessage[] {
    if (this.sawEnd || chunk.length === 0) return [];
    this.append(chunk);
    if (!this.preludeSeen && !this.readPrelude()) return [];
    const values: Array<{ value: unknown; start: number; end: number }> = [];
    let consumed = 0;
    let malformed: TraceFormatError | undefined;
    if (this.pending.length > 0) {
      try {
        unpackr.unpackMultiple(this.pending, (value: unknown, start = 0, end = 0) => {
          values.push({ value, start, end });
          consumed = end;
        });
      } catch (error) {
        if (!(error as { incomplete?: boolean }).incomplete) {
          const at = this.offset + ((error as { lastPosition?: number }).lastPosition ?? consumed);
          malformed = new TraceFormatError(`Malformed message at byte ${at}: ${(error as Error).message}`, { offset: at, code: 'bad-message' });
        }
      }
    }
    const messages: TraceMessage[] = [];
    let used = consumed;
    for (const { value, start, end } of values) {
      let message: TraceMessage;
      try {
        message = decodeMessage(value, this.nextFirst);
      } catch (error) {
        if (error instanceof TraceFormatError) {
          throw new TraceFormatError(`Message at byte ${this.offset + start}: ${error.message}`, { offset: this.offset + start, code: error.code });
        }
        throw error;
      }
      messages.push(message);
      if (message.type === 'batch' || message.type === 'blocks') this.nextFirst = message.batch.first + message.batch.count;
      if (message.type === 'end') {
        this.sawEnd = true;
        used = end;
        break;
      }
    }
    // After the end message nothing more is read: later bytes are not part of this trace.
    if (malformed && !this.sawEnd) throw malformed;
    this.pending = this.sawEnd ? new Uint8Array(0) : this.pending.subarray(used);
    this.offset += used;
    return messages;
  }

  private append(chunk: Uint8Array): void {
    if (this.pending.length === 0) {
      this.pending = chunk;
      return;
    }
    const joined = new Uint8Array(this.pending.length + chunk.length);
    joined.set(this.pending, 0);
    joined.set(chunk, this.pending.length);
    this.pending = joined;
  }

  /** Checks the 8-byte prefix; false while fewer than 8 bytes have arrived. */
  private readPrelude(): boolean {
    const have = this.pending.subarray(0, Math.min(this.pending.length, MAGIC_TEXT.length));
    if (!have.every((byte, i) => byte === MAGIC_TEXT[i])) {
      throw new TraceFormatError(
        `Not a faultline trace: it starts with ${hexOf(this.pending.subarray(0, PRELUDE_SIZE))}, expected ${hexOf(MAGIC_TEXT)} ("FLTRACE")`,
        { offset: 0, code: 'bad-magic' },
      );
    }
    if (this.pending.length < PRELUDE_SIZE) return false;
    const version = this.pending[PRELUDE_SIZE - 1]!;
    if (version === 0 || version > FORMAT_VERSION) {
      throw new TraceFormatError(`Trace format version ${version} is not supported; this reader knows 1 to ${FORMAT_VERSION}`, { offset: PRELUDE_SIZE - 1, code: 'unsupported-version' });
    }
    this.preludeSeen = true;
    this.pending = this.pending.subarray(PRELUDE_SIZE);
    this.offset += PRELUDE_SIZE;
    return true;
  }
}
