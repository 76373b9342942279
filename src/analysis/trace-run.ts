/**
 * Runs a bounded window over a dump and records every instruction: the
 * library behind `faultline trace`.
 *
 * @example
 * ```ts
 * const { header, batches, result } = traceRun({ dump, registers, from: 0x401000n, count: 100 });
 * ```
 */
import { Recorder } from '../../emu/recorder.ts';
import { BlockRecorder, type BlockDecoder, type BlockSink } from '../../emu/block-recorder.ts';
import { pcRegister, type RegisterValues } from '../../emu/registers.ts';
import type { RunResult } from '../../emu/run-result.ts';
import type { TraceBatch, TraceEventInput, TraceHeader } from '../../traces/model.ts';
import type { Dump } from '../dumps/model.ts';
import { machineFor } from './machine.ts';
import type { VectorRegisters } from '../../emu/vector-registers.ts';

export interface TraceRunOptions {
  dump: Dump;
  /** The state at `from`; the pc is set to `from`. */
  registers: RegisterValues;
  /** x87/SSE/AVX registers to start with (a core thread's `vector`). */
  vector?: VectorRegisters;
  from: bigint;
  until?: bigint;
  count?: number;
  maxInstructions?: number;
  timeoutMs?: number;
  /** Record register changes and memory accesses (default both). */
  record?: { registers?: boolean; memory?: boolean };
  /** Receives batches as they fill (e.g. a streaming trace writer); otherwise they are kept. */
  onBatch?: (batch: TraceBatch) => void;
  /** Receives the header before the first batch (a streaming writer writes it first). */
  onHeader?: (header: TraceHeader) => void;
  /**
   * Record blocks and checkpoints (trace format version 2) into `sink`
   * instead of per-instruction batches, when the native block recorder is
   * built; otherwise `onBatch` receives version-1 batches as before.
   */
  blocks?: { sink: BlockSink; decode: BlockDecoder };
}

export interface TraceRunResult {
  header: TraceHeader;
  /** The batches, when no `onBatch` was given. */
  batches: TraceBatch[];
  result: RunResult;
  /** The registers after the run. */
  final: RegisterValues;
}

/** Emulates from `from` under the options' bounds and returns the trace. */
export function traceRun(options: TraceRunOptions): TraceRunResult {
  const { dump } = options;
  const registers = { ...options.registers, [pcRegister(dump.arch)]: options.from };
  const emu = machineFor(dump, registers, options.vector ? { vector: options.vector } : {});
  const batches: TraceBatch[] = [];
  const sink = options.onBatch ?? ((b: TraceBatch) => batches.push(b));
  let header: TraceHeader | undefined;
  try {
    const blocks = options.blocks && BlockRecorder.attach(emu, { sink: options.blocks.sink, decode: options.blocks.decode, memory: options.record?.memory });
    const recorder = blocks ?? Recorder.attach(emu, { onBatch: sink }, options.record ?? {});
    header = {
      version: blocks ? 2 : 1,
      arch: dump.arch,
      source: `${dump.format} ${dump.path}`,
      registers: blocks ? blocks.registers.slice(0, -1) : recorder.registers,
      ...(blocks && { checkpoint: blocks.registers }),
      startRegisters: emu.readRegisters(),
      memory: `${dump.format} ${dump.path}`,
      created: new Date().toISOString(),
    };
    options.onHeader?.(header);
    const result = emu.run({
      from: options.from,
      until: options.until,
      count: options.count,
      maxInstructions: options.maxInstructions,
      timeoutMs: options.timeoutMs,
    });
    recorder.addEvent(eventOf(result));
    recorder.flushEvents();
    const final = emu.readRegisters();
    recorder.detach();
    return { header, batches, result, final };
  } finally {
    emu.dispose();
  }
}

function eventOf(result: RunResult): TraceEventInput {
  switch (result.kind) {
    case 'trapped':
      return { kind: 'trap', vector: result.vector, pc: result.pc, name: result.name };
    case 'fault':
      return { kind: 'fault', address: result.address, access: result.access, pc: result.pc, reason: result.reason };
    case 'reached':
      return { kind: 'stop', reason: result.reason === 'address' ? 'reached until address' : `${result.instructions} instructions`, pc: result.pc };
    case 'budget':
      return { kind: 'stop', reason: `${result.budget} budget exhausted`, pc: result.pc };
    case 'error':
      return { kind: 'stop', reason: `error: ${result.error.message}`, pc: result.pc };
  }
}
