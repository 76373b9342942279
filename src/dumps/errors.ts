/**
 * The error a dump parser throws for bad input: the file, where in it, and a
 * stable code scripts can match.
 *
 * @example
 * ```ts
 * throw new DumpFormatError('minidump', 'crash.dmp', 'Stream directory at offset 0x20 runs past the end of the file (16 bytes)', { offset: 0x20n, code: 'truncated' });
 * ```
 */
export type DumpErrorCode = 'truncated' | 'bad-magic' | 'bad-field' | 'unsupported' | 'conflict' | 'io';

export class DumpFormatError extends Error {
  override readonly name = 'DumpFormatError';
  readonly format: string;
  readonly path: string;
  readonly offset?: bigint;
  /** 1-based line, for text formats. */
  readonly line?: number;
  readonly code: DumpErrorCode;

  constructor(
    format: string,
    path: string,
    message: string,
    where: { offset?: bigint; line?: number; code?: DumpErrorCode } = {},
  ) {
    super(message);
    this.format = format;
    this.path = path;
    this.offset = where.offset;
    this.line = where.line;
    this.code = where.code ?? 'bad-field';
  }

  /** `path:line: message` or `path: message`, for the one line the CLI prints. */
  describe(): string {
    const at = this.line !== undefined ? `:${this.line}` : '';
    return `${this.path}${at}: ${this.message}`;
  }
}
