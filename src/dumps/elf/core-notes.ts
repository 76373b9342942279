/**
 * Turns a Linux core's notes into threads and process facts. Each
 * `NT_PRSTATUS` starts a thread; the register-set notes after it
 * (`NT_FPREGSET`, `NT_X86_XSTATE`, `NT_386_TLS`, `NT_ARM_TLS`, …) and an
 * `NT_SIGINFO` belong to that thread. `NT_PRPSINFO`, `NT_AUXV` and `NT_FILE`
 * describe the process. The kernel writes the thread that took the signal
 * first (so does gdb's `gcore`), and the kernel writes the one `NT_SIGINFO`
 * after it, while gdb writes one per thread.
 *
 * @example
 * ```ts
 * const facts = readCoreNotes(walk.notes, prstatusLayout(EM_X86_64, 64)!, 64);
 * facts.threads[0].status.registers.rip; // 0x40011cn
 * facts.process.info?.name;             // 'a.out'
 * ```
 */
import type { ByteReader } from '../binary/byte-reader.ts';
import {
  NT_386_TLS, NT_ARM_TLS, NT_AUXV, NT_FILE, NT_PRFPREG, NT_PRPSINFO, NT_PRSTATUS, NT_SIGINFO, NT_X86_XSTATE, noteTypeName, type ElfNote,
} from './notes.ts';
import type { VectorState } from '../model.ts';
import { holdsFxsave, readVectorState } from './vector-notes.ts';
import { readPrstatus, type Prstatus, type PrstatusLayout } from './prstatus.ts';
import {
  readArmTls, readAuxv, readFileNote, readPrpsinfo, readSiginfo, readX86Tls, type AuxvEntry, type FileNote, type Prpsinfo, type Siginfo,
} from './process-notes.ts';

/** Where a note was: for provenance. */
export interface NoteRef {
  type: string;
  offset: bigint;
}

/** One thread's state from its notes. */
export interface CoreThread {
  status: Prstatus;
  prstatus: NoteRef;
  siginfo?: { info: Siginfo; ref: NoteRef };
  /** Names of the register-set notes present (`NT_FPREGSET`, `NT_X86_XSTATE`, …). */
  regsets: string[];
  /** x87/SSE/AVX registers from NT_X86_XSTATE, else x86-64's NT_FPREGSET. */
  vector?: VectorState;
}

/** Process-wide facts. */
export interface CoreProcess {
  info?: Prpsinfo;
  auxv: AuxvEntry[];
  files?: { note: FileNote; ref: NoteRef };
  /** An `NT_SIGINFO` written before any `NT_PRSTATUS`. */
  siginfo?: { info: Siginfo; ref: NoteRef };
}

export interface CoreNotes {
  threads: CoreThread[];
  process: CoreProcess;
  /** Notes this reader does not interpret: type name and offset. */
  other: NoteRef[];
}

/**
 * Interprets `notes` for an ABI with `layout` and word size `bits`. A
 * `NT_PRSTATUS` too small for the registers throws a DumpFormatError naming
 * the note and its offset.
 *
 * @example
 * ```ts
 * readCoreNotes(notes, layout, 32).threads.map((t) => t.status.pid); // [32306]
 * ```
 */
export function readCoreNotes(notes: ElfNote[], layout: PrstatusLayout, bits: 32 | 64): CoreNotes {
  const threads: CoreThread[] = [];
  const process: CoreProcess = { auxv: [] };
  const other: NoteRef[] = [];
  for (const note of notes) {
    const ref: NoteRef = { type: noteTypeName(note), offset: note.offset };
    const current = threads[threads.length - 1];
    if (note.name === 'CORE' && note.type === NT_PRSTATUS) {
      if (note.desc.length < layout.minSize) {
        throw note.desc.error(0, `NT_PRSTATUS is 0x${note.desc.length.toString(16)} bytes, too small for ${layout.abi} registers (0x${layout.minSize.toString(16)})`);
      }
      threads.push({ status: readPrstatus(note.desc, 0, layout), prstatus: ref, regsets: [] });
    } else if (note.name === 'CORE' && note.type === NT_PRPSINFO) {
      process.info ??= readPrpsinfo(note.desc, 0, note.desc.length);
    } else if (note.name === 'CORE' && note.type === NT_SIGINFO) {
      const siginfo = { info: readSiginfo(note.desc, 0, bits), ref };
      if (current) current.siginfo ??= siginfo;
      else process.siginfo ??= siginfo;
    } else if (note.name === 'CORE' && note.type === NT_AUXV) {
      if (process.auxv.length === 0) process.auxv = readAuxv(note.desc, 0, bits);
    } else if (note.name === 'CORE' && note.type === NT_FILE) {
      process.files ??= { note: readFileNote(note.desc, 0, bits), ref };
    } else if (current && (note.name === 'CORE' || note.name === 'LINUX')) {
      current.regsets.push(ref.type);
      applyThreadPointer(current, note.name, note.type, note.desc);
      applyVectorState(current, note, ref, layout, bits);
    } else {
      other.push(ref);
    }
  }
  return { threads, process, other };
}

/** `fs_base`/`gs_base` from `NT_386_TLS` (through the selectors) and `tpidr_el0` from `NT_ARM_TLS`. */
function applyVectorState(thread: CoreThread, note: ElfNote, ref: NoteRef, layout: PrstatusLayout, bits: 32 | 64): void {
  if (layout.arch === 'arm64' || !holdsFxsave(note.desc)) return;
  const provenance = { source: ref.type, offset: ref.offset };
  if (note.name === 'LINUX' && note.type === NT_X86_XSTATE) {
    thread.vector = readVectorState(note.desc, 'NT_X86_XSTATE', bits, provenance);
  } else if (note.name === 'CORE' && note.type === NT_PRFPREG && bits === 64 && !thread.vector) {
    // i386's NT_FPREGSET is the FSAVE layout, not FXSAVE: only NT_X86_XSTATE is read there.
    thread.vector = readVectorState(note.desc, 'NT_FPREGSET', bits, provenance);
  }
}

function applyThreadPointer(thread: CoreThread, name: string, type: number, desc: ByteReader): void {
  const registers = thread.status.registers;
  if (name === 'LINUX' && type === NT_386_TLS && registers.eip !== undefined) {
    const descriptors = readX86Tls(desc, 0);
    for (const [selector, base] of [['gs', 'gs_base'], ['fs', 'fs_base']] as const) {
      const value = registers[selector];
      if (value === undefined || value === 0n) continue;
      const entry = descriptors.find((d) => d.entry === Number(value >> 3n));
      if (entry) registers[base] = entry.base;
    }
  } else if (name === 'LINUX' && type === NT_ARM_TLS && desc.length >= 8) {
    registers.tpidr_el0 = readArmTls(desc, 0);
  }
}
