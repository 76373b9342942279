/**
 * Reads the file the single-step helper writes (its layout is documented at
 * the top of `native/stepper.c`), record by record, through bounded reads:
 * a recording of millions of instructions is never in memory whole.
 *
 * @example
 * ```ts
 * const file = StepFile.open('/tmp/run.steps');
 * for (let r = file.next(); r; r = file.next()) if (r.type === 'instruction') console.log(r.pc);
 * file.close();
 * ```
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { InputError } from '../errors.ts';

/** `struct user_regs_struct` (x86-64 Linux), in its order: the helper writes registers by these indices. */
export const USER_REGS = [
  'r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8', 'rax', 'rcx', 'rdx', 'rsi', 'rdi',
  'orig_rax', 'rip', 'cs', 'efl', 'rsp', 'ss', 'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs',
] as const;
export type UserRegister = (typeof USER_REGS)[number];

/** Registers an instruction or the kernel changed: `USER_REGS` indices and their new values. */
export interface RegisterChanges {
  index: number[];
  value: bigint[];
}

export type StepRecord =
  | { type: 'instruction'; pc: bigint; changes: RegisterChanges }
  | { type: 'code'; address: bigint; bytes: Uint8Array }
  | { type: 'signal'; signal: number; pc: bigint; changes: RegisterChanges; handler: boolean }
  | { type: 'end'; kind: 'exited' | 'killed' | 'budget'; value: number }
  /** A mapping appeared (zero-filled; `protection` bits 1 read, 2 write, 4 execute). */
  | { type: 'map'; address: bigint; size: bigint; protection: number }
  | { type: 'unmap'; address: bigint; size: bigint }
  /** Bytes the kernel wrote (or a new mapping's content). */
  | { type: 'write'; address: bigint; bytes: Uint8Array }
  /** Served mode: the registers now (every reply ends with one). */
  | { type: 'state'; registers: bigint[] }
  /** Served mode: the program made a system call at `pc` before reaching the breakpoint it was run to. */
  | { type: 'unexpected-syscall'; pc: bigint };

const MAGIC = 'FLSTEP1\0';

export class StepFile {
  private buffer = Buffer.alloc(0);
  private at = 0;
  private fileOffset = 0;
  private readonly chunk = Buffer.allocUnsafe(1 << 20);
  /** Registers when the program started (after execve), by `USER_REGS` index. */
  readonly start: bigint[];

  private constructor(private readonly fd: number, private readonly path: string, private readonly stream = false) {
    if (stream) this.failure();
    const magic = this.take(8, 'its signature').toString('latin1');
    if (magic !== MAGIC) throw new InputError(`${path}: not a single-step recording (signature ${JSON.stringify(magic)})`);
    const count = this.take(4, 'its register count').readUInt32LE(0);
    if (count !== USER_REGS.length) throw new InputError(`${path} at offset 0x8: register count ${count}, expected ${USER_REGS.length}`);
    const regs = this.take(8 * count, 'its start registers');
    this.start = Array.from({ length: count }, (_, i) => regs.readBigUInt64LE(8 * i));
  }

  static open(path: string): StepFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      throw new InputError(`Cannot read recording ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    try {
      return new StepFile(fd, path);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** Reads the helper's served-mode replies from `fd` (a FIFO: read as it comes, never by offset). */
  static fromStream(fd: number, name: string): StepFile {
    return new StepFile(fd, name, true);
  }

  /** A served helper that failed says why in a '!' record (where its header would be): thrown as one line. */
  private failure(): void {
    if (!this.available(1) || this.buffer[this.at] !== 0x21) return;
    this.at++;
    const n = this.take(4, 'a failure record').readUInt32LE(0);
    throw new InputError(`record: ${this.take(n, 'a failure message').toString('utf8')}`);
  }

  /** The next record, or undefined at the end of the file (a helper that was killed leaves no `end` record). */
  next(): StepRecord | undefined {
    if (!this.available(1)) return undefined;
    const offset = this.position();
    const tag = String.fromCharCode(this.take(1, 'a record tag')[0]!);
    switch (tag) {
      case 'I': {
        const pc = this.take(8, 'an instruction pc').readBigUInt64LE(0);
        return { type: 'instruction', pc, changes: this.changes() };
      }
      case 'C': {
        const head = this.take(9, 'a code record');
        const length = head[8]!;
        return { type: 'code', address: head.readBigUInt64LE(0), bytes: new Uint8Array(this.take(length, 'instruction bytes')) };
      }
      case 'S':
      case 'H': {
        const head = this.take(12, 'a signal record');
        return { type: 'signal', signal: head.readInt32LE(0), pc: head.readBigUInt64LE(4), changes: this.changes(), handler: tag === 'H' };
      }
      case 'E': {
        const body = this.take(8, 'the end record');
        const kind = body.readInt32LE(0);
        return { type: 'end', kind: kind === 0 ? 'exited' : kind === 1 ? 'killed' : 'budget', value: body.readInt32LE(4) };
      }
      case 'M': {
        const body = this.take(20, 'a mapping record');
        return { type: 'map', address: body.readBigUInt64LE(0), size: body.readBigUInt64LE(8), protection: body.readUInt32LE(16) };
      }
      case 'U': {
        const body = this.take(16, 'an unmapping record');
        return { type: 'unmap', address: body.readBigUInt64LE(0), size: body.readBigUInt64LE(8) };
      }
      case 'W': {
        const head = this.take(12, 'a memory record');
        const address = head.readBigUInt64LE(0);
        return { type: 'write', address, bytes: new Uint8Array(this.take(head.readUInt32LE(8), `the bytes written at 0x${address.toString(16)}`)) };
      }
      case 'Z': {
        const regs = this.take(8 * USER_REGS.length, 'a register state');
        return { type: 'state', registers: Array.from({ length: USER_REGS.length }, (_, i) => regs.readBigUInt64LE(8 * i)) };
      }
      case 'Y':
        return { type: 'unexpected-syscall', pc: this.take(8, 'a system call pc').readBigUInt64LE(0) };
      case '!': {
        this.at--;
        this.failure();
        return undefined;
      }
      default:
        throw new InputError(`${this.path} at offset 0x${offset.toString(16)}: unknown record tag 0x${tag.charCodeAt(0).toString(16)}`);
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  private changes(): RegisterChanges {
    const mask = this.take(4, 'a register mask').readUInt32LE(0);
    const index: number[] = [];
    for (let i = 0; i < USER_REGS.length; i++) if (mask & (1 << i)) index.push(i);
    if (mask >>> USER_REGS.length) throw new InputError(`${this.path} at offset 0x${(this.position() - 4).toString(16)}: register mask 0x${mask.toString(16)} names registers past ${USER_REGS.length}`);
    const values = this.take(8 * index.length, 'register values');
    return { index, value: index.map((_, k) => values.readBigUInt64LE(8 * k)) };
  }

  private position(): number {
    return this.fileOffset - (this.buffer.length - this.at);
  }

  private available(n: number): boolean {
    while (this.buffer.length - this.at < n) {
      const got = readSync(this.fd, this.chunk, 0, this.chunk.length, this.stream ? null : this.fileOffset);
      if (got === 0) return false;
      this.fileOffset += got;
      this.buffer = Buffer.concat([this.buffer.subarray(this.at), this.chunk.subarray(0, got)]);
      this.at = 0;
    }
    return true;
  }

  private take(n: number, what: string): Buffer {
    if (!this.available(n)) throw new InputError(`${this.path} at offset 0x${this.position().toString(16)}: the file ends inside ${what}`);
    const slice = this.buffer.subarray(this.at, this.at + n);
    this.at += n;
    return slice;
  }
}
