/**
 * One Unicorn engine for one architecture: registers, memory, lazy paging
 * from a `MemorySource`, hooks, bounded runs (their course in run-loop.ts),
 * snapshots and recording. The one backend every analysis drives; it knows
 * nothing of dump formats.
 *
 * @example
 * ```ts
 * const emu = Emulator.open('x86');
 * emu.map(0x1000n, 0x1000);
 * emu.write(0x1000n, Uint8Array.of(0x40, 0xcc)); // inc eax; int 3
 * const result = emu.run({ from: 0x1000n, maxInstructions: 100 });
 * // result: { kind: 'trapped', vector: 3, name: 'int 3', pc: 0x1002n }
 * emu.dispose();
 * ```
 */
import { unicorn } from './ffi.ts';
import { UC_PROT } from './constants.ts';
import { EmulationError } from './errors.ts';
import { HookRegistry, type HookId } from './hooks.ts';
import { LazyPager, PAGE_SIZE } from './lazy-pages.ts';
import { SnapshotManager, type Snapshot } from './snapshot.ts';
import { RunStops } from './run-stops.ts';
import { X86Segments } from './segments.ts';
import { RegisterFile } from './register-file.ts';
import { StartProbe } from './start-probe.ts';
import { giveBack, takeEngine, type EngineSlot } from './engine-pool.ts';
import { checkStatus, openSlot, resetForReuse, type EngineParts, type Slot, type TrapHandler } from './engine-slot.ts';
import { GuestMemory, type Range } from './guest-memory.ts';
import { RunExits } from './run-exits.ts';
import { RunLoop } from './run-loop.ts';
import type { RunObserver, RunOptions } from './run-options.ts';
import type { MemorySource, UnknownFill } from './memory-source.ts';
import type { RunResult } from './run-result.ts';
import { registersOf, type Arch, type RegisterName, type RegisterValues } from './registers.ts';

export { DEFAULT_MAX_INSTRUCTIONS, DEFAULT_TIMEOUT_MS, type RunObserver, type RunOptions } from './run-options.ts';

export class Emulator implements TrapHandler {
  readonly arch: Arch;
  /** The engine handle (koffi external); for the emu layer's own modules. */
  readonly engine: unknown;
  readonly hooks: HookRegistry;
  private readonly registers: RegisterFile;
  private readonly probe: StartProbe;
  private readonly loop: RunLoop;
  private readonly memory: GuestMemory;
  private readonly exits: RunExits;
  private pager?: LazyPager;
  private snapshots?: SnapshotManager;
  private readonly stops: RunStops;
  private observer?: RunObserver;
  private readonly slot: Slot;
  private disposed = false;
  /** The pc between runs when known without asking Unicorn (after a run, a restore); undefined during runs and after register writes. */
  private pcAtRest: bigint | undefined;
  /** The pc when the latest snapshot was taken. */
  private snapshotPc: bigint | undefined;
  private segments?: X86Segments;

  private constructor(arch: Arch, slot: Slot) {
    this.arch = arch;
    this.engine = slot.engine;
    this.slot = slot;
    slot.owner = this;
    this.registers = new RegisterFile(arch, slot.engine, checkStatus);
    this.hooks = new HookRegistry(
      slot.engine,
      (status, operation, address) => this.check(status, operation, address),
      () => this.flushTranslations(),
    );
    this.memory = new GuestMemory(slot.engine, checkStatus, this.hooks);
    this.exits = new RunExits(arch, slot.engine, checkStatus, () => this.flushAllTranslations());
    this.probe = new StartProbe(arch, slot.engine, this.memory);
    this.stops = new RunStops(arch, slot.engine);
    this.loop = new RunLoop(
      {
        arch, engine: slot.engine, watchdog: slot.parts.watchdog, registers: this.registers, memory: this.memory,
        hooks: this.hooks, traps: slot.parts.traps, exits: this.exits, probe: this.probe, stops: this.stops,
      },
      {
        pc: () => this.pc(),
        writeRegister: (name, value) => this.writeRegister(name, value),
        isMapped: (address) => this.isMapped(address),
        pageIn: (address, length) => this.pageIn(address, length),
        setPcAtRest: (pc) => { this.pcAtRest = pc; },
      },
    );
  }

  /**
   * Opens an engine for `arch`: x86 (32-bit protected mode, flat), x64 (long
   * mode) or arm64; a kept one, reset, when engines are reused (engine-pool.ts).
   */
  static open(arch: Arch): Emulator {
    const kept = takeEngine<TrapHandler, EngineParts>(arch);
    return new Emulator(arch, kept ?? openSlot(arch));
  }

  /** Throws an EmulationError naming the operation when a Unicorn call failed. */
  check(status: number, operation: string, address?: bigint): void {
    checkStatus(status, operation, address);
  }

  // ---- registers --------------------------------------------------------

  /** The value of one register, as an unsigned bigint. */
  readRegister(name: RegisterName): bigint {
    if (this.arch === 'x86' && (name === 'fs_base' || name === 'gs_base')) return this.segments?.base(name === 'fs_base' ? 'fs' : 'gs') ?? 0n;
    return this.registers.read(name);
  }

  /** Sets one register. On x86, fs_base and gs_base go through a descriptor table (see segments.ts). */
  writeRegister(name: RegisterName, value: bigint): void {
    if (this.arch === 'x86' && (name === 'fs_base' || name === 'gs_base')) {
      this.segments ??= new X86Segments(this);
      this.segments.setBase(name === 'fs_base' ? 'fs' : 'gs', value);
      return;
    }
    this.pcAtRest = undefined;
    this.registers.write(name, value);
  }

  /** Every register of the architecture. */
  readRegisters(names: readonly RegisterName[] = registersOf(this.arch)): RegisterValues {
    const values: RegisterValues = {};
    for (const name of names) values[name] = this.readRegister(name);
    return values;
  }

  /** Sets the registers given; others keep their values. */
  writeRegisters(values: RegisterValues): void {
    for (const [name, value] of Object.entries(values) as Array<[RegisterName, bigint | undefined]>) {
      if (value !== undefined) this.writeRegister(name, value);
    }
  }

  /** The program counter. */
  pc(): bigint {
    return this.pcAtRest ?? this.registers.readPc();
  }

  // ---- memory -------------------------------------------------------------

  /**
   * Maps [address, address+size) with `perms` (UC_PROT bits, default all).
   * Both must be page-aligned; use `mapBytes` for arbitrary images.
   */
  map(address: bigint, size: number | bigint, perms: number = UC_PROT.ALL): void {
    this.memory.map(address, size, perms);
    this.hostChanged(address, Number(size));
  }

  /** Unmaps [address, address+size) (page-aligned), wherever it is mapped: a program's `munmap` or `mprotect` replayed. */
  unmap(address: bigint, size: number | bigint): void {
    this.memory.unmap(address, size);
    this.hostChanged(address, Number(size));
  }

  /** Maps the pages covering `bytes` at `address` (any alignment) and writes them. */
  mapBytes(address: bigint, bytes: Uint8Array, perms: number = UC_PROT.ALL): void {
    const page = BigInt(PAGE_SIZE);
    const start = address - (address % page);
    const end = ((address + BigInt(bytes.length) + page - 1n) / page) * page;
    this.map(start, end - start, perms);
    this.write(address, bytes);
  }

  /** True when `address` is in a mapped range. */
  isMapped(address: bigint): boolean {
    return this.memory.isMapped(address);
  }

  /** The mapped ranges, sorted. */
  regions(): Range[] {
    return this.memory.regions();
  }

  /** Reads `length` bytes; throws EmulationError when any is unmapped. */
  read(address: bigint, length: number): Uint8Array {
    return this.memory.read(address, length);
  }

  /** Up to `length` bytes at `address`, fewer where the mapping ends. */
  tryRead(address: bigint, length: number): Uint8Array {
    return this.memory.tryRead(address, length);
  }

  /** Writes bytes; throws EmulationError when any is unmapped. */
  write(address: bigint, bytes: Uint8Array): void {
    this.memory.write(address, bytes);
    this.hostChanged(address, bytes.length);
    this.exits.notePoison(address, bytes);
  }

  /** The host wrote, mapped or unmapped memory: what a restore returns to may have changed (see ft_dirty_host_write). */
  private hostChanged(address: bigint, length: number): void {
    this.snapshots?.hostWrote(address, length);
    this.probe.hostChanged();
  }

  /**
   * Addresses every later run stops before, reported as `reached` (x86, x64):
   * the fast recorder's candidate sync instructions. An address inside
   * another instruction never stops a run. Drops every translation.
   */
  setStopAddresses(addresses: Iterable<bigint>): void {
    this.exits.setStopAddresses(addresses);
  }

  /** Reads a little-endian unsigned value of `size` bytes (1, 2, 4, 8). */
  readValue(address: bigint, size: number): bigint {
    const bytes = this.read(address, size);
    let value = 0n;
    for (let i = size - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
    return value;
  }

  /** Writes a little-endian unsigned value of `size` bytes. */
  writeValue(address: bigint, size: number, value: bigint): void {
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = Number((value >> BigInt(8 * i)) & 0xffn);
    this.write(address, bytes);
  }

  /**
   * Maps pages from `source` on demand: an access to an unmapped page maps it;
   * a page the source lacks stops the run with a `not-in-dump` fault.
   */
  setMemorySource(source: MemorySource, options: { fill?: UnknownFill } = {}): void {
    if (this.pager) throw new EmulationError('setMemorySource', 'A memory source is already set');
    this.pager = new LazyPager(
      {
        engine: this.engine,
        pcRegisterId: this.registers.pcId,
        mapPage: (page, bytes, perms) => {
          this.map(page, PAGE_SIZE, perms);
          this.write(page, bytes);
        },
        readPc: () => this.pc(),
        stopWith: (result) => this.stopWith(result),
        stop: () => unicorn().uc_emu_stop(this.engine),
        pageMapped: (page) => this.snapshots?.pageMapped(page),
        isMapped: (address) => this.isMapped(address),
      },
      source,
      this.hooks,
      options.fill,
    );
    this.pager.install();
  }

  /**
   * Maps the pages of [address, address+length) from the memory source now
   * (as an access would); false when the source lacks one of them.
   */
  pageIn(address: bigint, length: number): boolean {
    if (!this.pager) return false;
    const page = BigInt(PAGE_SIZE);
    for (let at = address - (address % page); at < address + BigInt(length); at += page) {
      if (!this.pager.mapNow(at)) return false;
    }
    return true;
  }

  /** Pages mapped on demand so far. */
  get lazyPagesMapped(): number {
    return this.pager?.mappedPages ?? 0;
  }

  // ---- hooks --------------------------------------------------------------

  /** Calls `fn` at the start of every basic block. */
  onBlock(fn: (address: bigint, size: number) => void): HookId {
    return this.hooks.addBlock(fn);
  }

  /** Calls `fn` before every instruction. Slow (a JS call each); the recorder is the fast path. */
  onInstruction(fn: (address: bigint, size: number) => void): HookId {
    return this.hooks.addInstruction(fn);
  }

  /**
   * Calls `fn` before the instruction at `address` only (a range-limited hook:
   * no cost elsewhere). `fn` may change registers, including the pc.
   */
  onInstructionAt(address: bigint, fn: () => void): HookId {
    return this.hooks.addInstruction(() => fn(), { begin: address, end: address });
  }

  /** Calls `fn` for every memory read (with the value read) or write (with the value written). */
  onMemory(kind: 'read' | 'write', fn: (address: bigint, size: number, value: bigint) => void): HookId {
    return this.hooks.addMemory(kind, fn);
  }

  /** Removes a hook added with one of the `on…` methods. */
  removeHook(id: HookId): void {
    this.hooks.remove(id);
  }

  /** Asks the current run to stop; `run` then reports why from its own checks. */
  requestStop(): void {
    unicorn().uc_emu_stop(this.engine);
  }

  /** Ends the current run from inside a hook with `result`. */
  stopWith(result: RunResult): void {
    this.stops.stopWith(result);
  }

  /** XSAVE-family instructions the emulator let save and restore nothing (see stateSaveLength). */
  get statesSkipped(): number {
    return this.stops.statesSkipped;
  }

  /** @internal The engine's interrupt hook (engine-slot.ts). */
  onInterrupt(intno: number): void {
    this.stops.interrupt(intno, this.pc());
  }

  /** @internal The engine's invalid-instruction hook (engine-slot.ts): true when it stepped over the instruction. */
  onInvalidInstruction(): boolean {
    const pc = this.pc();
    const skip = this.stops.invalidInstruction(pc, this.tryRead(pc, 16));
    if (skip === undefined) return false;
    this.writeRegister(this.arch === 'x86' ? 'eip' : 'rip', pc + BigInt(skip));
    return true;
  }

  /** @internal The engine's syscall and sysenter hooks (engine-slot.ts). */
  onSystemCall(name: 'syscall' | 'sysenter'): void {
    this.stops.systemCall(name, this.pc());
  }

  /** Lets the recorder count instructions and enforce the budget during runs. */
  setObserver(observer: RunObserver | undefined): void {
    this.observer = observer;
  }

  // ---- running ------------------------------------------------------------

  /** Runs from `from` (or the pc) until a stop condition; always bounded (run-loop.ts). */
  run(options: RunOptions = {}): RunResult {
    return this.loop.run(options.from ?? this.pc(), options, this.observer, this.pager);
  }

  // ---- snapshots ------------------------------------------------------------

  /**
   * Saves the CPU context and starts tracking written pages, so `restore`
   * rewrites only what later runs dirtied. Taking a snapshot ends the
   * previous one's validity.
   */
  snapshot(): Snapshot {
    this.snapshots ??= new SnapshotManager(this);
    this.pager?.markBaseline();
    const snapshot = this.snapshots.take();
    this.snapshotPc = this.pc();
    this.probe.snapshotTaken();
    return snapshot;
  }

  /** Returns CPU and memory to `snapshot` (the latest one taken). */
  restore(snapshot: Snapshot): { pagesRestored: number } {
    if (!this.snapshots) throw new EmulationError('restore', 'No snapshot was taken on this engine');
    this.pcAtRest = undefined;
    const pagesRestored = this.snapshots.restore(snapshot);
    this.pcAtRest = this.snapshotPc;
    this.probe.restored();
    this.pager?.restoreBaseline();
    return { pagesRestored };
  }

  /**
   * Drops the translated blocks of all mapped memory (after patching code
   * bytes, or so that new hooks fire). Removes ranges rather than calling
   * UC_CTL_TB_FLUSH, which costs about 100 ms in Unicorn 2.0.1.
   */
  flushTranslations(): void {
    this.memory.flushTranslations();
  }

  /** Drops the translated blocks of the pages holding [address, address+length): after a host write that may be code. */
  flushTranslationsOf(address: bigint, length: number): void {
    this.memory.flushTranslationsOf(address, length);
  }

  /**
   * Drops every translated block, the CPU's jump cache included: needed after
   * rewriting code that already ran from where the next run starts (removing
   * a range's blocks leaves the jump cache pointing at the old code). Costs
   * about 100 ms in Unicorn 2.0.1; use for rare rewrites only.
   */
  flushAllTranslations(): void {
    this.memory.flushAllTranslations();
  }

  /** Releases the engine (or resets it for reuse, see engine-pool.ts), hooks and snapshots. Safe to call twice. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.snapshots?.dispose();
    this.pager?.dispose();
    this.pcAtRest = undefined;
    if (resetForReuse(this.slot, { hooks: this.hooks, memory: this.memory, exits: this.exits, observed: this.observer !== undefined })) {
      giveBack(this.slot as EngineSlot<unknown, unknown>);
      return;
    }
    this.slot.close();
    this.hooks.dispose();
  }
}
