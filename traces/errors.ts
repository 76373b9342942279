/**
 * The error the trace reader and writer throw for input that is not a
 * faultline trace, or a call made out of order: where in the file (byte
 * offset, message number) and a stable code scripts can match. A trace that
 * merely stops early is not an error: the reader reports `truncated`.
 *
 * @example
 * ```ts
 * throw new TraceFormatError('Not a faultline trace: file starts with 7f454c46, expected 464c5452414345', { offset: 0, code: 'bad-magic' });
 * ```
 */
export type TraceErrorCode = 'bad-magic' | 'unsupported-version' | 'bad-message' | 'bad-field' | 'usage' | 'io';

export class TraceFormatError extends Error {
  override readonly name = 'TraceFormatError';
  /** Byte offset in the file of the message (or field) at fault, when known. */
  readonly offset?: number;
  readonly code: TraceErrorCode;

  constructor(message: string, where: { offset?: number; code?: TraceErrorCode } = {}) {
    super(message);
    this.offset = where.offset;
    this.code = where.code ?? 'bad-field';
  }
}
