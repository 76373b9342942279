/**
 * Reads a fixed list of registers in one `uc_reg_read_batch` call into
 * memory koffi allocated (so the values' addresses are stable), instead of
 * one FFI call per register: the JavaScript recorder reads every register
 * after every instruction.
 *
 * @example
 * ```ts
 * const batch = new RegisterBatch(emu, ['eax', 'ebx']);
 * const values = batch.read(); // BigUint64Array [eax, ebx]
 * ```
 */
import koffi from 'koffi';
import { unicorn } from './ffi.ts';
import { registerMask, unicornRegisterId, type RegisterName } from './registers.ts';
import type { Emulator } from './emulator.ts';

export class RegisterBatch {
  private readonly ids: Int32Array;
  private readonly pointers: BigUint64Array;
  private readonly values: BigUint64Array;
  private readonly mask: bigint;
  /** Kept so the allocation lives as long as the batch. */
  private readonly memory: unknown;

  constructor(
    private readonly emu: Emulator,
    names: readonly RegisterName[],
  ) {
    this.ids = Int32Array.from(names, (name) => unicornRegisterId(emu.arch, name)!);
    this.memory = koffi.alloc('uint64_t', names.length);
    const base = BigInt(koffi.address(this.memory as never));
    this.pointers = BigUint64Array.from(names, (_, i) => base + BigInt(8 * i));
    this.values = new BigUint64Array(koffi.view(this.memory as never, 8 * names.length));
    this.mask = registerMask(emu.arch);
  }

  /** The registers' current values (a view reused by the next call), masked to the register width. */
  read(): BigUint64Array {
    // Unicorn writes 4 bytes for 32-bit registers: clear the rest first.
    this.values.fill(0n);
    this.emu.check(unicorn().uc_reg_read_batch(this.emu.engine, this.ids, this.pointers, this.ids.length), 'uc_reg_read_batch');
    if (this.mask !== 0xffff_ffff_ffff_ffffn) for (let i = 0; i < this.values.length; i++) this.values[i]! &= this.mask;
    return this.values;
  }

  dispose(): void {
    koffi.free(this.memory as never);
  }
}
