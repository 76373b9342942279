/**
 * One Unicorn engine for one architecture: registers, memory, lazy paging
 * from a `MemorySource`, hooks, bounded runs, snapshots and recording. The
 * one backend every analysis drives; it knows nothing of dump formats.
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
import { unicorn, ucErrorText, InterruptCallback, InvalidInstructionCallback, CodeCallback, MemoryCallback } from './ffi.ts';
import { u64 } from './ffi.ts';
import { UC_ARCH, UC_MODE, UC_HOOK, UC_PROT, UC_X86_INS, UC_ERR_OK, UC_CTL_TB_FLUSH, UC_CTL_TB_REMOVE_CACHE, UC_CTL_USE_EXITS, UC_CTL_EXITS } from './constants.ts';
import { EmulationError } from './errors.ts';
import { HookRegistry, type HookId } from './hooks.ts';
import { LazyPager, PAGE_SIZE } from './lazy-pages.ts';
import { SnapshotManager, type Snapshot } from './snapshot.ts';
import { trapName } from './traps.ts';
import { Watchdog } from './watchdog.ts';
import { X86Segments } from './segments.ts';
import { faultOf, isSegment, mergeRanges } from './emulator-helpers.ts';
import { giveBack, takeEngine, wouldKeep, type EngineSlot } from './engine-pool.ts';
import { abortsUnicorn, poisonedStarts, stateSaveLength } from './unicorn-quirks.ts';
import type { MemorySource, UnknownFill } from './memory-source.ts';
import type { RunResult } from './run-result.ts';
import {
  pcRegister, registersOf, registerMask, unicornRegisterId,
  type Arch, type RegisterName, type RegisterValues,
} from './registers.ts';

/** Bounds and stop conditions of one run. */
export interface RunOptions {
  /** Start address; the current pc when absent. */
  from?: bigint;
  /** Stop when the pc reaches this address (before executing it). */
  until?: bigint;
  /** Stop after exactly this many instructions (a goal, reported as `reached`). */
  count?: number;
  /** Instruction budget (default 10 000 000); 0 means none (then `until` or a timeout must bound the run). */
  maxInstructions?: number;
  /** Wall-time budget in milliseconds (default 10 000). */
  timeoutMs?: number;
}

/** Something that counts instructions during a run and can enforce a limit (the recorder). */
export interface RunObserver {
  begin(limit: number): void;
  finish(): void;
  executed(): number;
  stoppedByLimit(): boolean;
  /**
   * Instructions still owed when the observer stopped before a block that
   * would pass the limit (the block recorder): the run goes on that many,
   * counted exactly by Unicorn.
   */
  takeOwed?(): number;
  /** Where the observer stopped the run before a block for its limit (Unicorn's pc may lag there). */
  limitStopPc?(): bigint | undefined;
  /** Told how the run ended before `finish`, so it can settle a block cut short. */
  settle?(result: RunResult): void;
}

export const DEFAULT_MAX_INSTRUCTIONS = 10_000_000;
/** Most XSAVE-family instructions one run steps over (each ends a Unicorn run, which is then resumed). */
const MAX_STATE_SKIPS = 64;
export const DEFAULT_TIMEOUT_MS = 10_000;
const NO_ADDRESS = 0xffff_ffff_ffff_ffffn;
const UC_QUERY_TIMEOUT = 4;

/** What a kept engine carries to its next emulator (engine-pool.ts): its trap hooks, watchdog, and CPU context when new. */
interface EngineParts {
  traps: HookRegistry;
  watchdog: Watchdog | undefined;
  pristine: unknown;
}
type Slot = EngineSlot<Emulator, EngineParts>;

/** Throws an EmulationError naming the operation when a Unicorn call failed. */
function checkStatus(status: number, operation: string, address?: bigint): void {
  if (status === UC_ERR_OK) return;
  const text = ucErrorText(status);
  const where = address === undefined ? '' : ` at 0x${address.toString(16)}`;
  throw new EmulationError(operation, `${operation}${where} failed: ${text}`, { code: status, ucError: text, address });
}

export class Emulator {
  readonly arch: Arch;
  /** The engine handle (koffi external); for the emu layer's own modules. */
  readonly engine: unknown;
  readonly hooks: HookRegistry;
  /** Where register reads land: one 64-bit word, reused (no allocation per read). */
  private readonly word = new BigUint64Array(1);
  /** The first bytes of a run's start, read to check for an instruction that aborts Unicorn (reused). */
  private readonly startProbe = new Uint8Array(16);
  private readonly pcId: number;
  private readonly mask: bigint;
  private readonly mapped: Array<{ start: bigint; end: bigint }> = [];
  private pager?: LazyPager;
  private snapshots?: SnapshotManager;
  private stopResult?: RunResult;
  /** XSAVE-family instructions the emulator let save and restore nothing (see stateSaveLength). */
  statesSkipped = 0;
  /** Set by the invalid-instruction hook when it stepped over one: Unicorn stops there, and `run` goes on. */
  private resumeAfterSkip = false;
  private skippedPc = 0n;
  private observer?: RunObserver;
  private readonly watchdog: Watchdog | undefined;
  private readonly slot: Slot;
  private disposed = false;
  private countedLastRun = false;
  /** Where the last start of the current run stopped, when ft_run read it (see `start`); undefined otherwise. */
  private stoppedAt: bigint | undefined;
  /** Whether the watchdog stopped the last start, when ft_run said so; undefined otherwise. */
  private watchdogFired: boolean | undefined;
  /** Where ft_run leaves the pc and the watchdog's flag (reused). */
  private readonly runOut = new BigUint64Array(2);
  /** The pc between runs when known without asking Unicorn (after a run, a restore); undefined during runs and after register writes. */
  private pcAtRest: bigint | undefined;
  /** The pc when the latest snapshot was taken. */
  private snapshotPc: bigint | undefined;
  /** True from a restore until the next run or host change of memory: memory is then as every restore of the snapshot leaves it. */
  private asRestored = false;
  /** A start the probe found harmless while memory was as restored (startAborts); undefined once the host changed memory. */
  private harmlessStartAsRestored: bigint | undefined;
  private segments?: X86Segments;
  private lastUntil = NO_ADDRESS;
  /** Where an instruction that would abort Unicorn's translator starts (x86, x64): exits, answered with #UD. */
  private readonly poison = new Set<bigint>();
  /** The end address last given to Unicorn among the exits; undefined when the exits must be given again. */
  private exitsUntil: bigint | undefined;
  /** Addresses every run stops before (x86, x64), besides `until` (setStopAddresses). */
  private readonly stopAddresses = new Set<bigint>();

  private constructor(arch: Arch, slot: Slot) {
    this.arch = arch;
    this.engine = slot.engine;
    this.slot = slot;
    slot.owner = this;
    this.watchdog = slot.parts.watchdog;
    this.pcId = unicornRegisterId(arch, pcRegister(arch))!;
    this.mask = registerMask(arch);
    this.hooks = new HookRegistry(
      slot.engine,
      (status, operation, address) => this.check(status, operation, address),
      () => this.flushTranslations(),
    );
  }

  /**
   * Opens an engine for `arch`: x86 (32-bit protected mode, flat), x64 (long
   * mode) or arm64; a kept one, reset, when engines are reused (engine-pool.ts).
   */
  static open(arch: Arch): Emulator {
    const kept = takeEngine<Emulator, EngineParts>(arch);
    return new Emulator(arch, kept ?? Emulator.newSlot(arch));
  }

  /** A new engine with what every emulator on it needs: trap hooks, the watchdog, exits on. */
  private static newSlot(arch: Arch): Slot {
    const uc = unicorn();
    const [ucArch, mode] =
      arch === 'x86' ? [UC_ARCH.x86, UC_MODE.m32] : arch === 'x64' ? [UC_ARCH.x86, UC_MODE.m64] : [UC_ARCH.arm64, UC_MODE.arm];
    const out: unknown[] = [null];
    const status = uc.uc_open(ucArch, mode, out);
    if (status !== UC_ERR_OK) {
      throw new EmulationError('uc_open', `Cannot open a Unicorn engine for ${arch}: ${ucErrorText(status)}`, { code: status, ucError: ucErrorText(status) });
    }
    const engine = out[0];
    const parts: EngineParts = { traps: undefined!, watchdog: undefined, pristine: undefined };
    const slot: Slot = {
      arch,
      engine,
      parts,
      close: () => {
        parts.watchdog?.dispose();
        if (parts.pristine !== undefined) uc.uc_context_free(parts.pristine);
        uc.uc_close(engine);
        parts.traps.dispose();
      },
    };
    const check = checkStatus;
    parts.traps = new HookRegistry(engine, check, () => slot.owner?.flushTranslations());
    try {
      Emulator.installTrapHooks(slot);
      parts.watchdog = Watchdog.create({ engine });
      // With exits on, uc_emu_start's end address is ignored: syncExits passes it with the poisoned starts.
      if (arch !== 'arm64') check(uc.uc_ctl(engine, UC_CTL_USE_EXITS, 'int', 1), 'uc_ctl(USE_EXITS)');
      const context: unknown[] = [null];
      check(uc.uc_context_alloc(engine, context), 'uc_context_alloc');
      parts.pristine = context[0];
      check(uc.uc_context_save(engine, parts.pristine), 'uc_context_save');
    } catch (error) {
      slot.close();
      throw error;
    }
    return slot;
  }

  /** Throws an EmulationError naming the operation when a Unicorn call failed. */
  check(status: number, operation: string, address?: bigint): void {
    checkStatus(status, operation, address);
  }

  // ---- registers --------------------------------------------------------

  private registerId(name: RegisterName): number {
    const id = unicornRegisterId(this.arch, name);
    if (id === undefined) throw new EmulationError('register', `The ${this.arch} engine has no register '${name}'`);
    return id;
  }

  /** The value of one register, as an unsigned bigint. */
  readRegister(name: RegisterName): bigint {
    if (this.arch === 'x86' && (name === 'fs_base' || name === 'gs_base')) return this.segments?.base(name === 'fs_base' ? 'fs' : 'gs') ?? 0n;
    const value = this.readId(this.registerId(name), name);
    return isSegment(name) ? value & 0xffffn : value & this.mask;
  }

  /** Unicorn register `id` as a 64-bit word (narrower registers leave the upper bytes zero). */
  private readId(id: number, name: RegisterName): bigint {
    const word = this.word;
    word[0] = 0n;
    const status = unicorn().uc_reg_read(this.engine, id, word);
    if (status !== UC_ERR_OK) this.check(status, `uc_reg_read(${name})`);
    return word[0]!;
  }

  /** Sets one register. On x86, fs_base and gs_base go through a descriptor table (see segments.ts). */
  writeRegister(name: RegisterName, value: bigint): void {
    if (this.arch === 'x86' && (name === 'fs_base' || name === 'gs_base')) {
      this.segments ??= new X86Segments(this);
      this.segments.setBase(name === 'fs_base' ? 'fs' : 'gs', value);
      return;
    }
    this.pcAtRest = undefined;
    this.word[0] = BigInt.asUintN(64, value);
    const status = unicorn().uc_reg_write(this.engine, this.registerId(name), this.word);
    if (status !== UC_ERR_OK) this.check(status, `uc_reg_write(${name})`);
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
    return this.pcAtRest ?? this.readId(this.pcId, pcRegister(this.arch)) & this.mask;
  }

  // ---- memory -------------------------------------------------------------

  /**
   * Maps [address, address+size) with `perms` (UC_PROT bits, default all).
   * Both must be page-aligned; use `mapBytes` for arbitrary images.
   */
  map(address: bigint, size: number | bigint, perms: number = UC_PROT.ALL): void {
    const length = BigInt(size);
    const overlap = this.mapped.find((r) => address < r.end && r.start < address + length);
    if (overlap) {
      throw new EmulationError('uc_mem_map', `Cannot map 0x${address.toString(16)}..0x${(address + length).toString(16)}: overlaps 0x${overlap.start.toString(16)}..0x${overlap.end.toString(16)}`, { address });
    }
    this.check(unicorn().uc_mem_map(this.engine, address, Number(length), perms), `uc_mem_map(0x${address.toString(16)}, 0x${length.toString(16)})`, address);
    this.mapped.push({ start: address, end: address + length });
    this.hostChanged(address, Number(length));
  }

  /** Unmaps [address, address+size) (page-aligned), wherever it is mapped: a program's `munmap` or `mprotect` replayed. */
  unmap(address: bigint, size: number | bigint): void {
    const end = address + BigInt(size);
    if (this.isMapped(address)) this.flushTranslationsOf(address, Number(end - address));
    const kept: Array<{ start: bigint; end: bigint }> = [];
    for (const r of this.mapped) {
      if (r.end <= address || end <= r.start) {
        kept.push(r);
        continue;
      }
      const from = r.start > address ? r.start : address;
      const to = r.end < end ? r.end : end;
      this.check(unicorn().uc_mem_unmap(this.engine, from, Number(to - from)), `uc_mem_unmap(0x${from.toString(16)}, 0x${(to - from).toString(16)})`, from);
      if (r.start < from) kept.push({ start: r.start, end: from });
      if (to < r.end) kept.push({ start: to, end: r.end });
    }
    this.mapped.splice(0, this.mapped.length, ...kept);
    this.hostChanged(address, Number(end - address));
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
    return this.mapped.some((r) => r.start <= address && address < r.end);
  }

  /** The mapped ranges, sorted. */
  regions(): Array<{ start: bigint; end: bigint }> {
    return [...this.mapped].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  }

  /** Reads `length` bytes; throws EmulationError when any is unmapped. */
  read(address: bigint, length: number): Uint8Array {
    const out = Buffer.alloc(length);
    this.check(unicorn().uc_mem_read(this.engine, address, out, length), `uc_mem_read(0x${address.toString(16)}, ${length})`, address);
    return new Uint8Array(out.buffer, out.byteOffset, length);
  }

  /** Up to `length` bytes at `address`, fewer where the mapping ends. */
  tryRead(address: bigint, length: number): Uint8Array {
    for (let n = length; n > 0; n--) {
      if (this.isMapped(address + BigInt(n - 1))) return this.read(address, n);
    }
    return new Uint8Array(0);
  }

  /** Writes bytes; throws EmulationError when any is unmapped. */
  write(address: bigint, bytes: Uint8Array): void {
    this.check(unicorn().uc_mem_write(this.engine, address, bytes, bytes.length), `uc_mem_write(0x${address.toString(16)}, ${bytes.length})`, address);
    this.hostChanged(address, bytes.length);
    if (this.arch !== 'arm64') this.notePoison(address, bytes);
  }

  /** The host wrote, mapped or unmapped memory: what a restore returns to may have changed (see ft_dirty_host_write). */
  private hostChanged(address: bigint, length: number): void {
    this.snapshots?.hostWrote(address, length);
    this.asRestored = false;
    this.harmlessStartAsRestored = undefined;
  }

  /** Keeps the poisoned starts of written memory current (a write can make or remove one), and Unicorn's exits with them. */
  private notePoison(address: bigint, bytes: Uint8Array): void {
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
      this.syncExits(this.lastUntil);
    }
  }

  /**
   * Addresses every later run stops before, reported as `reached` (x86, x64):
   * the fast recorder's candidate sync instructions. An address inside
   * another instruction never stops a run. Drops every translation.
   */
  setStopAddresses(addresses: Iterable<bigint>): void {
    if (this.arch === 'arm64') throw new EmulationError('setStopAddresses', 'Stop addresses are for x86 and x64 engines');
    this.stopAddresses.clear();
    for (const address of addresses) this.stopAddresses.add(address);
    this.exitsUntil = undefined;
    this.flushAllTranslations();
  }

  /** Gives Unicorn the exits for a run ending at `until`. Blocks translated before keep the exits they were built with. */
  private syncExits(until: bigint): void {
    if (this.arch === 'arm64') return;
    if (until === this.exitsUntil) return;
    this.exitsUntil = until;
    const exits = new BigUint64Array([...this.poison, ...this.stopAddresses, ...(until === NO_ADDRESS ? [] : [until])]);
    this.check(unicorn().uc_ctl(this.engine, UC_CTL_EXITS, 'uint64_t *', exits, 'size_t', exits.length), 'uc_ctl(EXITS)');
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
        pcRegisterId: this.registerId(pcRegister(this.arch)),
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
    return this.hooks.add(UC_HOOK.BLOCK, CodeCallback, (_uc, address: number | bigint, size: number) => fn(u64(address), size));
  }

  /** Calls `fn` before every instruction. Slow (a JS call each); the recorder is the fast path. */
  onInstruction(fn: (address: bigint, size: number) => void): HookId {
    return this.hooks.add(UC_HOOK.CODE, CodeCallback, (_uc, address: number | bigint, size: number) => fn(u64(address), size));
  }

  /**
   * Calls `fn` before the instruction at `address` only (a range-limited hook:
   * no cost elsewhere). `fn` may change registers, including the pc.
   */
  onInstructionAt(address: bigint, fn: () => void): HookId {
    return this.hooks.add(UC_HOOK.CODE, CodeCallback, () => fn(), { begin: address, end: address });
  }

  /** Calls `fn` for every memory read (with the value read) or write (with the value written). */
  onMemory(kind: 'read' | 'write', fn: (address: bigint, size: number, value: bigint) => void): HookId {
    const type = kind === 'read' ? UC_HOOK.MEM_READ_AFTER : UC_HOOK.MEM_WRITE;
    return this.hooks.add(type, MemoryCallback, (_uc, _type: number, address: number | bigint, size: number, value: number | bigint) =>
      fn(u64(address), size, BigInt.asUintN(size * 8, BigInt(value))),
    );
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
    this.stopResult ??= result;
    unicorn().uc_emu_stop(this.engine);
  }

  /** The engine's own hooks, kept with it: they stop the run of whichever emulator uses it. */
  private static installTrapHooks(slot: Slot): void {
    const hooks = slot.parts.traps;
    hooks.add(UC_HOOK.INTR, InterruptCallback, (_uc, intno: number) => slot.owner!.trapped(intno));
    hooks.add(UC_HOOK.INSN_INVALID, InvalidInstructionCallback, () => slot.owner!.invalidInstruction());
    if (slot.arch !== 'arm64') {
      for (const [id, name] of [[UC_X86_INS.SYSCALL, 'syscall'], [UC_X86_INS.SYSENTER, 'sysenter']] as const) {
        hooks.add(UC_HOOK.INSN, CodeCallback, () => {
          const emu = slot.owner!;
          emu.stopWith({ kind: 'trapped', vector: -1, name, pc: emu.pc() });
        }, undefined, id);
      }
    }
  }

  private trapped(intno: number): void {
    this.stopWith({ kind: 'trapped', vector: intno, name: trapName(this.arch, intno), pc: this.pc() });
  }

  private invalidInstruction(): boolean {
    const pc = this.pc();
    const skip = stateSaveLength(this.arch, this.tryRead(pc, 16));
    if (skip !== undefined) {
      this.statesSkipped++;
      this.resumeAfterSkip = true;
      this.skippedPc = pc;
      this.writeRegister(this.arch === 'x86' ? 'eip' : 'rip', pc + BigInt(skip));
      return true;
    }
    this.stopWith({ kind: 'trapped', vector: this.arch === 'arm64' ? 1 : 6, name: 'invalid instruction', pc });
    return false;
  }

  /** Lets the recorder count instructions and enforce the budget during runs. */
  setObserver(observer: RunObserver | undefined): void {
    this.observer = observer;
  }

  // ---- running ------------------------------------------------------------

  /** Runs from `from` (or the pc) until a stop condition; always bounded. */
  run(options: RunOptions = {}): RunResult {
    const from = options.from ?? this.pc();
    const budget = options.maxInstructions ?? DEFAULT_MAX_INSTRUCTIONS;
    const goal = options.count !== undefined && (budget === 0 || options.count <= budget);
    const limit = goal ? options.count! : budget;
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (limit === 0 && options.until === undefined && timeoutMs <= 0) {
      throw new EmulationError('run', 'A run needs an instruction budget, an end address or a time budget');
    }
    // The first block's page is mapped before the run, not by its fetch: a block whose fetch mapped its page at the
    // start of a run was run again unchanged after the drop of translations, so a limit inside it was missed.
    if (this.pager && this.observer?.takeOwed && !this.isMapped(from)) this.pageIn(from, 1);
    this.stopResult = undefined;
    // Hooks during the run read the live pc.
    this.pcAtRest = undefined;
    const aborts = this.startAborts(from);
    this.asRestored = false;
    if (aborts) return { kind: 'trapped', vector: 6, name: 'invalid instruction', pc: from };
    this.observer?.begin(limit);
    // Only the runs without ft_run's answer ask the clock whether their time is up (see timedOut).
    const started = this.watchdog?.canStart ? 0 : performance.now();
    const timeoutUs = Math.max(0, Math.round(timeoutMs * 1000));
    const counting = !this.observer && limit > 0;
    this.hooks.codeHasRun ||= this.mapped.length > 0;
    // Unicorn counts instructions with a code hook it adds per run; blocks
    // translated while no code hook existed would skip it.
    // Unicorn 2.0.1 compiles the `until` check into translated blocks, so a
    // block translated for another end address would run straight past it.
    const until = options.until ?? NO_ADDRESS;
    if (counting !== this.countedLastRun || until !== this.lastUntil) this.flushTranslations();
    this.countedLastRun = counting;
    this.lastUntil = until;
    this.syncExits(until);
    let status = 0;
    // Unicorn ends a run at every invalid instruction, even one its hook stepped over: go on from there (bounded;
    // a counted run's count would be lost, so it ends there as #UD).
    for (let resumes = 0; ; resumes++) {
      this.resumeAfterSkip = false;
      status = this.start(resumes === 0 ? from : this.stoppedPc(), until, counting ? limit : 0, resumes === 0 ? timeoutUs : undefined, timeoutUs);
      if (!this.resumeAfterSkip || this.stopResult || status !== UC_ERR_OK || resumes >= MAX_STATE_SKIPS) break;
      if (goal || this.timedOut(timeoutMs, started) || this.stoppedPc() === until) break;
    }
    if (this.resumeAfterSkip && goal && !this.stopResult) {
      this.stopResult = { kind: 'trapped', vector: 6, name: 'invalid instruction', pc: this.skippedPc };
    }
    const stopPc = status === UC_ERR_OK && !this.stopResult ? this.observer?.limitStopPc?.() : undefined;
    if (stopPc !== undefined) {
      this.writeRegister(pcRegister(this.arch), stopPc);
      this.stoppedAt = stopPc;
    }
    const owed = status === UC_ERR_OK && !this.stopResult ? this.observer?.takeOwed?.() ?? 0 : 0;
    if (owed > 0) {
      // The observer's code hook over the cut block lets the owed instructions run: blocks are translated
      // again for it. Not UC_CTL_TB_FLUSH: in Unicorn 2.0.1 it touches the whole code buffer (about 1 GB of RSS).
      this.hooks.codeHasRun = true;
      this.flushTranslations();
      status = this.start(this.stoppedPc(), until, 0, undefined, timeoutUs);
      this.flushTranslations();
    }
    if (!this.watchdog?.canStart) this.watchdog?.arm(0);
    this.hooks.codeHasRun = true;
    let result: RunResult;
    try {
      result = this.outcome(status, options, goal, limit, timeoutMs, started);
      if (this.observer?.settle) {
        this.observer.settle(result);
        result = { ...result, instructions: this.observer.executed() };
      }
    } finally {
      this.observer?.finish();
    }
    const trapError = this.slot.parts.traps.takeError();
    const hookError = this.hooks.takeError() ?? trapError;
    if (hookError !== undefined) throw hookError;
    this.pcAtRest = this.stoppedAt;
    return result;
  }

  /**
   * One uc_emu_start of a run: arms the watchdog for `armUs` first unless
   * undefined (a resumed run keeps its deadline). Through the native library's
   * ft_run when it has it (one foreign call that also reads the pc where the
   * run stopped), else through Unicorn (whose own timeout then bounds the run
   * when there is no watchdog).
   */
  private start(begin: bigint, until: bigint, count: number, armUs: number | undefined, timeoutUs: number): number {
    const dog = this.watchdog;
    if (dog?.canStart) {
      const out = this.runOut;
      const status = dog.start(begin, until, count, armUs, this.pcId, out);
      this.stoppedAt = out[0]! & this.mask;
      this.watchdogFired = out[1] !== 0n;
      return status;
    }
    this.stoppedAt = undefined;
    this.watchdogFired = undefined;
    if (armUs !== undefined) dog?.arm(armUs);
    return unicorn().uc_emu_start(this.engine, begin, until, dog ? 0 : timeoutUs, count);
  }

  /** The pc where the last start stopped: as ft_run read it, or read now. */
  private stoppedPc(): bigint {
    return this.stoppedAt ?? this.pc();
  }

  /** True when the instruction at `from` would abort Unicorn's translator (x86, x64; see unicorn-quirks.ts). */
  private startAborts(from: bigint): boolean {
    if (this.arch === 'arm64') return false;
    // Replays from a restore start where the last one did, on the same bytes: probed once.
    if (this.asRestored && from === this.harmlessStartAsRestored) return false;
    // One read into a reused buffer; near the end of a mapping, as many bytes as are mapped.
    const probe = this.startProbe;
    if (unicorn().uc_mem_read(this.engine, from, probe, probe.length) === UC_ERR_OK) {
      const aborts = abortsUnicorn(this.arch, probe);
      if (!aborts && this.asRestored) this.harmlessStartAsRestored = from;
      return aborts;
    }
    return this.isMapped(from) && abortsUnicorn(this.arch, this.tryRead(from, probe.length));
  }

  /** How a run ended, from Unicorn's status and the stops hooks asked for. */
  private outcome(status: number, options: RunOptions, goal: boolean, limit: number, timeoutMs: number, started: number): RunResult {
    const instructions = this.observer?.executed();
    const pc = this.stoppedPc();
    const fetchStop = this.pager?.takeFetchStop();
    const stop = (this.stopResult as RunResult | undefined) ?? fetchStop;
    if (stop) return { ...stop, instructions };
    if (status !== UC_ERR_OK) {
      const text = ucErrorText(status);
      const error = new EmulationError('uc_emu_start', `uc_emu_start failed at 0x${pc.toString(16)}: ${text}`, { code: status, ucError: text, address: pc });
      const fault = faultOf(status);
      if (fault && fault.access === 'fetch' && this.pager?.isUnknownPage(pc)) {
        return { kind: 'fault', address: pc, access: 'fetch', size: 0, pc, reason: 'not-in-dump', message: `code at 0x${pc.toString(16)} is not in the dump`, instructions };
      }
      if (fault) {
        return { kind: 'fault', address: pc, access: fault.access, size: 0, pc, reason: fault.reason, message: text, instructions };
      }
      return { kind: 'error', error, pc, instructions };
    }
    if (options.until !== undefined && pc === options.until) return { kind: 'reached', pc, reason: 'address', instructions };
    if (this.poison.size > 0 && this.poison.has(pc)) return { kind: 'trapped', vector: 6, name: 'invalid instruction', pc, instructions };
    if (this.stopAddresses.size > 0 && this.stopAddresses.has(pc)) return { kind: 'reached', pc, reason: 'address', instructions };
    if (this.timedOut(timeoutMs, started)) return { kind: 'budget', budget: 'time', pc, instructions };
    if (this.observer && !this.observer.stoppedByLimit()) {
      // Unicorn stopped on its own (uc_emu_stop from a hook we do not own).
      return { kind: 'reached', pc, reason: 'count', instructions };
    }
    if (goal) return { kind: 'reached', pc, reason: 'count', instructions: instructions ?? limit };
    return { kind: 'budget', budget: 'instructions', pc, instructions: instructions ?? limit };
  }

  private timedOut(timeoutMs: number, started: number): boolean {
    // The watchdog was armed after `started` for timeoutMs: before that much time passed (both clocks are
    // monotonic; 1 ms of slack for their resolutions) it cannot have fired, and asking is a native call.
    if (this.watchdogFired !== undefined) return this.watchdogFired;
    if (this.watchdog) return performance.now() - started >= timeoutMs - 1 && this.watchdog.timedOut();
    // Unicorn 2.0.1 never clears its timed-out flag, so the clock decides too.
    const flag = [0];
    unicorn().uc_query(this.engine, UC_QUERY_TIMEOUT, flag);
    return flag[0] !== 0 && timeoutMs > 0 && performance.now() - started >= timeoutMs * 0.9;
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
    this.harmlessStartAsRestored = undefined;
    return snapshot;
  }

  /** Returns CPU and memory to `snapshot` (the latest one taken). */
  restore(snapshot: Snapshot): { pagesRestored: number } {
    if (!this.snapshots) throw new EmulationError('restore', 'No snapshot was taken on this engine');
    this.pcAtRest = undefined;
    const pagesRestored = this.snapshots.restore(snapshot);
    this.pcAtRest = this.snapshotPc;
    this.asRestored = true;
    this.pager?.restoreBaseline();
    return { pagesRestored };
  }

  /**
   * Drops the translated blocks of all mapped memory (after patching code
   * bytes, or so that new hooks fire). Removes ranges rather than calling
   * UC_CTL_TB_FLUSH, which costs about 100 ms in Unicorn 2.0.1.
   */
  flushTranslations(): void {
    if (!this.hooks.codeHasRun) return;
    for (const { start, end } of mergeRanges(this.mapped)) {
      this.check(unicorn().uc_ctl(this.engine, UC_CTL_TB_REMOVE_CACHE, 'uint64_t', start, 'uint64_t', end), 'uc_ctl(TB_REMOVE_CACHE)', start);
    }
  }

  /** Drops the translated blocks of the pages holding [address, address+length): after a host write that may be code. */
  flushTranslationsOf(address: bigint, length: number): void {
    if (!this.hooks.codeHasRun) return;
    const page = BigInt(PAGE_SIZE);
    const start = address - (address % page);
    const end = ((address + BigInt(length) + page - 1n) / page) * page;
    this.check(unicorn().uc_ctl(this.engine, UC_CTL_TB_REMOVE_CACHE, 'uint64_t', start, 'uint64_t', end), 'uc_ctl(TB_REMOVE_CACHE)', start);
  }

  /**
   * Drops every translated block, the CPU's jump cache included: needed after
   * rewriting code that already ran from where the next run starts (removing
   * a range's blocks leaves the jump cache pointing at the old code). Costs
   * about 100 ms in Unicorn 2.0.1; use for rare rewrites only.
   */
  flushAllTranslations(): void {
    if (!this.hooks.codeHasRun) return;
    this.check(unicorn().uc_ctl(this.engine, UC_CTL_TB_FLUSH), 'uc_ctl(TB_FLUSH)');
  }

  /** Releases the engine (or resets it for reuse, see engine-pool.ts), hooks and snapshots. Safe to call twice. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.snapshots?.dispose();
    this.pager?.dispose();
    if (this.resetForReuse()) {
      giveBack(this.slot as EngineSlot<unknown, unknown>);
      return;
    }
    this.slot.close();
    this.hooks.dispose();
  }

  /**
   * Leaves the engine as it was when new, for the next emulator: hooks
   * removed, the translations of every mapped range dropped (each range is
   * one Unicorn memory block, so a range removal covers it exactly), memory
   * unmapped, no exits, the CPU context saved when it was opened. False
   * when the engine is not to be kept (then it is closed).
   */
  private resetForReuse(): boolean {
    const traps = this.slot.parts.traps;
    if (!wouldKeep(this.arch) || !this.watchdog || this.observer || this.hooks.pendingError !== undefined || traps.pendingError !== undefined) return false;
    const uc = unicorn();
    try {
      this.hooks.removeAll();
      for (const { start, end } of this.mapped) {
        if (this.hooks.codeHasRun) this.check(uc.uc_ctl(this.engine, UC_CTL_TB_REMOVE_CACHE, 'uint64_t', start, 'uint64_t', end), 'uc_ctl(TB_REMOVE_CACHE)', start);
      }
      for (const { start, end } of this.mapped) this.check(uc.uc_mem_unmap(this.engine, start, Number(end - start)), 'uc_mem_unmap', start);
      this.mapped.length = 0;
      if (this.arch !== 'arm64') this.check(uc.uc_ctl(this.engine, UC_CTL_EXITS, 'uint64_t *', new BigUint64Array(0), 'size_t', 0), 'uc_ctl(EXITS)');
      this.pcAtRest = undefined;
      this.check(uc.uc_context_restore(this.engine, this.slot.parts.pristine), 'uc_context_restore');
      return true;
    } catch {
      return false;
    }
  }
}
