/**
 * The benchmark's measurements, one function per mode, each on a fresh
 * engine loaded with the same workload: no hooks, a JavaScript block hook,
 * full recording (into a counting sink or the trace writer), and a loop of
 * short window replays between snapshot restores. Every mode checks that the
 * workload still computes the expected result; a wrong answer throws.
 *
 * @example
 * ```ts
 * const workload = buildWorkload();
 * const base = measureNoHooks(workload); // { instructions, seconds, result }
 * ```
 */
import { closeSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockRecorder, type BlockDecoder } from '../emu/block-recorder.ts';
import { streamTrace } from '../traces/reader.ts';
import { Emulator } from '../emu/emulator.ts';
import { Recorder } from '../emu/recorder.ts';
import { TraceWriter } from '../traces/writer.ts';
import type { RunResult } from '../emu/run-result.ts';
import type { TraceBatch } from '../traces/model.ts';
import type { Workload } from './workload.ts';

/** One timed run of the whole workload. */
export interface Measurement {
  instructions: number;
  seconds: number;
  /** rax at the end: the workload's result. */
  result: bigint;
  /** Backend-specific detail for the report (blocks seen, accesses recorded…). */
  detail?: Record<string, number | string | boolean>;
}

/** The window-replay loop's outcome. */
export interface ReplayMeasurement {
  replays: number;
  seconds: number;
  /** The process's CPU time (user + system) over the same loop: less moved by other jobs on the machine than `seconds`. */
  cpuSeconds: number;
  window: number;
  /** Where in the workload the snapshot was taken (instructions from the start). */
  snapshotAt: number;
  /** Pages rewritten by a typical restore. */
  pagesPerRestore: number;
  /** True when the recorder (registers and memory) recorded every window. */
  recorded: boolean;
}

const STACK_TOP = 0x7ff0_0000n;
const STACK_SIZE = 0x10_000;
// Long enough for the slowest mode (JavaScript recording) on a slow machine.
const TIMEOUT_MS = 600_000;

/** A fresh x64 engine with the workload image and a stack, registers at `_start`. */
export function loadWorkload(workload: Workload): Emulator {
  const emu = Emulator.open('x64');
  emu.mapBytes(workload.base, workload.image);
  emu.map(STACK_TOP - BigInt(STACK_SIZE), STACK_SIZE);
  emu.writeRegisters({ rsp: STACK_TOP - 0x100n, rip: workload.entry });
  return emu;
}

/** Throws unless the run stopped at the end address with the expected result in rax. */
function checkFinished(emu: Emulator, workload: Workload, result: RunResult, mode: string): bigint {
  if (result.kind !== 'reached' || result.pc !== workload.end) {
    throw new Error(`The ${mode} run did not reach bench_end at 0x${workload.end.toString(16)}: ${result.kind} at 0x${result.pc.toString(16)}`);
  }
  const rax = emu.readRegister('rax');
  if (rax !== workload.expected) {
    throw new Error(`The ${mode} run computed 0x${rax.toString(16)}, the host 0x${workload.expected.toString(16)}`);
  }
  return rax;
}

function runToEnd(emu: Emulator, workload: Workload): RunResult {
  return emu.run({ from: workload.entry, until: workload.end, maxInstructions: 0, timeoutMs: TIMEOUT_MS });
}

function timed<T>(fn: () => T): { value: T; seconds: number } {
  const start = process.hrtime.bigint();
  const value = fn();
  return { value, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

/** The exact instruction count, from a recording of nothing but the count. */
export function countInstructions(workload: Workload): { instructions: number; native: boolean } {
  const emu = loadWorkload(workload);
  try {
    let instructions = 0;
    const recorder = Recorder.attach(emu, { onBatch: (b) => { instructions += b.count; } }, { registers: false, memory: false });
    const result = runToEnd(emu, workload);
    const executed = recorder.executed();
    recorder.detach();
    checkFinished(emu, workload, result, 'counting');
    if (executed !== instructions) throw new Error(`The recorder counted ${executed} instructions but emitted ${instructions}`);
    return { instructions, native: recorder.native };
  } finally {
    emu.dispose();
  }
}

/** Mode 1: no hooks of our own, bounded by the end address and a time budget only. */
export function measureNoHooks(workload: Workload, instructions: number): Measurement {
  const emu = loadWorkload(workload);
  try {
    const { value, seconds } = timed(() => runToEnd(emu, workload));
    return { instructions, seconds, result: checkFinished(emu, workload, value, 'no-hook') };
  } finally {
    emu.dispose();
  }
}

/** Mode 2: a JavaScript block hook that counts blocks and their bytes. */
export function measureBlockTracing(workload: Workload, instructions: number): Measurement {
  const emu = loadWorkload(workload);
  try {
    let blocks = 0;
    let bytes = 0;
    emu.onBlock((_address, size) => {
      blocks++;
      bytes += size;
    });
    const { value, seconds } = timed(() => runToEnd(emu, workload));
    return { instructions, seconds, result: checkFinished(emu, workload, value, 'block-tracing'), detail: { blocks, bytes } };
  } finally {
    emu.dispose();
  }
}

/**
 * Mode 3: the recorder with registers and memory into a sink that keeps
 * counts, or (`encode`) into the trace writer aimed at /dev/null.
 * `limit` records only a prefix (for the slow JavaScript backend).
 */
export function measureFullTracing(workload: Workload, options: { encode?: boolean; limit?: number } = {}): Measurement {
  const emu = loadWorkload(workload);
  const devNull = options.encode ? openSync('/dev/null', 'w') : undefined;
  try {
    let instructions = 0;
    let registerChanges = 0;
    let memoryAccesses = 0;
    const counter = {
      onBatch: (b: TraceBatch) => {
        instructions += b.count;
        registerChanges += b.regIndex.length;
        memoryAccesses += b.memKind.length;
      },
    };
    const writer = devNull === undefined ? undefined : new TraceWriter(devNull, { name: '/dev/null' });
    const recorder = Recorder.attach(emu, writer ? { onBatch: (b) => { counter.onBatch(b); writer.onBatch(b); } } : counter);
    writer?.writeHeader({ version: 1, arch: 'x64', source: 'bench', registers: recorder.registers, startRegisters: emu.readRegisters() });
    const { value, seconds } = timed(() =>
      options.limit === undefined
        ? runToEnd(emu, workload)
        : emu.run({ from: workload.entry, count: options.limit, maxInstructions: 0, timeoutMs: TIMEOUT_MS }),
    );
    recorder.detach();
    writer?.close('bench');
    const mode = options.encode ? 'full-tracing (encoded)' : 'full-tracing';
    let result = 0n;
    if (options.limit === undefined) result = checkFinished(emu, workload, value, mode);
    else if (value.kind !== 'reached' || instructions !== options.limit) {
      throw new Error(`The ${mode} prefix run recorded ${instructions} of ${options.limit} instructions (${value.kind})`);
    }
    return {
      instructions, seconds, result,
      detail: { native: recorder.native, registerChanges, memoryAccesses },
    };
  } finally {
    if (devNull !== undefined) closeSync(devNull);
    emu.dispose();
  }
}

/**
 * Mode 4: snapshot `snapshotAt` instructions into the workload, then run a
 * `window`-instruction window and restore, again and again for `seconds`;
 * with `record`, the recorder traces every window as a replay would.
 * Every window must end at the same pc; after the loop the workload must
 * still run to the expected result (so the restores were exact).
 */
export function measureWindowReplay(
  workload: Workload,
  options: { snapshotAt: number; window: number; seconds: number; record?: boolean },
): ReplayMeasurement {
  const emu = loadWorkload(workload);
  let recorded = 0;
  try {
    const prefix = emu.run({ from: workload.entry, count: options.snapshotAt, maxInstructions: 0, timeoutMs: TIMEOUT_MS });
    if (prefix.kind !== 'reached') throw new Error(`Cannot reach the snapshot point: ${prefix.kind} at 0x${prefix.pc.toString(16)}`);
    const recorder = options.record ? Recorder.attach(emu, { onBatch: (b) => { recorded += b.count; } }) : undefined;
    const snap = emu.snapshot();
    const first = emu.run({ count: options.window });
    if (first.kind !== 'reached' || first.reason !== 'count') throw new Error(`The first window ended with ${first.kind}`);
    const windowEnd = first.pc;
    let pages = emu.restore(snap).pagesRestored;

    let replays = 0;
    const deadline = process.hrtime.bigint() + BigInt(Math.round(options.seconds * 1e9));
    const start = process.hrtime.bigint();
    const cpuStart = process.cpuUsage();
    let now = start;
    while (now < deadline) {
      // Check the clock every 256 replays: hrtime costs a little too.
      for (let i = 0; i < 256; i++) {
        const result = emu.run({ count: options.window });
        if (result.pc !== windowEnd) throw new Error(`Replay ${replays} ended at 0x${result.pc.toString(16)}, not 0x${windowEnd.toString(16)}`);
        pages = emu.restore(snap).pagesRestored;
        replays++;
      }
      now = process.hrtime.bigint();
    }
    const seconds = Number(now - start) / 1e9;
    const cpu = process.cpuUsage(cpuStart);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    if (recorder && recorded !== (replays + 1) * options.window) {
      throw new Error(`The recorder saw ${recorded} instructions in ${replays + 1} windows of ${options.window}`);
    }
    recorder?.detach();
    checkFinished(emu, workload, emu.run({ until: workload.end, maxInstructions: 0, timeoutMs: TIMEOUT_MS }), 'after-replays');
    return { replays, seconds, cpuSeconds, window: options.window, snapshotAt: options.snapshotAt, pagesPerRestore: pages, recorded: recorder !== undefined };
  } finally {
    emu.dispose();
  }
}

/**
 * Mode 5: the block recorder (blocks, every memory access, register
 * checkpoints) into a counting sink, or (`file`) into a version-2 trace file
 * on disk, whose size per instruction is reported; `readBack` then times
 * reading that file back into per-instruction batches (the replay) and
 * checks it holds every instruction.
 */
export function measureBlockRecording(workload: Workload, decode: BlockDecoder, options: { file?: boolean; readBack?: boolean } = {}): Measurement {
  const emu = loadWorkload(workload);
  const dir = options.file ? mkdtempSync(join(tmpdir(), 'faultline-bench-')) : undefined;
  try {
    const path = dir && join(dir, 'bench.fltrace');
    const writer = path === undefined ? undefined : TraceWriter.open(path, { background: true });
    let instructions = 0;
    let memoryAccesses = 0;
    let blocks = 0;
    const recorder = BlockRecorder.attach(emu, {
      decode,
      sink: { onBlocks: (b) => { instructions += b.count; memoryAccesses += b.accesses; blocks += b.blockCount; writer?.writeBlocks(b); } },
    });
    if (!recorder) throw new Error('The native library lacks the block recorder: rebuild it (npm run postinstall)');
    writer?.writeHeader({ version: 2, arch: 'x64', source: 'bench', registers: recorder.registers.slice(0, -1), checkpoint: recorder.registers, startRegisters: emu.readRegisters() });
    const { value, seconds } = timed(() => runToEnd(emu, workload));
    recorder.detach();
    // Part of the time: the bytes still queued for the writer thread.
    const closing = timed(() => writer?.close('bench'));
    const result = checkFinished(emu, workload, value, 'block-recording');
    const detail: Record<string, number | string | boolean> = { memoryAccesses, blocks, distinctBlocks: recorder.blocks.length };
    if (path) {
      detail.bytesPerInstruction = Number((statSync(path).size / instructions).toFixed(2));
      if (options.readBack) {
        const read = timed(() => {
          let n = 0;
          for (const batch of streamTrace(path).batches()) n += batch.count;
          return n;
        });
        if (read.value !== instructions) throw new Error(`Reading the trace back gave ${read.value} of ${instructions} instructions`);
        detail.readBackPerSecond = Math.round(instructions / read.seconds);
      }
    }
    return { instructions, seconds: seconds + closing.seconds, result, detail };
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
    emu.dispose();
  }
}
