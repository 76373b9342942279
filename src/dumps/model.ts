/**
 * The common dump model: what every dump format (WinDbg transcript,
 * minidump, ELF core, kernel dump, raw images) turns its bytes into. Analysis
 * code knows this model and never a file format.
 *
 * @example
 * ```ts
 * const dump = await openDump('crash.txt');
 * const ctx = dump.threads[0]?.contexts[0];
 * console.log(dump.symbols.format(ctx.registers.eip!)); // nt!Foo+0x37
 * ```
 */
import type { Arch, RegisterName, RegisterValues } from '../../emu/registers.ts';

/** Where a fact in a dump came from: a file offset, or a transcript command and line. */
export interface Provenance {
  /** What produced it: `dps f78aecac`, `MemoryListStream`, `PT_LOAD #3`. */
  source: string;
  /** 1-based line in a transcript. */
  line?: number;
  /** Byte offset in the dump file (in `file.path` when `file` is set). */
  offset?: bigint;
  /** Set when the bytes came from a module file rather than from the dump. */
  file?: FileOrigin;
}

/**
 * A module file that filled memory the dump lacks, and what showed it to be
 * the build the dump ran: its GNU build id is the one the dump records
 * ('build id'), the bytes the dump holds for it agree with it ('bytes'), or
 * a PE image's TimeDateStamp and SizeOfImage are the module's ('PE stamp'),
 * or its CodeView PDB GUID and age are the minidump's ('CodeView'), or,
 * where the dump holds nothing of the file to check (qemu-user's cores: no
 * NT_FILE, no page of the executable), the user named it with --binary
 * ('named': unchecked, and said so).
 */
export interface FileOrigin {
  path: string;
  buildId?: string;
  checkedBy: 'build id' | 'bytes' | 'PE stamp' | 'CodeView' | 'named';
}

/**
 * What a module file did for a dump: used (and why it is the same build) or
 * not used (and why not). `message` is the line `info` shows.
 */
export interface FileUse {
  /** The file on this machine. */
  file: string;
  /** The module or mapped path it was tried for. */
  for: string;
  used: boolean;
  buildId?: string;
  /** The file is this machine's own (`--sysroot /`), not one the user named. */
  host?: boolean;
  message: string;
}

/** What kind of bytes a memory range holds, when the dump says. */
export type MemoryKind = 'code' | 'data';

/** A contiguous range of memory the dump holds. */
export interface MemoryRange {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  kind?: MemoryKind;
  provenance: Provenance;
}

/**
 * The dump's memory: for every byte, its value and where it came from, or
 * nothing when the dump lacks it. Reads are lazy: formats read file bytes on
 * demand.
 */
export interface MemoryView {
  /** All `length` bytes at `address`, or undefined if any of them is missing. */
  read(address: bigint, length: number): Uint8Array | undefined;
  /**
   * The bytes at `address` with unknown ones zeroed, and a mask (1 = known).
   * Optional: the emulator falls back to byte-by-byte `read` without it.
   */
  readPartial?(address: bigint, length: number): { bytes: Uint8Array; known: Uint8Array };
  /** Provenance of the byte at `address`, or undefined if the dump lacks it. */
  provenanceOf(address: bigint): Provenance | undefined;
  /** The ranges held, sorted by start, not overlapping. */
  ranges(): MemoryRange[];
}

/**
 * A range of the address space that was mapped when the dump was taken,
 * whether or not the dump holds its bytes (a core's PT_LOAD, a minidump's
 * committed MemoryInfoList region).
 */
export interface AddressRegion {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  read: boolean;
  write: boolean;
  execute: boolean;
}

/** The address space as the dump records it. */
export interface AddressMap {
  /** Sorted by start, not overlapping. */
  regions: AddressRegion[];
  /** True when every mapping is listed, so an address outside all regions was not mapped. */
  complete: boolean;
}

/** The fault that stopped the machine or process. */
export type Fault =
  | {
      kind: 'bugcheck';
      /** e.g. 0x8e KERNEL_MODE_EXCEPTION_NOT_HANDLED. */
      code: bigint;
      parameters: bigint[];
      provenance: Provenance;
    }
  | {
      kind: 'exception';
      /** NTSTATUS, e.g. 0xc0000005 or 0x80000003. */
      code: bigint;
      /** Where the exception was raised (the pc as the OS reports it). */
      address: bigint;
      parameters: bigint[];
      threadId?: number;
      provenance: Provenance;
    }
  | {
      kind: 'signal';
      signal: number;
      /** si_addr: the faulting address for SIGSEGV/SIGBUS. */
      address?: bigint;
      code?: number;
      threadId?: number;
      provenance: Provenance;
    };

/** A register context a dump holds: a trap frame, a `.cxr` context, a thread's state. */
export interface RegisterContext {
  kind: 'trap-frame' | 'context' | 'thread';
  /** e.g. `.trap f78aec38`. */
  label: string;
  /** Address of the frame in memory, where the dump says. */
  address?: bigint;
  registers: RegisterValues;
  /**
   * Registers the context does not really hold (an x64 trap frame saves no
   * non-volatile registers; WinDbg shows them as zero): their values above
   * are not the machine's, and analysis treats them as unknown.
   */
  unknown?: RegisterName[];
  /** x86 trap frame error code, when shown. */
  errorCode?: bigint;
  /** x87/SSE/AVX registers, when the dump holds them (a Linux core's NT_FPREGSET or NT_X86_XSTATE). */
  vector?: VectorState;
  provenance: Provenance;
}

/**
 * The x87, SSE and AVX state of an x86 thread, as the FXSAVE area lays it
 * out (and XSAVE's AVX component for the upper halves of ymm registers).
 */
export interface VectorState {
  /** x87 control word (FCW), status word (FSW, TOP in bits 11–13), abridged tag byte (FXSAVE's FTW: bit i set = physical register i valid). */
  fcw: number;
  fsw: number;
  ftw: number;
  mxcsr: number;
  /** st(0)…st(7), relative to TOP as FXSAVE stores them: 80-bit values (64-bit significand, then sign and exponent). */
  st: bigint[];
  /** xmm0… (16 on x86-64, 8 on i386), 128-bit little-endian values. */
  xmm: bigint[];
  /** Bits 128–255 of ymm0…, when the dump holds AVX state. */
  ymmHigh?: bigint[];
  provenance: Provenance;
}

/** A frame a debugger printed (a transcript's `kb`): what it said, not what faultline found. */
export interface RecordedFrame {
  index: number;
  /** Child-SP (x64, ARM64) or ChildEBP (x86). */
  frameAddress: bigint;
  returnAddress: bigint;
  /** `module!function+0xoff` as printed. */
  site: string;
  provenance: Provenance;
}

/** A stack listing a debugger printed (`k`, `kb`, `kv`, `kp`, `kn`). */
export interface RecordedStack {
  /** The command, as typed. */
  command: string;
  frames: RecordedFrame[];
  provenance: Provenance;
}

/** A thread (user dumps) or processor (kernel dumps). */
export interface DumpThread {
  id: number;
  name?: string;
  /** Most specific first: the trap frame of the fault comes before the thread's context. */
  contexts: RegisterContext[];
  /** Stack listings the dump holds as text (transcripts), in the order printed. */
  recordedStacks?: RecordedStack[];
}

/** A resolved address: `module!symbol+0xoff`, or `module+0xoff` without a symbol. */
export interface SymbolLocation {
  module?: string;
  symbol?: string;
  /** The symbol's (or module's) start. */
  base: bigint;
  offset: bigint;
}

/** Addresses ↔ names. */
export interface SymbolTable {
  /** The nearest symbol at or below `address`, within its module when sizes are known. */
  lookup(address: bigint): SymbolLocation | undefined;
  /** The address of `module!symbol` (or `symbol`), if known. */
  resolve(name: string): bigint | undefined;
  /** `module!symbol+0xoff`, or the address as hex digits when unknown. */
  format(address: bigint): string;
  /** Number of symbols known. */
  readonly size: number;
}

/** A module (image) loaded in the dumped address space. */
export interface DumpModule {
  name: string;
  base: bigint;
  size: bigint;
  path?: string;
  /** PDB name or GNU build id. */
  debugId?: string;
  /** The GNU build id of an ELF module, lower-case hex, when the dump records it (a minidump's 'BpEL' CodeView record). */
  buildId?: string;
}

/** A note about the dump a user should see: skipped commands, disagreements. */
export interface DumpNote {
  level: 'info' | 'warning';
  message: string;
  provenance?: Provenance;
  /** Text the note is about, kept verbatim: e.g. a skipped command's output. */
  text?: string;
}

export type DumpFormat = 'windbg-transcript' | 'minidump' | 'elf-core' | 'kernel-dump' | 'raw';

/** What a kernel dump's header says of the machine and the dump. */
export interface MachineFacts {
  /** 'x86 (PAE)', 'x86', 'x64', 'ARM64'. */
  machine: string;
  processors: number;
  /** NT build number (DUMP_HEADER.MinorVersion). */
  build: number;
  /** 'full', 'kernel', 'triage', 'bitmap full', 'bitmap kernel'. */
  dumpType: string;
  /** When the dump was written. */
  systemTime?: Date;
  /** The exception record the header holds, when it holds one. */
  exception?: { code: bigint; address: bigint };
}

/** A dump, opened. */
export interface Dump {
  format: DumpFormat;
  path: string;
  arch: Arch;
  os?: string;
  fault?: Fault;
  threads: DumpThread[];
  modules: DumpModule[];
  symbols: SymbolTable;
  memory: MemoryView;
  /** The mappings at the time of the dump, when the format records them. */
  addressMap?: AddressMap;
  /** Kernel dumps: machine, processor count, build, dump type. */
  machine?: MachineFacts;
  notes: DumpNote[];
  /** Module files tried for the dump (`--binary`, `--sysroot`), used or not. */
  files?: FileUse[];
}
