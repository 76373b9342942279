/**
 * Writes a trace file (FORMAT.md) as the run goes: the header, then each
 * batch as one complete message in one `fs.writeSync`, then an end message.
 * A run killed at any point leaves a valid prefix the reader accepts.
 * `writeTraceFile` is the all-or-nothing variant for finished traces: it
 * writes beside the target and renames, so the path never holds half a file.
 *
 * @example
 * ```ts
 * const writer = TraceWriter.open('run.fltrace');
 * writer.writeHeader(header);
 * const recorder = Recorder.attach(emu, writer); // the writer is a TraceSink
 * emu.run({ from: 0x401000n, count: 1000 });
 * writer.close('1000 instructions');
 * ```
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync, writevSync } from 'node:fs';
import { constants } from 'node:os';
import { nativeWriter, type NativeWriterLibrary } from '../emu/native.ts';
import { encodeBatch, encodeBlocks, encodeBlocksParts, encodeEnd, encodeEvent, encodePrelude } from './codec.ts';
import { TraceFormatError } from './errors.ts';
import type { TraceBatch, TraceBlockBatch, TraceEvent, TraceHeader } from './model.ts';
import type { TraceSink } from './sink.ts';

export { TraceBuffer } from './buffer.ts';

/** Where a writer puts bytes: a file descriptor, or anything with a `write(chunk)` (a Node stream). */
export type TraceTarget = number | { write(chunk: Uint8Array): unknown };

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

export class TraceWriter implements TraceSink {
  private state: 'new' | 'open' | 'closed' = 'new';
  private instructionCount = 0;
  /** Instruction bytes already in the file, by address: each is stored once unless it changes. */
  private readonly storedCode = new Map<bigint, Uint8Array>();
  /** The native writer thread the bytes go through (`background`), until `close`. */
  private background: { lib: NativeWriterLibrary; handle: unknown } | undefined;

  /**
   * A writer appending to `target`. `name` is used in error messages (a path);
   * `ownsFd` makes `close` close the descriptor. `background` (a descriptor,
   * with the native library built) writes on a thread of its own in chunks
   * of messages, so a long run does not wait for the disk; `close` waits for
   * them. Without it each message is written before the call returns (what a
   * reader following the file needs).
   */
  constructor(
    private readonly target: TraceTarget,
    private readonly options: { name?: string; ownsFd?: boolean; background?: boolean } = {},
  ) {
    const lib = options.background && typeof target === 'number' ? nativeWriter() : undefined;
    const handle = lib?.ft_writer_new(target);
    if (lib && handle) this.background = { lib, handle };
  }

  /** Creates (or truncates) `path` and returns a writer that owns it (`background`: see the constructor). */
  static open(path: string, options: { background?: boolean } = {}): TraceWriter {
    let fd: number;
    try {
      fd = openSync(path, 'w');
    } catch (error) {
      throw new TraceFormatError(`Cannot create trace file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { code: 'io' });
    }
    return new TraceWriter(fd, { name: path, ownsFd: true, ...options });
  }

  /** Instructions written so far. */
  get instructions(): number {
    return this.instructionCount;
  }

  /** Writes the file prefix and the header; must come first, once. */
  writeHeader(header: TraceHeader): void {
    if (this.state !== 'new') throw this.misuse(`writeHeader() called when the writer is ${this.state === 'open' ? 'past its header' : 'closed'}`);
    this.emit(encodePrelude(header));
    this.state = 'open';
  }

  /** Writes one batch as one message. Instruction bytes already in the file are not repeated. */
  writeBatch(batch: TraceBatch): void {
    this.requireOpen('writeBatch');
    this.emit(encodeBatch(batch, this.newCode(batch.code)));
    this.instructionCount += batch.count;
  }

  /** Writes one version-2 batch of blocks (views are encoded at once; the header must say version 2). */
  writeBlocks(batch: TraceBlockBatch): void {
    this.requireOpen('writeBlocks');
    if (typeof this.target === 'number') this.emitParts(encodeBlocksParts(batch));
    else this.emit(encodeBlocks(batch));
    this.instructionCount += batch.count;
  }

  /** The block recorder's sink interface: same as `writeBlocks`. */
  onBlocks(batch: TraceBlockBatch): void {
    this.writeBlocks(batch);
  }

  /** The sink interface: same as `writeBatch`. */
  onBatch(batch: TraceBatch): void {
    this.writeBatch(batch);
  }

  /** Writes an event that did not come in a batch (an injected fault, a stop decided outside the recorder). */
  writeEvent(event: TraceEvent): void {
    this.requireOpen('writeEvent');
    this.emit(encodeEvent(event));
  }

  /** Writes the end message with why the run stopped and releases the descriptor if the writer owns it. */
  close(stopReason?: string): void {
    if (this.state === 'closed') return;
    try {
      if (this.state === 'open') this.emit(encodeEnd(stopReason, this.instructionCount));
    } finally {
      this.state = 'closed';
      const background = this.background;
      this.background = undefined;
      try {
        if (background) this.check(background.lib.ft_writer_free(background.handle) as number);
      } finally {
        if (this.options.ownsFd && typeof this.target === 'number') closeSync(this.target);
      }
    }
  }

  /** Throws the trace's io error for an errno the native writer returned (0: none). */
  private check(errno: number): void {
    if (errno === 0) return;
    const code = Object.entries(constants.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`;
    throw new TraceFormatError(`Cannot write trace to ${this.options.name ?? `descriptor ${String(this.target)}`}: ${code}`, { code: 'io' });
  }

  /** Hands `parts` (one message) to the writer thread. */
  private emitBackground(background: { lib: NativeWriterLibrary; handle: unknown }, parts: Uint8Array[]): void {
    for (const part of parts) if (part.length) this.check(background.lib.ft_writer_write(background.handle, part, part.length) as number);
    this.check(background.lib.ft_writer_end_message(background.handle) as number);
  }

  private newCode(code: ReadonlyMap<bigint, Uint8Array>): ReadonlyMap<bigint, Uint8Array> {
    let fresh: Map<bigint, Uint8Array> | undefined;
    for (const [address, bytes] of code) {
      const stored = this.storedCode.get(address);
      if (stored && sameBytes(stored, bytes)) continue;
      this.storedCode.set(address, bytes);
      (fresh ??= new Map()).set(address, bytes);
    }
    return fresh ?? new Map();
  }

  private emit(bytes: Uint8Array): void {
    if (this.background) return this.emitBackground(this.background, [bytes]);
    if (typeof this.target !== 'number') {
      // The encoder reuses its buffer and a stream may hold the chunk past this call: give it a copy.
      this.target.write(new Uint8Array(bytes));
      return;
    }
    let done = 0;
    try {
      while (done < bytes.length) done += writeSync(this.target, bytes, done, bytes.length - done);
    } catch (error) {
      const where = this.options.name ?? `descriptor ${this.target}`;
      throw new TraceFormatError(`Cannot write trace to ${where}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { code: 'io' });
    }
  }

  /** Writes `parts` as one message with `writev`, the large ones straight from where they are. */
  private emitParts(parts: Uint8Array[]): void {
    if (this.background) return this.emitBackground(this.background, parts);
    const fd = this.target as number;
    const total = parts.reduce((n, p) => n + p.length, 0);
    let done = 0;
    try {
      while (done < total) {
        if (done === 0) {
          done += writevSync(fd, parts);
          continue;
        }
        // A short write: the rest part by part.
        let skip = done;
        for (const part of parts) {
          if (skip >= part.length) { skip -= part.length; continue; }
          let at = skip;
          while (at < part.length) at += writeSync(fd, part, at, part.length - at);
          skip = 0;
        }
        done = total;
      }
    } catch (error) {
      const where = this.options.name ?? `descriptor ${fd}`;
      throw new TraceFormatError(`Cannot write trace to ${where}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { code: 'io' });
    }
  }

  private requireOpen(call: string): void {
    if (this.state !== 'open') throw this.misuse(`${call}() called ${this.state === 'new' ? 'before writeHeader()' : 'after close()'}`);
  }

  private misuse(message: string): TraceFormatError {
    return new TraceFormatError(`Trace writer for ${this.options.name ?? `descriptor ${String(this.target)}`}: ${message}`, { code: 'usage' });
  }
}

/**
 * Writes a whole trace to `path` or nothing, as `write` produces it: the
 * bytes go to `path.tmp-<pid>` (which a reader can follow while the run
 * goes on), are flushed to disk, and the file is renamed over `path`. If
 * `write` throws, the temporary file is removed and the error rethrown.
 * `write` returns the stop reason for the end message. `background`: the
 * bytes are written on a thread of the native library (see TraceWriter).
 */
export function writeTraceFileWith(path: string, write: (writer: TraceWriter) => string | undefined, options: { background?: boolean } = {}): void {
  const temporary = `${path}.tmp-${process.pid}`;
  let fd: number | undefined;
  let writer: TraceWriter | undefined;
  try {
    try {
      fd = openSync(temporary, 'w');
    } catch (error) {
      throw new TraceFormatError(`Cannot create ${temporary} to write trace ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { code: 'io' });
    }
    writer = new TraceWriter(fd, { name: temporary, ...options });
    const stopReason = write(writer);
    writer.close(stopReason);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temporary, path);
  } catch (error) {
    try {
      writer?.close(); // stops a background writer before its descriptor closes
    } catch {
      // The error being reported comes first.
    }
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(temporary);
    } catch {
      // Nothing was created, or it is already gone.
    }
    if (error instanceof TraceFormatError || !(error as NodeJS.ErrnoException).code) throw error;
    throw new TraceFormatError(`Cannot write trace ${path}: ${(error as NodeJS.ErrnoException).code}`, { code: 'io' });
  }
}

/** Writes a whole trace, already in memory, to `path` or nothing (see `writeTraceFileWith`). */
export function writeTraceFile(
  path: string,
  header: TraceHeader,
  batches: Iterable<TraceBatch>,
  options: { events?: readonly TraceEvent[]; stopReason?: string } = {},
): void {
  writeTraceFileWith(path, (writer) => {
    writer.writeHeader(header);
    for (const batch of batches) writer.writeBatch(batch);
    for (const event of options.events ?? []) writer.writeEvent(event);
    return options.stopReason;
  });
}
