/**
 * `faultline record`: runs a program under ptrace (the native helper,
 * `native/stepper.c`) and writes a `.fltrace`. By default natively from one
 * sync point to the next with Unicorn recording the instructions between
 * them (`fast-record.ts`); with `mode: 'step'` (this file) every instruction
 * is single-stepped and what the CPU did is turned into the trace:
 * per instruction its pc, bytes and size (the size from Capstone) and the
 * registers it changed; sync points (`syscall`, `rdtsc`, `cpuid`, `rdrand`
 * …: their register changes are what the kernel or the CPU returned) and
 * signals as events. Memory accesses are not recorded (ptrace does not see
 * them), but the initial memory image and the kernel's changes to it are
 * (memory events). x86-64 Linux; i386 and AArch64 programs are recorded
 * under qemu-user instead (`qemu-record.ts`).
 *
 * @example
 * ```ts
 * const summary = await recordProgram({ program: './a.out', args: [], out: 'run.fltrace', maxInstructions: 1_000_000 });
 * console.log(summary.instructions, summary.ending);
 * ```
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants } from 'node:os';
import { InputError } from '../errors.ts';
import { createDisassembler, type Disassembler } from '../disasm/disassembler.ts';
import { writeTraceFileWith, type TraceWriter } from '../../traces/writer.ts';
import type { TraceBatch, TraceEvent, TraceHeader } from '../../traces/model.ts';
import type { RegisterName } from '../../emu/registers.ts';
import { buildStepper, STEPPER_PATH, STEPPER_SOURCE } from './stepper-build.ts';
import { StepFile, USER_REGS, type RegisterChanges, type StepRecord } from './step-file.ts';
import { qemuGuestOf, recordUnderQemu } from './qemu-record.ts';
import { recordFast } from './fast-record.ts';

/** The trace's register order: x86-64's general registers, flags, segments and bases (the pc has its own column). */
export const RECORDED_REGISTERS: RegisterName[] = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
  'efl', 'cs', 'ss', 'ds', 'es', 'fs', 'gs', 'fs_base', 'gs_base',
];

/** Instructions whose results the CPU or the kernel chose: a replay must be given them. */
const SYNC_MNEMONICS = new Set(['syscall', 'sysenter', 'rdtsc', 'rdtscp', 'cpuid', 'rdrand', 'rdseed', 'xgetbv', 'rdpid', 'rdpkru']);

const BATCH = 65_536;

export interface RecordOptions {
  program: string;
  args: string[];
  out: string;
  maxInstructions: number;
  /** `fast` (default): run natively to each sync point, Unicorn between them (fast-record.ts); `step`: single-step every instruction. */
  mode?: 'fast' | 'step';
  /** Answer `cpuid` without AVX, AVX2, AVX-512, FMA, F16C, XSAVE, TSX (code paths Unicorn runs). */
  maskCpuid?: boolean;
  /** What the program's standard streams are connected to (default: this process's). */
  stdio?: 'inherit' | 'ignore';
  /** Called after each batch with the instructions converted so far. */
  onProgress?: (instructions: number) => void;
}

export interface RecordSummary {
  instructions: number;
  /** How the program ended: `exited with status 3`, `killed by SIGSEGV`, `instruction budget of 1000 reached`. */
  ending: string;
  exitStatus?: number;
  signal?: string;
  /** Seconds the program ran under the helper (the recording itself). */
  seconds: number;
  /** Instructions per second while recording. */
  rate: number;
  /** The fast mode went on single-stepped from some instruction: why, and from where. */
  note?: string;
}

export function signalName(signal: number): string {
  const entry = Object.entries(constants.signals).find(([, n]) => n === signal);
  return entry ? entry[0] : `signal ${signal}`;
}

/** Finds or builds the helper (again when its source is newer: a helper from an older checkout may write another layout). */
export function stepperPath(): string {
  if (existsSync(STEPPER_PATH) && statSync(STEPPER_PATH).mtimeMs >= statSync(STEPPER_SOURCE).mtimeMs) return STEPPER_PATH;
  const lines: string[] = [];
  if (!buildStepper((line) => lines.push(line))) throw new InputError(lines.join('; '));
  return STEPPER_PATH;
}

/** Runs the helper to completion; its own errors (ptrace refused, program not found) become one line. */
async function runStepper(raw: string, options: RecordOptions): Promise<{ seconds: number }> {
  const started = performance.now();
  const child = spawn(stepperPath(), [raw, String(options.maxInstructions), options.maskCpuid ? '1' : '0', options.program, ...options.args], {
    stdio: [options.stdio ?? 'inherit', options.stdio ?? 'inherit', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    // The program's own stderr passes through; the helper's lines are kept for the error.
    if (options.stdio !== 'ignore' && !text.startsWith('faultline-stepper:')) process.stderr.write(chunk);
    stderr += text;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => resolve(status));
  });
  const helperLine = stderr.split('\n').find((line) => line.startsWith('faultline-stepper:'));
  if (code !== 0) throw new InputError(helperLine ? helperLine.replace(/^faultline-stepper: /, 'record: ') : `record: the single-step helper failed (exit ${code})`);
  return { seconds: (performance.now() - started) / 1000 };
}

/** Accumulates instructions into columnar batches and hands each full one to the writer. */
export class BatchBuilder {
  private pc = new BigUint64Array(BATCH);
  private size = new Uint8Array(BATCH);
  private regStart = new Uint32Array(BATCH + 1);
  private regIndex: Uint8Array;
  private regValue: BigUint64Array;
  private count = 0;
  private changes = 0;
  private code = new Map<bigint, Uint8Array>();
  private events: TraceEvent[] = [];
  first = 0;

  constructor(private readonly writer: TraceWriter, registerCount = RECORDED_REGISTERS.length) {
    this.regIndex = new Uint8Array(BATCH * registerCount);
    this.regValue = new BigUint64Array(BATCH * registerCount);
  }

  get next(): number {
    return this.first + this.count;
  }

  add(pc: bigint, size: number, changed: Array<[number, bigint]>): void {
    const i = this.count++;
    this.pc[i] = pc;
    this.size[i] = size;
    this.regStart[i] = this.changes;
    for (const [index, value] of changed) {
      this.regIndex[this.changes] = index;
      this.regValue[this.changes++] = value;
    }
    this.regStart[i + 1] = this.changes;
    if (this.count === BATCH) this.flush();
  }

  /**
   * Appends the instructions of a batch Unicorn ran (the per-instruction
   * `Recorder`'s), their registers through `map` (the batch's register index
   * → the trace's; -1: left out), except those `skip` names.
   */
  addColumns(batch: TraceBatch, map: Int8Array, skip?: (i: number) => boolean): void {
    for (const [address, bytes] of batch.code) this.code.set(address, bytes);
    const { pc, size, regStart, regIndex, regValue } = batch;
    for (let i = 0; i < batch.count; i++) {
      if (skip?.(i)) continue;
      const k = this.count++;
      this.pc[k] = pc[i]!;
      this.size[k] = size[i]!;
      this.regStart[k] = this.changes;
      for (let j = regStart[i]!, end = regStart[i + 1]!; j < end; j++) {
        const to = map[regIndex[j]!]!;
        if (to < 0) continue;
        this.regIndex[this.changes] = to;
        this.regValue[this.changes++] = regValue[j]!;
      }
      this.regStart[k + 1] = this.changes;
      if (this.count === BATCH) this.flush();
    }
  }

  addCode(address: bigint, bytes: Uint8Array): void {
    this.code.set(address, bytes);
  }

  addEvent(event: TraceEvent): void {
    this.events.push(event);
  }

  flush(): void {
    if (this.count === 0 && this.events.length === 0 && this.code.size === 0) return;
    const n = this.count;
    const batch: TraceBatch = {
      count: n, first: this.first,
      pc: this.pc.subarray(0, n), size: this.size.subarray(0, n), regStart: this.regStart.subarray(0, n + 1),
      regIndex: this.regIndex.subarray(0, this.changes), regValue: this.regValue.subarray(0, this.changes),
      memStart: new Uint32Array(n + 1), memKind: new Uint8Array(0), memAddress: new BigUint64Array(0), memSize: new Uint8Array(0), memValue: new BigUint64Array(0),
      code: this.code, events: this.events,
    };
    this.writer.writeBatch(batch);
    this.first += n;
    this.count = 0;
    this.changes = 0;
    this.regStart[0] = 0;
    this.code = new Map();
    this.events = [];
  }
}

/** Maps `USER_REGS` indices to the trace's register indices (-1: not in the trace). */
export const TO_TRACE = USER_REGS.map((name) => RECORDED_REGISTERS.indexOf(name as RegisterName));
const RIP = USER_REGS.indexOf('rip');
const R11 = RECORDED_REGISTERS.indexOf('r11');
const TRAP_FLAG = 0x100n;

function traceChanges(changes: RegisterChanges): Array<[number, bigint]> {
  const out: Array<[number, bigint]> = [];
  for (let k = 0; k < changes.index.length; k++) {
    const to = TO_TRACE[changes.index[k]!]!;
    if (to >= 0) out.push([to, changes.value[k]!]);
  }
  return out;
}

/** How a recorded program ended. */
export interface RecordEnding {
  ending: string;
  exitStatus?: number;
  signal?: string;
}

/**
 * Turns the helper's records into the trace at `writer`, one record at a
 * time (the file mode reads them from the helper's file; the fast mode,
 * `fast-record.ts`, from its replies, between the instructions Unicorn ran).
 */
export class StepConverter {
  readonly batches: BatchBuilder;
  /** Per address: the bytes last read there, and their decoded size and mnemonic. */
  private readonly code = new Map<bigint, { bytes: Uint8Array; size: number; sync: string | undefined }>();
  pc: bigint;
  ending = 'the recording ended without its end record (the helper was killed)';
  exitStatus?: number;
  signal?: string;
  /** Memory records before the first instruction are the initial image; later ones follow the instruction (or signal delivery) they belong to. */
  started = false;

  /** `engine`: the header's (traces/FORMAT.md): `cpu` when every instruction was stepped on it. */
  constructor(writer: TraceWriter, private readonly disasm: Disassembler, start: bigint[], source: string, memory: string, engine = 'cpu') {
    const startRegisters: TraceHeader['startRegisters'] = {};
    USER_REGS.forEach((name, i) => {
      if (name !== 'orig_rax') startRegisters[name as RegisterName] = start[i]!;
    });
    writer.writeHeader({ version: 1, arch: 'x64', source, engine, registers: RECORDED_REGISTERS, startRegisters, memory, created: new Date().toISOString() });
    this.batches = new BatchBuilder(writer);
    this.pc = start[RIP]!;
  }

  private memoryAt() {
    return this.started ? { index: Math.max(this.batches.next - 1, 0) } : { index: 0, start: true as const };
  }

  handle(record: StepRecord): void {
    const batches = this.batches;
    if (record.type === 'instruction' || record.type === 'signal') this.started = true;
    switch (record.type) {
      case 'map': {
        const p = record.protection;
        const protection = `${p & 1 ? 'r' : '-'}${p & 2 ? 'w' : '-'}${p & 4 ? 'x' : '-'}`;
        batches.addEvent({ kind: 'memory', ...this.memoryAt(), action: 'map', address: record.address, size: record.size, protection });
        break;
      }
      case 'unmap':
        batches.addEvent({ kind: 'memory', ...this.memoryAt(), action: 'unmap', address: record.address, size: record.size });
        break;
      case 'write':
        batches.addEvent({ kind: 'memory', ...this.memoryAt(), action: 'write', address: record.address, size: BigInt(record.bytes.length), bytes: record.bytes });
        break;
      case 'code': {
        const decoded = this.disasm.decode(record.bytes, record.address);
        const size = decoded?.size ?? 0;
        const bytes = decoded ? record.bytes.slice(0, size) : record.bytes;
        this.code.set(record.address, { bytes, size, sync: decoded && SYNC_MNEMONICS.has(decoded.mnemonic) ? decoded.mnemonic : undefined });
        batches.addCode(record.address, bytes);
        break;
      }
      case 'instruction': {
        const known = this.code.get(record.pc);
        if (known?.sync) batches.addEvent({ kind: 'sync', index: batches.next, pc: record.pc, name: known.sync });
        const changed = traceChanges(record.changes);
        // `syscall` saves rflags in r11, and under single-step that includes the trap flag the stepping set: recorded as without it.
        if (known?.sync === 'syscall') for (const entry of changed) if (entry[0] === R11) entry[1] &= ~TRAP_FLAG;
        batches.add(record.pc, known?.size ?? 0, changed);
        const k = record.changes.index.indexOf(RIP);
        this.pc = k >= 0 ? record.changes.value[k]! : this.pc;
        break;
      }
      case 'signal': {
        this.signal = signalName(record.signal);
        const registers = traceChanges(record.changes).map(([index, value]) => [RECORDED_REGISTERS[index]!, value] as [RegisterName, bigint]);
        batches.addEvent({
          kind: 'signal', index: Math.max(batches.next - 1, 0), pc: record.pc, signal: record.signal,
          name: record.handler ? `${this.signal} delivered to its handler` : this.signal, ...(registers.length ? { registers } : {}),
        });
        const k = record.changes.index.indexOf(RIP);
        this.pc = k >= 0 ? record.changes.value[k]! : this.pc;
        break;
      }
      case 'end': {
        if (record.kind === 'exited') {
          this.exitStatus = record.value;
          this.ending = `exited with status ${record.value}`;
        } else if (record.kind === 'killed') {
          this.signal = signalName(record.value);
          this.ending = `killed by ${this.signal}`;
        } else {
          this.ending = `instruction budget of ${batches.next} reached (the program was killed)`;
        }
        batches.addEvent({ kind: 'stop', index: Math.max(batches.next - 1, 0), reason: this.ending, pc: this.pc });
        break;
      }
      default:
        break;
    }
  }

  /** Writes what is left; the instruction count and how the program ended. */
  finish(): { instructions: number } & RecordEnding {
    const instructions = this.batches.next;
    this.batches.flush();
    return { instructions, ending: this.ending, ...(this.exitStatus === undefined ? {} : { exitStatus: this.exitStatus }), ...(this.signal === undefined ? {} : { signal: this.signal }) };
  }
}

const STEP_MEMORY = 'initial image and the kernel\'s writes (memory events); the program\'s own accesses not recorded: ptrace single-step on the CPU (faultline record)';

/** Converts the helper's file into the trace at `writer`; returns the instruction count and how the program ended. */
function convert(raw: string, writer: TraceWriter, disasm: Disassembler, source: string, onProgress?: (n: number) => void): { instructions: number } & RecordEnding {
  const file = StepFile.open(raw);
  try {
    const converter = new StepConverter(writer, disasm, file.start, source, STEP_MEMORY);
    for (let record = file.next(); record; record = file.next()) {
      converter.handle(record);
      if (record.type === 'instruction' && converter.batches.next % BATCH === 0) onProgress?.(converter.batches.next);
    }
    return converter.finish();
  } finally {
    file.close();
  }
}

/** Records `program` and writes the trace to `options.out` (whole or not at all). */
export async function recordProgram(options: RecordOptions): Promise<RecordSummary> {
  const guest = qemuGuestOf(options.program);
  if (guest) return recordUnderQemu({ ...options, arch: guest });
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new InputError('record runs programs on the CPU: it needs Linux on x86-64');
  if (options.mode !== 'step') return recordFast(options);
  const dir = mkdtempSync(join(tmpdir(), 'faultline-record-'));
  const raw = join(dir, 'steps');
  const disasm = await createDisassembler('x64');
  try {
    const { seconds } = await runStepper(raw, options);
    const source = `faultline record --step -- ${[options.program, ...options.args].join(' ')}`;
    let result: ReturnType<typeof convert> | undefined;
    writeTraceFileWith(options.out, (writer) => {
      result = convert(raw, writer, disasm, source, options.onProgress);
      return result.ending;
    });
    return { ...result!, seconds, rate: result!.instructions / seconds };
  } finally {
    disasm.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
