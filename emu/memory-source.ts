/**
 * Where the emulator's memory comes from when code touches a page nobody
 * mapped: a dump, a set of raw images. The emulator knows only this
 * interface, never a dump format.
 *
 * @example
 * ```ts
 * const source: MemorySource = { read: (address, length) => dump.memory.read(address, length) };
 * emu.setMemorySource(source);
 * ```
 */
export interface MemorySource {
  /** All `length` bytes at `address`, or undefined if any is missing. */
  read(address: bigint, length: number): Uint8Array | undefined;
  /**
   * For sources that hold only some bytes of a page (a debugger transcript):
   * the bytes with unknown ones zeroed and a mask (1 = known). Undefined when
   * no byte of the range is held.
   */
  readPartial?(address: bigint, length: number): { bytes: Uint8Array; known: Uint8Array } | undefined;
  /**
   * When true, a write to memory the source lacks maps a blank page whose
   * bytes stay unknown until written (raw images: the stack need not be
   * supplied). When false (dumps), such a write stops the run.
   */
  writesCreateMemory?: boolean;
  /** One line saying what this source is, for trace headers. */
  describe?(): string;
}

/** Memory access kinds as the CPU makes them. */
export type Access = 'read' | 'write' | 'fetch';
