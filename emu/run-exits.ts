/**
 * The addresses x86 and x64 runs stop before, given to Unicorn as its exits
 * (UC_CTL_EXITS): a run's end address, the fast recorder's stop addresses,
 * and every place an instruction that aborts Unicorn's translator could start
 * in memory the host wrote (unicorn-quirks.ts), answered with #UD.
 *
 * @example
 * ```ts
 * const exits = new RunExits('x64', engine, checkStatus, () => memory.flushAllTranslations());
 * exits.notePoison(0x1000n, Uint8Array.of(0xff, 0xd8)); // ljmp eax: 0x1000 is now an exit
 * exits.sync(0x2000n); // the exits of a run ending at 0x2000
 * ```
 */
import { unicorn } from './ffi.ts';
import { UC_CTL_EXITS } from './constants.ts';
import { EmulationError } from './errors.ts';
import { poisonedStarts } from './unicorn-quirks.ts';
import type { StatusCheck } from './guest-memory.ts';
import type { Arch } from './registers.ts';

/** The end address of a run without one. */
export const NO_ADDRESS = 0xffff_ffff_ffff_ffffn;

export class RunExits {
  /** The end address of the latest run (NO_ADDRESS: none). */
  lastUntil = NO_ADDRESS;
  /** Where an instruction that would abort Unicorn's translator starts: exits, answered with #UD. */
  private readonly poison = new Set<bigint>();
  /** Addresses every run stops before, besides `until` (setStopAddresses). */
  private readonly stopAddresses = new Set<bigint>();
  /** The end address last given to Unicorn among the exits; undefined when the exits must be given again. */
  private exitsUntil: bigint | undefined;

  constructor(
    private readonly arch: Arch,
    private readonly engine: unknown,
    private readonly check: StatusCheck,
    private readonly flushAllTranslations: () => void,
  ) {}

  /** Keeps the poisoned starts of written memory current (a write can make or remove one), and Unicorn's exits with them. */
  notePoison(address: bigint, bytes: Uint8Array): void {
    if (this.arch === 'arm64') return;
    const end = address + BigInt(bytes.length);
    let changed = false;
    if (this.poison.size > 0) {
      for (const at of this.poison) {
        if (at >= address && at < end) changed = this.poison.delete(at) || changed;
      }
    }
    for (const at of poisonedStarts(this.arch, address, bytes)) {
      changed = true;
      this.poison.add(at);
    }
    if (changed) {
      this.exitsUntil = undefined;
      this.sync(this.lastUntil);
    }
  }

  /** Addresses every later run stops before (x86, x64); drops every translation. */
  setStopAddresses(addresses: Iterable<bigint>): void {
    if (this.arch === 'arm64') throw new EmulationError('setStopAddresses', 'Stop addresses are for x86 and x64 engines');
    this.stopAddresses.clear();
    for (const address of addresses) this.stopAddresses.add(address);
    this.exitsUntil = undefined;
    this.flushAllTranslations();
  }

  /** Gives Unicorn the exits for a run ending at `until`. Blocks translated before keep the exits they were built with. */
  sync(until: bigint): void {
    if (this.arch === 'arm64') return;
    if (until === this.exitsUntil) return;
    this.exitsUntil = until;
    const exits = new BigUint64Array([...this.poison, ...this.stopAddresses, ...(until === NO_ADDRESS ? [] : [until])]);
    this.check(unicorn().uc_ctl(this.engine, UC_CTL_EXITS, 'uint64_t *', exits, 'size_t', exits.length), 'uc_ctl(EXITS)');
  }

  /** Why a run that stopped at `pc` on its own stopped there: a poisoned start, a stop address, or neither. */
  stopAt(pc: bigint): 'poison' | 'stop' | undefined {
    if (this.poison.size > 0 && this.poison.has(pc)) return 'poison';
    if (this.stopAddresses.size > 0 && this.stopAddresses.has(pc)) return 'stop';
    return undefined;
  }

  /** Gives Unicorn no exits (an engine left for reuse: the next emulator starts with none). */
  clearEngine(): void {
    if (this.arch !== 'arm64') this.check(unicorn().uc_ctl(this.engine, UC_CTL_EXITS, 'uint64_t *', new BigUint64Array(0), 'size_t', 0), 'uc_ctl(EXITS)');
  }
}
