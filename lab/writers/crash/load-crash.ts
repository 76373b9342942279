/**
 * Everything the writers know about one crash, read from its ELF core and
 * the program and library files: the crashing thread's registers, the
 * memory (core bytes plus code filled from files), the modules and their
 * symbols, the signal, and the Windows exception it becomes. Both writers
 * start here, so a minidump and a transcript of one core agree.
 *
 * @example
 * ```ts
 * const crash = await loadCrash({ arch: 'x64', core: 'core', binaries: ['bugs'], sysroot: '/', signal: 11 });
 * crash.exception.code;        // 0xc0000005
 * crash.symbols.format(crash.exception.address); // 'bugs!draw+0x4'
 * crash.close();
 * ```
 */
import { CoreFile } from '../elf/core-file.ts';
import { createDecoder, type Decoder } from '../disasm/decoder.ts';
import { windowsException, type WindowsException } from './exception.ts';
import { CrashMemory } from './memory.ts';
import { findModules, type CrashModule } from './modules.ts';
import { pcName, type Registers, type WriterArch } from './registers.ts';
import { findReturnAddresses, type ReturnAddress } from './stack-scan.ts';
import { SymbolIndex } from './symbols.ts';

/** A crash to write, as the lab describes it. */
export interface CrashInput {
  arch: WriterArch;
  /** ELF core path. */
  core: string;
  /**
   * The program (and any library) files that may fill code the core lacks,
   * matched by NT_FILE path basename or, with no NT_FILE, through the
   * auxiliary vector, the dynamic linker's list, or the core's bytes.
   */
  binaries: string[];
  /** Prefix for the paths the process saw (x64: '/', so /lib/x86_64-linux-gnu/libc.so.6 is read from the host). */
  sysroot?: string;
  /** The signal the program died of (11 SIGSEGV, 7 SIGBUS, 4 SIGILL, 5 SIGTRAP, 6 SIGABRT, 8 SIGFPE). */
  signal: number;
  siCode?: number;
  siAddr?: bigint;
}

/** A crash, loaded. */
export interface Crash {
  arch: WriterArch;
  input: CrashInput;
  threadId: number;
  /** The registers as Linux saved them. */
  registers: Registers;
  /** The registers as Windows would show the exception context (pc moved back over an x86 int3). */
  contextRegisters: Registers;
  /** NT_FPREGSET (x86-64: the FXSAVE image), when the core has it. */
  fpregs?: Uint8Array;
  signal: number;
  siCode?: number;
  siAddr?: bigint;
  memory: CrashMemory;
  modules: CrashModule[];
  symbols: SymbolIndex;
  exception: WindowsException;
  /** Return addresses found on the stack, innermost first. */
  returnAddresses: ReturnAddress[];
  /** The disassembler, open until `close()`. */
  decoder: Decoder;
  /** Things a lab operator should know: files not found, values guessed. */
  notes: string[];
  close(): void;
}

/**
 * Loads the crash `input` describes. si_code and si_addr come from the
 * input when given, else from the core's NT_SIGINFO when it has one for
 * the same signal.
 *
 * @example
 * ```ts
 * (await loadCrash({ arch: 'arm64', core: 'qemu_bugs_….core', binaries: ['bugs'], sysroot: '/usr/aarch64-linux-gnu', signal: 11 })).modules.length; // 3
 * ```
 */
export async function loadCrash(input: CrashInput): Promise<Crash> {
  const core = CoreFile.open(input.core, input.arch);
  const notes: string[] = [];
  let modules: CrashModule[] = [];
  let decoder: Decoder | undefined;
  try {
    const coreOnly = CrashMemory.build(core, []);
    const found = findModules(core, { binaries: input.binaries, sysroot: input.sysroot }, (a, n) => coreOnly.read(a, n), notes);
    modules = found.modules;
    const memory = CrashMemory.build(core, found.mappings);
    const thread = core.threads[0]!;
    if (thread.signal !== 0 && thread.signal !== input.signal) notes.push(`The core says signal ${thread.signal}; writing signal ${input.signal} as asked`);
    const info = core.signalInfo?.signo === input.signal ? core.signalInfo : undefined;
    const siCode = input.siCode ?? info?.code;
    const siAddr = input.siAddr ?? info?.address;
    decoder = await createDecoder(input.arch);
    const base = { arch: input.arch, registers: thread.registers, memory, signal: input.signal, siCode, siAddr };
    const exception = windowsException(base, decoder);
    if (exception.access && exception.access.address === undefined) notes.push(`The faulting address is unknown (${exception.access.how}); Parameter[1] is written as 0`);
    const contextRegisters = { ...thread.registers, [pcName(input.arch)]: exception.contextPc };
    const returnAddresses = findReturnAddresses({ arch: input.arch, registers: contextRegisters, memory }, decoder);
    const crash: Crash = {
      arch: input.arch,
      input,
      threadId: thread.pid,
      registers: thread.registers,
      contextRegisters,
      signal: input.signal,
      memory,
      modules,
      symbols: new SymbolIndex(modules),
      exception,
      returnAddresses,
      decoder,
      notes,
      close: () => {
        decoder!.close();
        for (const m of modules) m.file?.close();
        core.close();
      },
    };
    if (core.fpregs) crash.fpregs = core.fpregs;
    if (siCode !== undefined) crash.siCode = siCode;
    if (siAddr !== undefined) crash.siAddr = siAddr;
    return crash;
  } catch (error) {
    decoder?.close();
    for (const m of modules) m.file?.close();
    core.close();
    throw error;
  }
}
