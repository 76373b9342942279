/**
 * `faultline record`'s fast mode: the program runs natively under ptrace and
 * stops only at sync points; Unicorn, started from the same registers and
 * memory image, runs every instruction between them under the
 * per-instruction recorder, and that is the trace written (the same
 * `.fltrace` as the single-step mode's).
 *
 * Unicorn is the oracle of where the next sync point is: every address in
 * executable memory that may start a `syscall`, `cpuid`, `rdtsc`, `rdtscp`,
 * `rdrand`, `rdseed`, `xgetbv` or `rdpkru` is an exit of the emulator (a byte
 * pattern inside another instruction never stops it), and an access Unicorn
 * cannot make (a fault) is a sync point too. Where Unicorn stops, the helper
 * (`native/stepper.c --serve`) runs the program natively to that address (a
 * hardware execution breakpoint, under PTRACE_SYSCALL so that a system call
 * the emulator did not predict stops it), the registers of the CPU and of
 * Unicorn are compared there (a difference is a divergence: the recording
 * fails, exit 1), and the helper single-steps the instruction as the
 * single-step mode does: its results, the kernel's memory changes, signals.
 * Unicorn then takes the CPU's registers and memory and goes on.
 *
 * This CPU has no CPUID faulting (`arch_prctl(ARCH_SET_CPUID, 0)` fails with
 * ENODEV), so `cpuid` cannot be trapped by the kernel; the exits find it.
 * Soft-dirty page tracking reads no bits here, so the kernel's writes are
 * found by comparing writable memory before and after each system call, as
 * in the single-step mode.
 *
 * @example
 * ```ts
 * const summary = await recordFast({ program: './a.out', args: [], out: 'run.fltrace', maxInstructions: 1_000_000, maskCpuid: true });
 * ```
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Emulator } from '../../emu/emulator.ts';
import { Recorder } from '../../emu/recorder.ts';
import type { RegisterName } from '../../emu/registers.ts';
import { describeRunResult } from '../../emu/run-result.ts';
import type { TraceBatch } from '../../traces/model.ts';
import { writeTraceFileWith, type TraceWriter } from '../../traces/writer.ts';
import { definedFlags, undefinedFlags } from '../analysis/undefined-flags.ts';
import { createDisassembler, type Disassembler } from '../disasm/disassembler.ts';
import { InputError } from '../errors.ts';
import { hex } from '../format.ts';
import { RECORDED_REGISTERS, StepConverter, signalName, stepperPath, type RecordOptions, type RecordSummary } from './record.ts';
import { StepFile, USER_REGS, type StepRecord } from './step-file.ts';

/** Registers compared at every sync point (selectors are not loaded into Unicorn). */
const SYNCED: RegisterName[] = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'fs_base', 'gs_base',
];
const USER_INDEX = new Map<string, number>(USER_REGS.map((name, i) => [name, i]));
/** CF PF AF ZF SF OF DF: the flags compared (the rest are system flags, RF set by the breakpoint among them). */
const COMPARED_FLAGS = 0xcd5n;
/** Instructions looked back over for the flags they left undefined. */
const RECENT = 256;
/** Breakpoint hits tried to find the instance of a faulting instruction the emulator stopped at. */
const MAX_HITS = 100_000;

/** Where `bytes` (at `base`) may hold a sync instruction: the address of its 0f byte and of up to two prefixes before it. */
export function syncCandidates(bytes: Uint8Array, base: bigint, into: Set<bigint>): void {
  const n = bytes.length;
  for (let i = 0; i + 1 < n; i++) {
    if (bytes[i] !== 0x0f) continue;
    const b = bytes[i + 1]!;
    let hit = b === 0x05 || b === 0x34 || b === 0xa2 || b === 0x31; // syscall sysenter cpuid rdtsc
    if (!hit && b === 0x01 && i + 2 < n) hit = bytes[i + 2] === 0xf9 || bytes[i + 2] === 0xd0 || bytes[i + 2] === 0xee; // rdtscp xgetbv rdpkru
    if (!hit && b === 0xc7 && i + 2 < n) {
      const m = bytes[i + 2]!;
      hit = m >> 6 === 3 && ((m >> 3) & 7) >= 6; // rdrand, rdseed (rdpid with f3)
    }
    if (!hit) continue;
    into.add(base + BigInt(i));
    for (let k = 1; k <= 2 && i - k >= 0; k++) {
      const p = bytes[i - k]!;
      if ((p >= 0x40 && p <= 0x4f) || p === 0x66 || p === 0xf2 || p === 0xf3) into.add(base + BigInt(i - k));
      else break;
    }
  }
}

/** The recording disagreed with the CPU at a sync point (the message is the report; the command exits 1). */
export class RecordDivergence extends Error {
  override readonly name = 'RecordDivergence';
}

export async function recordFast(options: RecordOptions): Promise<RecordSummary> {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-record-'));
  const replyPath = join(dir, 'reply');
  const commandPath = join(dir, 'commands');
  execFileSync('mkfifo', [replyPath, commandPath]);
  const disasm = await createDisassembler('x64');
  const helper = stepperPath();
  const stdio = options.stdio ?? 'inherit';
  const started = performance.now();
  const child = spawn(helper, ['--serve', replyPath, commandPath, options.maskCpuid ? '1' : '0', options.program, ...options.args], { stdio: [stdio, stdio, stdio] });
  const exited = new Promise<void>((resolve) => {
    child.on('error', () => resolve());
    child.on('close', () => resolve());
  });
  let replies: number | undefined;
  let commands: number | undefined;
  let summary: RecordSummary | undefined;
  try {
    replies = openSync(replyPath, 'r');
    commands = openSync(commandPath, 'w');
    const file = StepFile.fromStream(replies, 'the record helper');
    const source = `faultline record --fast -- ${[options.program, ...options.args].join(' ')}`;
    let result: ReturnType<StepConverter['finish']> | undefined;
    const session = new FastSession(file, commands, disasm, options);
    try {
      writeTraceFileWith(options.out, (writer) => {
        result = session.run(writer, source);
        return result.ending;
      });
    } finally {
      session.dispose();
    }
    const seconds = (performance.now() - started) / 1000;
    summary = { ...result!, seconds, rate: result!.instructions / seconds, ...(session.stepped ? { note: session.stepped } : {}) };
  } finally {
    if (commands !== undefined) closeSync(commands);
    if (replies !== undefined) closeSync(replies);
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
    disasm.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return summary;
}

class FastSession {
  private readonly emu = Emulator.open('x64');
  private recorder: Recorder | undefined;
  private converter!: StepConverter;
  private readonly exec = new Map<bigint, bigint>();
  private execChanged = false;
  private held: TraceBatch | undefined;
  private previousPc = -1n;
  private readonly recent = new BigUint64Array(RECENT);
  private recentCount = 0;
  /** Instructions Unicorn ran since the last sync point (how far back `recent` is this stretch's). */
  private stretch = 0;
  private real: bigint[] = [];
  private map = new Int8Array(0);
  private ended = false;
  /** Why the recording went on single-stepped, when Unicorn could not go on. */
  stepped: string | undefined;

  constructor(private readonly file: StepFile, private readonly commands: number, private readonly disasm: Disassembler, private readonly options: RecordOptions) {}

  dispose(): void {
    this.recorder?.detach();
    this.emu.dispose();
  }

  private send(tag: 'G' | 'T' | 'K', address = 0n): void {
    const command = Buffer.alloc(9);
    command.write(tag, 0, 'latin1');
    command.writeBigUInt64LE(address, 1);
    writeSync(this.commands, command);
  }

  /** The records of one reply and the registers it ends with. */
  private reply(): StepRecord[] {
    const records: StepRecord[] = [];
    for (let record = this.file.next(); record; record = this.file.next()) {
      if (record.type === 'state') {
        this.real = record.registers;
        return records;
      }
      records.push(record);
    }
    throw new InputError('record: the helper ended without replying');
  }

  private user(name: RegisterName): bigint {
    return this.real[USER_INDEX.get(name)!]!;
  }

  /** Applies a memory record to Unicorn's memory. */
  private applyMemory(record: StepRecord): void {
    const emu = this.emu;
    if (record.type === 'map') {
      emu.unmap(record.address, record.size);
      emu.map(record.address, record.size, record.protection & 7);
      for (const [start, end] of this.exec) if (start < record.address + record.size && end > record.address) this.exec.delete(start);
      if (record.protection & 4) this.exec.set(record.address, record.address + record.size);
      this.execChanged ||= (record.protection & 4) !== 0;
    } else if (record.type === 'unmap') {
      emu.unmap(record.address, record.size);
      for (const [start, end] of this.exec) {
        if (start < record.address + record.size && end > record.address) {
          this.exec.delete(start);
          this.execChanged = true;
        }
      }
    } else if (record.type === 'write') {
      emu.write(record.address, record.bytes);
      emu.flushTranslationsOf(record.address, record.bytes.length);
      const end = record.address + BigInt(record.bytes.length);
      for (const [start, stop] of this.exec) if (start < end && stop > record.address) this.execChanged = true;
    }
  }

  /** Every candidate sync address of executable memory becomes an exit of the emulator. */
  private rescan(): void {
    if (!this.execChanged) return;
    this.execChanged = false;
    const candidates = new Set<bigint>();
    for (const [start, end] of this.exec) syncCandidates(this.emu.read(start, Number(end - start)), start, candidates);
    this.emu.setStopAddresses(candidates);
  }

  /** Unicorn takes the CPU's registers. */
  private adoptRegisters(): void {
    const values: Partial<Record<RegisterName, bigint>> = { efl: this.user('efl') };
    for (const name of SYNCED) values[name] = this.user(name);
    this.emu.writeRegisters(values);
  }

  /** Hands a batch Unicorn ran to the trace (without the extra step Unicorn takes at the end of a `rep` instruction). */
  private emit(batch: TraceBatch): void {
    const { pc, regStart } = batch;
    this.converter.batches.addColumns(batch, this.map, (i) => {
      const at = pc[i]!;
      // The CPU leaves a `rep` string instruction with its last iteration; Unicorn takes one step more (rcx = 0, nothing changes).
      const repeated = at === this.previousPc && regStart[i + 1] === regStart[i] && [0xf2, 0xf3].includes(this.emu.read(at, 1)[0]!);
      this.previousPc = at;
      return repeated;
    });
    for (let i = Math.max(0, batch.count - RECENT); i < batch.count; i++) this.recent[this.recentCount++ % RECENT] = pc[i]!;
    this.stretch += batch.count;
  }

  /** The flags the last instructions of this stretch left undefined (decoded only when the flags differ). */
  private looseFlags(): bigint {
    const n = Math.min(this.stretch, RECENT, this.recentCount);
    let loose = 0n;
    for (let k = n; k >= 1; k--) {
      const pc = this.recent[(this.recentCount - k) % RECENT]!;
      const decoded = this.disasm.decode(this.emu.read(pc, 15), pc);
      if (!decoded) continue;
      loose = (loose & ~definedFlags('x64', decoded.mnemonic)) | undefinedFlags('x64', decoded.mnemonic);
    }
    return loose;
  }

  /** The registers that differ between the CPU and Unicorn (flags an instruction left undefined excepted). */
  private differences(): string[] {
    const out: string[] = [];
    for (const name of SYNCED) {
      const real = this.user(name);
      const emulated = this.emu.readRegister(name);
      if (real !== emulated) out.push(`     ${name.padEnd(7)} real=${real.toString(16).padStart(16, '0')}  emulated=${emulated.toString(16).padStart(16, '0')}  (xor 0x${(real ^ emulated).toString(16)})`);
    }
    const real = this.user('efl');
    const emulated = this.emu.readRegister('efl');
    const differ = (real ^ emulated) & COMPARED_FLAGS;
    if (differ && differ & ~this.looseFlags()) out.push(`     efl     real=${real.toString(16).padStart(16, '0')}  emulated=${emulated.toString(16).padStart(16, '0')}  (xor 0x${(real ^ emulated).toString(16)})`);
    return out;
  }

  private diverged(what: string, lines: string[] = []): RecordDivergence {
    const index = this.converter.batches.next;
    const recent: string[] = [];
    for (let k = Math.min(this.stretch, 4, this.recentCount); k >= 1; k--) {
      const pc = this.recent[(this.recentCount - k) % RECENT]!;
      recent.push(`   ${this.disasm.decode(this.emu.read(pc, 15), pc)?.text ?? hex(pc)}`);
    }
    return new RecordDivergence([`record: the emulator diverged from the CPU at instruction ${index}: ${what}`, ...recent, ...lines].join('\n'));
  }

  /** Runs the CPU to the sync point at `pc` (a fault: the instance whose registers are Unicorn's), compares, steps it there. */
  private sync(pc: bigint, fault: boolean): void {
    this.reach(pc, fault);
    this.stretch = 0;
    for (;;) {
      this.send('T');
      const records = this.reply();
      let signalled = false;
      for (const record of records) {
        this.converter.handle(record);
        this.applyMemory(record);
        if (record.type === 'end') this.ended = true;
        if (record.type === 'signal' && !record.handler) signalled = true;
      }
      if (!signalled || this.ended) break;
    }
    this.rescan();
    this.adoptRegisters();
  }

  /** Runs the CPU to `pc` (a fault: the instance whose registers are Unicorn's) and compares the registers there. */
  private reach(pc: bigint, fault: boolean): void {
    const rip = USER_INDEX.get('rip')!;
    for (let hits = 0; this.real[rip] !== pc || (fault && this.differences().length > 0); hits++) {
      if (hits >= MAX_HITS) throw this.diverged(`the CPU did not reach ${hex(pc)} in the state Unicorn faulted in after ${MAX_HITS} passes`);
      this.send('G', pc);
      for (const record of this.reply()) {
        if (record.type === 'unexpected-syscall') throw this.diverged(`the CPU made a system call at ${hex(record.pc)}; Unicorn's next sync point was ${hex(pc)}`);
        if (record.type === 'signal') throw new InputError(`record: ${signalName(record.signal)} stopped the program at ${hex(record.pc)} between two sync points, where the fast mode cannot place it: record with --step`);
        if (record.type === 'end') throw this.diverged(`the program ended before reaching ${hex(pc)}, Unicorn's next sync point`);
      }
    }
    const differ = this.differences();
    if (differ.length) throw this.diverged(`registers differ at the sync point ${hex(pc)}`, differ);
  }

  /** Ends the program at the instruction budget (the helper then exits: nothing more may be sent). */
  private kill(): void {
    this.send('K');
    for (const record of this.reply()) this.converter.handle(record);
    this.ended = true;
  }

  /** Brings the CPU to `pc` (Unicorn's state there checked) and records the rest single-stepped. */
  private stepToEnd(pc: bigint): void {
    this.reach(pc, false);
    const max = this.options.maxInstructions;
    while (!this.ended) {
      if (this.converter.batches.next >= max) {
        this.kill();
        return;
      }
      this.send('T');
      for (const record of this.reply()) {
        this.converter.handle(record);
        if (record.type === 'end') this.ended = true;
      }
      if (this.converter.batches.next % 65_536 === 0) this.options.onProgress?.(this.converter.batches.next);
    }
  }

  run(writer: TraceWriter, source: string): ReturnType<StepConverter['finish']> {
    const image = this.reply();
    this.converter = new StepConverter(writer, this.disasm, this.file.start, source,
      'initial image and the kernel\'s writes (memory events); the program\'s own accesses not recorded: run natively under ptrace to each sync point, Unicorn between them (faultline record, fast mode)', 'cpu+unicorn');
    for (const record of image) {
      this.converter.handle(record);
      this.applyMemory(record);
    }
    this.rescan();
    this.adoptRegisters();
    const recorder = Recorder.attach(this.emu, { onBatch: (batch) => {
      if (this.held) this.emit(this.held);
      this.held = batch;
    } }, { memory: false, batchSize: 65_536 });
    this.recorder = recorder;
    const selectors = new Set<string>(['cs', 'ss', 'ds', 'es', 'fs', 'gs']);
    this.map = Int8Array.from(recorder.registers, (name) => (selectors.has(name) ? -1 : RECORDED_REGISTERS.indexOf(name)));
    const max = this.options.maxInstructions;
    while (!this.ended) {
      const remaining = max - this.converter.batches.next;
      if (remaining <= 0) {
        this.kill();
        break;
      }
      const result = this.emu.run({ maxInstructions: remaining, timeoutMs: 0 });
      let last = this.held;
      this.held = undefined;
      const refused = result.kind === 'fault' || result.kind === 'trapped' || result.kind === 'error';
      // The recorder saw the instruction Unicorn then refused: it did not execute.
      if (last && refused && last.count > 0 && last.pc[last.count - 1] === result.pc) last = { ...last, count: last.count - 1 };
      if (last) this.emit(last);
      this.options.onProgress?.(this.converter.batches.next);
      if (result.kind === 'reached' && result.reason === 'address') this.sync(result.pc, false);
      else if (result.kind === 'fault') this.sync(result.pc, true);
      else if (result.kind === 'budget' && result.budget === 'instructions') continue;
      else if (result.kind === 'reached') continue;
      else {
        // Unicorn cannot go on (an instruction it lacks, a trap): the CPU is brought there and single-stepped to the end.
        const what = result.kind === 'trapped' && result.name === 'invalid instruction'
          ? `Unicorn cannot execute \`${this.disasm.decode(this.emu.read(result.pc, 15), result.pc)?.text.replace(/\s+/g, ' ') ?? 'the instruction'}\``
          : `Unicorn stopped (${describeRunResult(result, hex)})`;
        this.stepped = `${what} at ${hex(result.pc)}: single-stepped from instruction ${this.converter.batches.next} on`;
        this.stepToEnd(result.pc);
      }
    }
    return this.converter.finish();
  }
}
