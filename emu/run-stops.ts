/**
 * What ends or pauses a run from inside the engine's hooks: a trap (an
 * interrupt, syscall or sysenter, an invalid instruction) ends it with a
 * `trapped` result; an XSAVE-family instruction, which Unicorn 2.0.1 lacks,
 * is stepped over (it saves and restores nothing) and the run goes on from
 * the next instruction (emu/emulator.ts's `run`).
 *
 * @example
 * ```ts
 * const stops = new RunStops('x64', engine);
 * stops.begin();
 * stops.interrupt(3, 0x401001n); // from the interrupt hook: the run ends
 * stops.result; // { kind: 'trapped', vector: 3, name: 'int 3', pc: 0x401001n }
 * ```
 */
import { unicorn } from './ffi.ts';
import { trapName } from './traps.ts';
import { stateSaveLength } from './unicorn-quirks.ts';
import type { Arch } from './registers.ts';
import type { RunResult } from './run-result.ts';

export class RunStops {
  /** What a hook ended the current run with (the first stop asked for wins). */
  result: RunResult | undefined;
  /** XSAVE-family instructions stepped over so far (see stateSaveLength). */
  statesSkipped = 0;
  /** Set when the invalid-instruction hook stepped over one: Unicorn stops there, and the run goes on. */
  resumeAfterSkip = false;
  /** Where the last instruction stepped over starts. */
  skippedPc = 0n;

  constructor(
    private readonly arch: Arch,
    private readonly engine: unknown,
  ) {}

  /** A run starts: no stop yet. */
  begin(): void {
    this.result = undefined;
  }

  /** Ends the current run with `result` (unless a stop came first). */
  stopWith(result: RunResult): void {
    this.result ??= result;
    unicorn().uc_emu_stop(this.engine);
  }

  interrupt(intno: number, pc: bigint): void {
    this.stopWith({ kind: 'trapped', vector: intno, name: trapName(this.arch, intno), pc });
  }

  systemCall(name: 'syscall' | 'sysenter', pc: bigint): void {
    this.stopWith({ kind: 'trapped', vector: -1, name, pc });
  }

  /**
   * An invalid instruction at `pc` starting with `bytes`: the length to step
   * over when it is an XSAVE-family one (noted for `run`), else undefined
   * after ending the run with #UD (arm64: the undefined-instruction exception).
   */
  invalidInstruction(pc: bigint, bytes: Uint8Array): number | undefined {
    const skip = stateSaveLength(this.arch, bytes);
    if (skip !== undefined) {
      this.statesSkipped++;
      this.resumeAfterSkip = true;
      this.skippedPc = pc;
      return skip;
    }
    this.stopWith({ kind: 'trapped', vector: this.arch === 'arm64' ? 1 : 6, name: 'invalid instruction', pc });
    return undefined;
  }
}
