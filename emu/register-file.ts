/**
 * Reading and writing one engine's registers by name, through one reused
 * 64-bit word (no allocation per access), values masked to the
 * architecture's width. x86's fs_base and gs_base, which Unicorn's 32-bit
 * mode lacks, are the emulator's (segments.ts).
 *
 * @example
 * ```ts
 * const registers = new RegisterFile('x64', engine, checkStatus);
 * registers.write('rax', 1n);
 * registers.read('rax'); // 1n
 * ```
 */
import { unicorn } from './ffi.ts';
import { UC_ERR_OK } from './constants.ts';
import { EmulationError } from './errors.ts';
import { isSegment } from './emulator-helpers.ts';
import type { StatusCheck } from './guest-memory.ts';
import { pcRegister, registerMask, unicornRegisterId, type Arch, type RegisterName } from './registers.ts';

export class RegisterFile {
  /** Unicorn's id of the program counter. */
  readonly pcId: number;
  /** All ones over the architecture's register width. */
  readonly mask: bigint;
  /** Where reads land and writes start from: one word, reused. */
  private readonly word = new BigUint64Array(1);

  constructor(
    private readonly arch: Arch,
    private readonly engine: unknown,
    private readonly check: StatusCheck,
  ) {
    this.pcId = unicornRegisterId(arch, pcRegister(arch))!;
    this.mask = registerMask(arch);
  }

  /** Unicorn's id of register `name`; throws when the architecture has none. */
  id(name: RegisterName): number {
    const id = unicornRegisterId(this.arch, name);
    if (id === undefined) throw new EmulationError('register', `The ${this.arch} engine has no register '${name}'`);
    return id;
  }

  /** The value of one register, as an unsigned bigint (a selector's 16 bits). */
  read(name: RegisterName): bigint {
    const value = this.readId(this.id(name), name);
    return isSegment(name) ? value & 0xffffn : value & this.mask;
  }

  /** The program counter, asked of Unicorn. */
  readPc(): bigint {
    return this.readId(this.pcId, pcRegister(this.arch)) & this.mask;
  }

  /** Sets one register to `value` (taken modulo 2^64). */
  write(name: RegisterName, value: bigint): void {
    this.word[0] = BigInt.asUintN(64, value);
    const status = unicorn().uc_reg_write(this.engine, this.id(name), this.word);
    if (status !== UC_ERR_OK) this.check(status, `uc_reg_write(${name})`);
  }

  /** Unicorn register `id` as a 64-bit word (narrower registers leave the upper bytes zero). */
  private readId(id: number, name: RegisterName): bigint {
    const word = this.word;
    word[0] = 0n;
    const status = unicorn().uc_reg_read(this.engine, id, word);
    if (status !== UC_ERR_OK) this.check(status, `uc_reg_read(${name})`);
    return word[0]!;
  }
}
