/**
 * Rebuilds the per-instruction view of a version-2 trace (FORMAT.md): each
 * batch of blocks is replayed in a fresh Unicorn engine from its start
 * checkpoint, over memory seeded with the blocks' code bytes and every value
 * the batch read before writing it, under the per-instruction `Recorder`.
 * Emulation is deterministic, so the replay makes the same instructions,
 * register changes and accesses as the recorded run; the batch's last
 * instruction takes its registers from the end checkpoint and its accesses
 * from the recording (it may have faulted or trapped, which a replay over
 * seeded memory would not repeat). A replay that runs a different number of
 * instructions or accesses than were recorded is an error, never a guess.
 *
 * @example
 * ```ts
 * const expander = new BlockExpander(header);
 * for (const batch of expander.expand(blocksBatch)) print(batch);
 * expander.dispose();
 * ```
 */
import { Emulator } from '../emu/emulator.ts';
import { Recorder } from '../emu/recorder.ts';
import { PAGE_SIZE } from '../emu/lazy-pages.ts';
import type { RegisterName } from '../emu/registers.ts';
import { TraceFormatError } from './errors.ts';
import type { TraceBatch, TraceBlock, TraceBlockBatch, TraceHeader } from './model.ts';
import { decodeAccesses, decodeBlockIds, type Accesses } from './accesses.ts';

const PAGE = BigInt(PAGE_SIZE);
const SEGMENTS = new Set<RegisterName>(['cs', 'ss', 'ds', 'es', 'fs', 'gs']);
const REPLAY_TIMEOUT_MS = 600_000;

/** Expands the batches of one version-2 trace, in order; keeps one engine and the block table between them. */
export class BlockExpander {
  private readonly blocks = new Map<number, TraceBlock>();
  private emu: Emulator | undefined;
  private recorder: Recorder | undefined;
  private out: TraceBatch[] = [];
  private readonly mapped = new Set<bigint>();
  private readonly checkpoint: RegisterName[];

  constructor(private readonly header: TraceHeader) {
    this.checkpoint = header.checkpoint ?? [];
    if (this.checkpoint.length !== header.registers.length + 1) {
      throw new TraceFormatError(`Version-2 trace header lists ${this.checkpoint.length} checkpoint registers; ${header.registers.length + 1} expected (its registers and the pc)`, { code: 'bad-field' });
    }
  }

  /** The per-instruction batches of `batch` (its events ride on the last). */
  expand(batch: TraceBlockBatch): TraceBatch[] {
    for (const block of batch.newBlocks) this.blocks.set(block.id, block);
    if (batch.count === 0 || batch.blockCount === 0) return [emptyBatch(batch)];
    const emu = this.engine();
    const ids = decodeBlockIds(batch.blocks, batch.blockCount);
    const accesses = decodeAccesses(batch.memory, batch.accesses);
    this.seed(emu, batch, ids, accesses);
    const n = this.checkpoint.length;
    const state = Array.from(batch.start);
    if (state.length !== n) throw this.error(batch, `its start checkpoint holds ${state.length} registers, not ${n}`);
    const values: Partial<Record<RegisterName, bigint>> = {};
    // Selectors stay as the engine has them (loading one needs its descriptor): bases are set apart, from the header.
    this.checkpoint.forEach((name, i) => { if (!SEGMENTS.has(name)) values[name] = state[i]!; });
    emu.writeRegisters(values);
    const from = state[n - 1]!;
    this.out = [];
    // All but the last instruction: the last may have faulted or trapped, which seeded memory would not repeat.
    if (batch.count > 1) {
      // A budget, not a count: a counted run ends at an XSAVE-family instruction as #UD, where the recorded run
      // (under a budget) stepped over it (emu/unicorn-quirks.ts stateSaveLength).
      const result = emu.run({ from, maxInstructions: batch.count - 1, timeoutMs: REPLAY_TIMEOUT_MS });
      const ran = this.out.reduce((sum, b) => sum + b.count, 0);
      if (ran !== batch.count - 1) throw this.error(batch, `the replay ran ${ran} of its ${batch.count} instructions (${result.kind} at 0x${result.pc.toString(16)})`);
    }
    const lastPc = batch.count > 1 ? emu.pc() : from;
    // The replay's batches as they are (renumbered); the last instruction joins the last of them.
    const replayed = this.out.length ? this.out : [concat([], batch.first)];
    let first = batch.first;
    for (const b of replayed) {
      b.first = first;
      first += b.count;
    }
    const before = stateBefore(state.slice(0, this.header.registers.length), replayed);
    const lastBatch = replayed[replayed.length - 1]!;
    let earlier = 0;
    for (const b of replayed.slice(0, -1)) {
      this.checkAccesses(batch, b, accesses, earlier);
      earlier += b.memAddress.length;
    }
    const merged = this.withLast(batch, ids, accesses, lastBatch, before, lastPc, earlier);
    merged.events = batch.events;
    return [...replayed.slice(0, -1), merged];
  }

  /** Releases the replay engine. */
  dispose(): void {
    this.recorder?.detach();
    this.emu?.dispose();
    this.emu = undefined;
  }

  private engine(): Emulator {
    if (this.emu) return this.emu;
    const emu = Emulator.open(this.header.arch);
    const base: Partial<Record<RegisterName, bigint>> = {};
    for (const name of ['fs_base', 'gs_base', 'tpidr_el0'] as const) {
      const value = this.header.startRegisters[name];
      if (value) base[name] = value;
    }
    emu.writeRegisters(base);
    this.recorder = Recorder.attach(emu, { onBatch: (b) => this.out.push(b) }, { batchSize: 65_536 });
    this.emu = emu;
    return emu;
  }

  private mapPages(emu: Emulator, address: bigint, length: number): void {
    const last = address + BigInt(Math.max(length, 1) - 1);
    for (let page = address - (address % PAGE); page <= last; page += PAGE) {
      if (this.mapped.has(page)) continue;
      if (emu.isMapped(page)) throw new TraceFormatError(`The trace touches 0x${page.toString(16)}, where the replay keeps its x86 descriptor table`, { code: 'bad-field' });
      emu.map(page, PAGE_SIZE);
      this.mapped.add(page);
    }
  }

  /** Code bytes of the batch's blocks, then each byte the batch read before it wrote it. */
  private seed(emu: Emulator, batch: TraceBlockBatch, ids: Uint32Array, accesses: Accesses): void {
    const seen = new Set<number>();
    for (const id of ids) {
      if (seen.has(id)) continue;
      seen.add(id);
      const block = this.blocks.get(id);
      if (!block) throw this.error(batch, `it runs block ${id}, which no earlier message stores`);
      this.mapPages(emu, block.pc, block.bytes.length);
      emu.write(block.pc, block.bytes);
    }
    // Pages by number (high word × 2^20 + page of the low word: exact below 2^53), without a bigint per access.
    const pages = new Map<number, { bytes: Uint8Array; state: Uint8Array }>();
    const KNOWN = 1;
    const WRITTEN = 2;
    const { kind, size: sizes, addressWords, valueWords } = accesses;
    let lastKey = -1;
    let entry: { bytes: Uint8Array; state: Uint8Array } | undefined;
    for (let i = 0; i < kind.length; i++) {
      const size = sizes[i]!;
      const write = kind[i] === 1;
      let lo = addressWords[2 * i]!;
      let hi = addressWords[2 * i + 1]!;
      const vLo = valueWords[2 * i]!;
      const vHi = valueWords[2 * i + 1]!;
      for (let k = 0; k < size; k++) {
        const key = hi * 0x10_0000 + (lo >>> 12);
        if (key !== lastKey) {
          entry = pages.get(key);
          if (!entry) pages.set(key, (entry = { bytes: new Uint8Array(PAGE_SIZE), state: new Uint8Array(PAGE_SIZE) }));
          lastKey = key;
        }
        const offset = lo & 0xfff;
        if (write) entry!.state[offset] |= WRITTEN;
        else if (entry!.state[offset] === 0 && k < 8) {
          entry!.state[offset] = KNOWN;
          entry!.bytes[offset] = k < 4 ? (vLo >>> (8 * k)) & 0xff : (vHi >>> (8 * (k - 4))) & 0xff;
        }
        lo = (lo + 1) >>> 0;
        if (lo === 0) hi = (hi + 1) >>> 0;
      }
    }
    for (const [key, page] of pages) {
      const base = BigInt(Math.floor(key / 0x10_0000)) * 0x1_0000_0000n + BigInt((key % 0x10_0000) * PAGE_SIZE);
      this.mapPages(emu, base, PAGE_SIZE);
      let at = 0;
      while (at < PAGE_SIZE) {
        if (!(page.state[at]! & KNOWN)) { at++; continue; }
        let end = at;
        while (end < PAGE_SIZE && page.state[end]! & KNOWN) end++;
        emu.write(base + BigInt(at), page.bytes.subarray(at, end));
        at = end;
      }
    }
  }

  /**
   * Appends the last instruction: where the replay stopped, its size and
   * bytes from its block, its registers from the end checkpoint (the state
   * the recording read after it) and its accesses from the recording.
   */
  private withLast(batch: TraceBlockBatch, ids: Uint32Array, accesses: Accesses, replay: TraceBatch, state: bigint[], pc: bigint, earlier: number): TraceBatch {
    const block = this.blocks.get(ids[ids.length - 1]!)!;
    let offset = 0;
    for (let i = 0; i < batch.lastCount - 1; i++) offset += block.sizes[i] ?? 0;
    if (block.pc + BigInt(offset) !== pc) {
      throw this.error(batch, `the replay reached 0x${pc.toString(16)} for its last instruction; its block puts it at 0x${(block.pc + BigInt(offset)).toString(16)}`);
    }
    // Unicorn reports an instruction it cannot decode with no size; the per-instruction recorder keeps it so.
    const size = batch.stop === 'invalid' ? 0 : block.sizes[batch.lastCount - 1] ?? 0;
    const n = replay.count;
    // After a fault Unicorn's x86 flags were not brought up to date (no per-instruction hook did it): the instruction did not finish, so they stand.
    const flags = batch.stop === 'fault' || batch.stop === 'error' ? this.header.registers.indexOf('efl' as RegisterName) : -1;
    const changed: number[] = [];
    for (let r = 0; r < state.length; r++) if (r !== flags && batch.end[r] !== state[r]) changed.push(r);
    const prefix = replay.regIndex.length;
    const regIndex = new Uint8Array(prefix + changed.length);
    const regValue = new BigUint64Array(prefix + changed.length);
    regIndex.set(replay.regIndex);
    regValue.set(replay.regValue);
    changed.forEach((r, k) => {
      regIndex[prefix + k] = r;
      regValue[prefix + k] = batch.end[r]!;
    });
    const before = replay.memAddress.length;
    const recorded = accesses.kind.length - earlier;
    if (before > recorded) throw this.error(batch, `the replay made ${earlier + before} memory accesses before its last instruction; ${accesses.kind.length} were recorded`);
    this.checkAccesses(batch, replay, accesses, earlier);
    const code = new Map(replay.code);
    if (size > 0) code.set(pc, block.bytes.slice(offset, offset + size));
    const pcs = new BigUint64Array(n + 1);
    pcs.set(replay.pc);
    pcs[n] = pc;
    const sizes = new Uint8Array(n + 1);
    sizes.set(replay.size);
    sizes[n] = size;
    const regStart = new Uint32Array(n + 2);
    regStart.set(replay.regStart.subarray(0, n + 1));
    regStart[n + 1] = regIndex.length;
    const memStart = new Uint32Array(n + 2);
    memStart.set(replay.memStart.subarray(0, n + 1));
    memStart[n + 1] = recorded;
    return {
      count: n + 1, first: replay.first, pc: pcs, size: sizes,
      regStart, regIndex, regValue,
      memStart, memKind: accesses.kind.subarray(earlier), memAddress: accesses.address.subarray(earlier),
      memSize: accesses.size.subarray(earlier), memValue: accesses.value.subarray(earlier),
      code, events: [],
    };
  }

  /** Throws unless the replay's accesses in `replay` are the recorded ones from `earlier` on (compared as 32-bit words: no bigint per access). */
  private checkAccesses(batch: TraceBlockBatch, replay: TraceBatch, accesses: Accesses, earlier: number): void {
    const n = replay.memAddress.length;
    if (earlier + n > accesses.kind.length) throw this.error(batch, `the replay made more memory accesses than the ${accesses.kind.length} recorded`);
    const replayAddress = new Uint32Array(replay.memAddress.buffer, replay.memAddress.byteOffset, n * 2);
    const replayValue = new Uint32Array(replay.memValue.buffer, replay.memValue.byteOffset, n * 2);
    const base = 2 * earlier;
    for (let j = 0; j < n; j++) {
      if (replayAddress[2 * j] !== accesses.addressWords[base + 2 * j] || replayAddress[2 * j + 1] !== accesses.addressWords[base + 2 * j + 1]
        || replayValue[2 * j] !== accesses.valueWords[base + 2 * j] || replayValue[2 * j + 1] !== accesses.valueWords[base + 2 * j + 1]
        || replay.memKind[j] !== accesses.kind[earlier + j]) {
        throw this.error(batch, `the replay's memory access ${earlier + j} (0x${replay.memAddress[j]!.toString(16)}) differs from the recorded one (0x${accesses.address[earlier + j]!.toString(16)})`);
      }
    }
  }

  private error(batch: TraceBlockBatch, what: string): TraceFormatError {
    return new TraceFormatError(`Blocks message at instruction ${batch.first}: ${what}`, { code: 'bad-field' });
  }
}

function emptyBatch(batch: TraceBlockBatch): TraceBatch {
  return {
    count: 0, first: batch.first, pc: new BigUint64Array(0), size: new Uint8Array(0), regStart: new Uint32Array(1), regIndex: new Uint8Array(0),
    regValue: new BigUint64Array(0), memStart: new Uint32Array(1), memKind: new Uint8Array(0), memAddress: new BigUint64Array(0),
    memSize: new Uint8Array(0), memValue: new BigUint64Array(0), code: new Map(), events: batch.events,
  };
}

/** The registers after `batches`, from `start`: each one's last change, found scanning back (no bigint per change). */
function stateBefore(start: bigint[], batches: TraceBatch[]): bigint[] {
  const state = start.slice();
  const found = new Uint8Array(state.length);
  let missing = state.length;
  for (let b = batches.length - 1; b >= 0 && missing > 0; b--) {
    const { regIndex, regValue } = batches[b]!;
    for (let j = regIndex.length - 1; j >= 0 && missing > 0; j--) {
      const r = regIndex[j]!;
      if (found[r]) continue;
      found[r] = 1;
      missing--;
      state[r] = regValue[j]!;
    }
  }
  return state;
}

/** One batch holding `batches` in order (none: an empty batch at `first`). */
function concat(batches: TraceBatch[], first: number): TraceBatch {
  if (batches.length === 1) return batches[0]!;
  const count = batches.reduce((n, b) => n + b.count, 0);
  const regs = batches.reduce((n, b) => n + b.regIndex.length, 0);
  const mems = batches.reduce((n, b) => n + b.memAddress.length, 0);
  const out: TraceBatch = {
    count, first, pc: new BigUint64Array(count), size: new Uint8Array(count), regStart: new Uint32Array(count + 1),
    regIndex: new Uint8Array(regs), regValue: new BigUint64Array(regs), memStart: new Uint32Array(count + 1), memKind: new Uint8Array(mems),
    memAddress: new BigUint64Array(mems), memSize: new Uint8Array(mems), memValue: new BigUint64Array(mems), code: new Map(), events: [],
  };
  let at = 0;
  let r = 0;
  let m = 0;
  for (const b of batches) {
    out.pc.set(b.pc, at);
    out.size.set(b.size, at);
    for (let i = 0; i < b.count; i++) {
      out.regStart[at + i] = r + b.regStart[i]!;
      out.memStart[at + i] = m + b.memStart[i]!;
    }
    out.regIndex.set(b.regIndex, r); out.regValue.set(b.regValue, r);
    out.memKind.set(b.memKind, m); out.memAddress.set(b.memAddress, m); out.memSize.set(b.memSize, m); out.memValue.set(b.memValue, m);
    for (const [address, bytes] of b.code) out.code.set(address, bytes);
    at += b.count;
    r += b.regIndex.length;
    m += b.memAddress.length;
    out.regStart[at] = r;
    out.memStart[at] = m;
  }
  return out;
}
