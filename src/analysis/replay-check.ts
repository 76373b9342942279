/**
 * `faultline replay-check`: re-executes a recorded program (`faultline
 * record`) in Unicorn from its recorded start — the initial memory image and
 * registers — and yields the emulator's run as a trace to compare with the
 * recording (`diffTraces`). What the CPU or the kernel chose is fed back
 * from the recording instead of emulated: a sync point's results
 * (`syscall`, `rdtsc`, `cpuid`, `rdrand` …: its recorded register changes,
 * and the pc the recording went on at), the memory the kernel mapped,
 * unmapped or wrote after a system call or a signal delivery, and the
 * registers it set to enter a signal handler. Every other instruction is
 * emulated, one at a time.
 *
 * @example
 * ```ts
 * const replay = openReplay(openAnyTrace('p.fltrace'));
 * const result = diffTraces(replay.recorded, replay.emulated, { align: 'index', context: 8 });
 * console.log(result.divergence ?? 'no divergence', replay.stopped);
 * ```
 */
import { Emulator } from '../../emu/emulator.ts';
import { Recorder } from '../../emu/recorder.ts';
import { RegisterBatch } from '../../emu/register-batch.ts';
import { pcRegister, type Arch, type RegisterName } from '../../emu/registers.ts';
import { describeRunResult, type RunResult } from '../../emu/run-result.ts';
import type { AnyTrace } from '../../traces/import/open.ts';
import type { TraceBatch, TraceEvent, TraceInstruction } from '../../traces/model.ts';
import { instructionsOf } from '../../traces/instructions.ts';
import { InputError } from '../errors.ts';
import { definedFlags, undefinedFlags } from './undefined-flags.ts';
import { hex } from '../format.ts';

/**
 * Registers a replay compares, per architecture: the general registers, flags and thread pointers (selectors are
 * not loaded into Unicorn). An i386 or AArch64 recording comes from qemu-user (`record` there): the registers
 * its gdbstub gives, and i386's gs base from `set_thread_area`.
 */
const COMPARED_OF: Record<Arch, RegisterName[]> = {
  x64: ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'efl', 'fs_base', 'gs_base'],
  x86: ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'efl', 'gs_base'],
  arm64: [...Array.from({ length: 31 }, (_, i) => `x${i}` as RegisterName), 'sp', 'nzcv'],
};

/** Instructions a lost single-step can fold into a sync point's recorded step. */
const MAX_FOLDED = 2;

/**
 * The registers a sync instruction writes, where a recorded step may hold more (a lost step folds the next
 * instruction's changes in); for the others (`syscall` …: the kernel may change any) every recorded change is fed.
 */
const SYNC_OUTPUTS: Record<Arch, Record<string, RegisterName[]>> = {
  x64: { cpuid: ['rax', 'rbx', 'rcx', 'rdx'], rdtsc: ['rax', 'rdx'], rdtscp: ['rax', 'rdx', 'rcx'], xgetbv: ['rax', 'rdx'] },
  // qemu's i386 recording: `mov gs` is a sync point whose result is the base set_thread_area gave the descriptor.
  x86: { cpuid: ['eax', 'ebx', 'ecx', 'edx'], rdtsc: ['eax', 'edx'], 'mov gs': ['gs_base'] },
  arm64: {},
};

/** qemu's AArch64 recording steps a load-exclusive … store-exclusive sequence as one: the replay runs it whole. */
const EXCLUSIVE = 'exclusive sequence (one step)';

/** Instructions emulated in one stretch at most (the recording is held in memory only that far ahead). */
const MAX_SEGMENT = 65_536;

/** Unicorn runs one stretch between sync points may take (each ends early at a `rep` instruction's extra step). */
const MAX_SEGMENT_RUNS = 10_000;

type MemoryEvent = Extract<TraceEvent, { kind: 'memory' }>;

export interface ReplayCounts {
  /** Instructions Unicorn executed. */
  emulated: number;
  /** Sync points whose recorded results were fed back. */
  fed: number;
  /** Memory events applied (mappings, unmappings, kernel writes), the initial image included. */
  memoryEvents: number;
}

export interface Replay {
  recorded: AnyTrace;
  emulated: AnyTrace;
  counts: ReplayCounts;
  /** Why Unicorn stopped before the recording ended (set once the emulated trace has been read that far). */
  stopped?: { index: number; pc: bigint; reason: string };
}

function protectionBits(protection: string | undefined): number {
  const p = protection ?? 'rwx';
  return (p[0] === 'r' ? 1 : 0) | (p[1] === 'w' ? 2 : 0) | (p[2] === 'x' ? 4 : 0);
}

function applyMemory(emu: Emulator, event: MemoryEvent): void {
  switch (event.action) {
    case 'map':
      emu.unmap(event.address, event.size);
      emu.map(event.address, event.size, protectionBits(event.protection));
      break;
    case 'unmap':
      emu.unmap(event.address, event.size);
      break;
    case 'write':
      if (event.bytes) {
        emu.write(event.address, event.bytes);
        emu.flushTranslationsOf(event.address, event.bytes.length);
      }
      break;
  }
}

function stopReason(result: RunResult): string {
  return describeRunResult(result, hex);
}

/** Sets up the replay of `recorded` (a `faultline record` trace with its memory image); the emulator runs as `emulated` is read. */
export function openReplay(recorded: AnyTrace, options: { mnemonic?: (bytes: Uint8Array, address: bigint) => string | undefined } = {}): Replay {
  if (recorded.format !== 'fltrace') throw new InputError(`${recorded.path}: replay-check needs a .fltrace written by faultline record (this is ${recorded.format})`);
  const arch = recorded.arch;
  const COMPARED = COMPARED_OF[arch];
  const pcName = pcRegister(arch);
  const x86Family = arch !== 'arm64';
  const first = recorded.instructions()[Symbol.iterator]().next();
  const image = first.done ? [] : first.value.events.filter((e): e is MemoryEvent => e.kind === 'memory' && e.start === true);
  if (!image.length) throw new InputError(`${recorded.path}: no initial memory image (recorded before faultline record wrote one, or not by faultline record): record it again`);
  const counts: ReplayCounts = { emulated: 0, fed: 0, memoryEvents: 0 };
  const replay: Replay = { recorded, emulated: undefined as unknown as AnyTrace, counts };
  const start = new Map<string, bigint>();
  for (const name of [...COMPARED, pcName] as RegisterName[]) {
    const value = recorded.start.get(name);
    // A zero i386 segment base is Unicorn's own: setting one builds a descriptor table.
    if (value !== undefined && !(arch === 'x86' && name.endsWith('_base') && value === 0n)) start.set(name, value);
  }
  replay.emulated = {
    path: 'Unicorn', format: 'fltrace', arch, start,
    *instructions() {
      const emu = Emulator.open(arch);
      // Instructions between sync points run in one Unicorn run, each recorded by the (native) recorder: a run of
      // one instruction costs the translation of the whole block from its pc (about 1 ms at every new pc).
      const batches: TraceBatch[] = [];
      const recorder = Recorder.attach(emu, { onBatch: (batch) => batches.push(batch) }, { memory: false, batchSize: 16_384 });
      const recorderHeader = { version: 1, arch, registers: recorder.registers, startRegisters: {} };
      const registers = new RegisterBatch(emu, COMPARED);
      const compared = new Set<string>(COMPARED);
      // The last instruction the recorder saw, across stretches (a stretch may end on a `rep` instruction's last iteration).
      let previous: TraceInstruction | undefined;
      /** Emulates `n` instructions in as few runs as it takes; fewer when Unicorn stops (`replay.stopped` says why). */
      const segment = (n: number, index: number): Array<{ pc: bigint; changed: Array<[RegisterName, bigint]> }> => {
        const out: Array<{ pc: bigint; changed: Array<[RegisterName, bigint]> }> = [];
        for (let runs = 0; out.length < n && runs < MAX_SEGMENT_RUNS; runs++) {
          batches.length = 0;
          const result = emu.run({ count: n - out.length, maxInstructions: n - out.length, timeoutMs: 0 });
          for (const insn of instructionsOf(recorderHeader, batches)) {
            // The CPU leaves a `rep` string instruction with its last iteration; Unicorn takes one step more (rcx = 0, nothing changes).
            const repeated = x86Family && previous && insn.pc === previous.pc && insn.changed.length === 0 && [0xf2, 0xf3].includes(emu.read(insn.pc, 1)[0]!);
            previous = insn;
            if (repeated) continue;
            out.push({ pc: insn.pc, changed: insn.changed.filter(([name]) => compared.has(name)) });
          }
          if (result.kind !== 'reached') {
            // The recorder saw the instruction Unicorn then refused: it did not execute.
            if (out.length && out[out.length - 1]!.pc === result.pc) out.pop();
            replay.stopped = { index: index + out.length, pc: result.pc, reason: stopReason(result) };
            break;
          }
        }
        return out.slice(0, n);
      };
      try {
        for (const event of image) applyMemory(emu, event);
        counts.memoryEvents = image.length;
        for (const [name, value] of start) emu.writeRegister(name as RegisterName, value);
        // The recording is read ahead only as far as the next stretch needs (at most MAX_SEGMENT instructions).
        const source = recorded.instructions()[Symbol.iterator]();
        const ahead: TraceInstruction[] = [];
        const peek = (k: number): TraceInstruction | undefined => {
          while (ahead.length <= k) {
            const next = source.next();
            if (next.done) return undefined;
            ahead.push(next.value);
          }
          return ahead[k];
        };
        const special = (insn: TraceInstruction) => insn.events.some((e) => e.kind === 'sync' || e.kind === 'signal' || (e.kind === 'memory' && !e.start));
        for (let insn = peek(0); insn; insn = peek(0)) {
          if (!special(insn)) {
            let n = 0;
            while (n < MAX_SEGMENT && peek(n) && !special(peek(n)!)) n++;
            const stretch = ahead.splice(0, n);
            const done = segment(n, insn.index);
            for (let k = 0; k < done.length; k++) {
              const at = stretch[k]!;
              counts.emulated++;
              yield { index: at.index, pc: done[k]!.pc, size: at.size, ...(at.bytes ? { bytes: at.bytes } : {}), changed: done[k]!.changed, memory: [], events: [] } satisfies TraceInstruction;
            }
            if (done.length < n) return;
            continue;
          }
          const nextPc = peek(1)?.pc;
          ahead.shift();
          previous = undefined;
          const pc = emu.pc();
          const before = BigUint64Array.from(registers.read());
          const sync = insn.events.find((e) => e.kind === 'sync');
          if (sync && sync.name === EXCLUSIVE && pc === insn.pc && nextPc !== undefined) {
            // Run whole to the pc after its store-exclusive (single-threaded, the store succeeds as it did under qemu).
            const result = emu.run({ until: nextPc, maxInstructions: 64, timeoutMs: 0 });
            if (result.kind !== 'reached') {
              replay.stopped = { index: insn.index, pc, reason: stopReason(result) };
              return;
            }
            counts.emulated++;
          } else if (sync && pc === insn.pc) {
            // The CPU's or the kernel's result; then on to the pc the recording went on at: under a hypervisor the
            // single-step after `cpuid` can be lost, the next instruction folded into the same recorded step.
            const outputs = SYNC_OUTPUTS[arch][sync.name];
            for (const [name, value] of insn.changed) if (COMPARED.includes(name) && (!outputs || outputs.includes(name))) emu.writeRegister(name, value);
            // A system call (no outputs listed: the kernel may change any register) goes on where the recording went on;
            // qemu-user steps over `int 80h` and the instruction after it, and that step's changes are all fed.
            emu.writeRegister(pcName, outputs || nextPc === undefined ? pc + BigInt(insn.size) : nextPc);
            counts.fed++;
            let loose = 0n;
            for (let folded = 0; outputs && nextPc !== undefined && emu.pc() !== nextPc && folded < MAX_FOLDED; folded++) {
              const at = emu.pc();
              const mnemonic = emu.isMapped(at + 14n) ? options.mnemonic?.(emu.read(at, 15), at) : undefined;
              const result = emu.run({ count: 1, maxInstructions: 1, timeoutMs: 0 });
              if (result.kind !== 'reached') break;
              counts.emulated++;
              if (mnemonic) loose = (loose & ~definedFlags(arch, mnemonic)) | undefinedFlags(arch, mnemonic);
            }
            // Flags a folded instruction left undefined are the CPU's (the comparison sees only the sync instruction).
            const recordedFlags = insn.changed.find(([name]) => name === 'efl')?.[1];
            if (loose && recordedFlags !== undefined) emu.writeRegister('efl', (emu.readRegister('efl') & ~loose) | (recordedFlags & loose));
          } else {
            const result = emu.run({ count: 1, maxInstructions: 1, timeoutMs: 0 });
            if (result.kind !== 'reached') {
              replay.stopped = { index: insn.index, pc, reason: stopReason(result) };
              return;
            }
            counts.emulated++;
            // The CPU leaves a `rep` string instruction with its last iteration; Unicorn takes one step more (rcx = 0, no work).
            if (x86Family && emu.pc() === pc && nextPc !== undefined && nextPc !== pc) {
              const last = emu.run({ count: 1, maxInstructions: 1, timeoutMs: 0 });
              if (last.kind !== 'reached') {
                replay.stopped = { index: insn.index, pc, reason: stopReason(last) };
                return;
              }
            }
          }
          const now = registers.read();
          const changed: Array<[RegisterName, bigint]> = [];
          for (let k = 0; k < COMPARED.length; k++) if (now[k] !== before[k]) changed.push([COMPARED[k]!, now[k]!]);
          for (const event of insn.events) {
            if (event.kind === 'memory' && !event.start) {
              applyMemory(emu, event);
              counts.memoryEvents++;
            } else if (event.kind === 'signal' && event.registers) {
              // The kernel entered a handler: its registers, and the pc the recording went on at.
              for (const [name, value] of event.registers) {
                if (!COMPARED.includes(name)) continue;
                emu.writeRegister(name, value);
                changed.push([name, value]);
              }
              if (nextPc !== undefined) emu.writeRegister(pcName, nextPc);
            }
          }
          yield { index: insn.index, pc, size: insn.size, ...(insn.bytes ? { bytes: insn.bytes } : {}), changed, memory: [], events: [] } satisfies TraceInstruction;
        }
      } finally {
        registers.dispose();
        recorder.detach();
        emu.dispose();
      }
    },
  };
  return replay;
}
