/**
 * A minimal client of the gdb remote serial protocol, enough to single-step
 * a program under qemu-user's gdbstub (`qemu-i386 -g PORT`): packets are
 * `$data#checksum`; after `QStartNoAckMode` no `+` acknowledgements are
 * exchanged. Requests are one at a time (the stub answers each in order).
 *
 * @example
 * ```ts
 * const stub = await GdbRemote.connect(1234);
 * const registers = await stub.request('g');   // hex of the register file
 * const stop = await stub.request('s');        // 'T05…' after one instruction, 'W00' when the program exited
 * stub.close();
 * ```
 */
import { connect, type Socket } from 'node:net';
import { InputError } from '../errors.ts';

function checksum(data: string): string {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum = (sum + data.charCodeAt(i)) & 0xff;
  return sum.toString(16).padStart(2, '0');
}

/** Expands the protocol's run-length encoding (`x*N`: the character repeated N − 29 more times). */
function expand(data: string): string {
  if (!data.includes('*')) return data;
  let out = '';
  for (let i = 0; i < data.length; i++) {
    if (data[i] === '*' && i > 0) {
      out += out[out.length - 1]!.repeat(data.charCodeAt(i + 1) - 29);
      i++;
    } else {
      out += data[i];
    }
  }
  return out;
}

export class GdbRemote {
  private buffer = '';
  private waiting: ((packet: string) => void) | undefined;
  private failure: Error | undefined;
  private acks = true;

  private constructor(private readonly socket: Socket, private readonly where: string) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('latin1');
      this.deliver();
    });
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new InputError(`${where}: the gdbstub closed the connection`)));
  }

  /** Connects to a stub on localhost:`port`, retrying while it starts (up to `timeoutMs`). */
  static async connect(port: number, timeoutMs = 10_000): Promise<GdbRemote> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = connect(port, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
        });
        const stub = new GdbRemote(socket, `localhost:${port}`);
        if ((await stub.request('QStartNoAckMode')) === 'OK') stub.acks = false;
        return stub;
      } catch (error) {
        if (Date.now() > deadline) throw new InputError(`Cannot reach the gdbstub on localhost:${port}: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** Sends one packet and returns the stub's reply (its data, run-length encoding expanded). */
  request(data: string): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.rejecter = reject;
      this.socket.write(`$${data}#${checksum(data)}`);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private rejecter: ((error: Error) => void) | undefined;

  private fail(error: Error): void {
    this.failure ??= error;
    const reject = this.rejecter;
    this.waiting = undefined;
    this.rejecter = undefined;
    reject?.(this.failure);
  }

  private deliver(): void {
    for (;;) {
      // Acknowledgements and anything before a packet are dropped.
      const start = this.buffer.indexOf('$');
      if (start < 0) {
        this.buffer = '';
        return;
      }
      const end = this.buffer.indexOf('#', start);
      if (end < 0 || this.buffer.length < end + 3) {
        this.buffer = this.buffer.slice(start);
        return;
      }
      const data = this.buffer.slice(start + 1, end);
      this.buffer = this.buffer.slice(end + 3);
      if (this.acks) this.socket.write('+');
      const resolve = this.waiting;
      this.waiting = undefined;
      this.rejecter = undefined;
      resolve?.(expand(data));
    }
  }
}
