/**
 * The lab's dump writers: one crash (an ELF core with the program and
 * libraries it ran) written again as a Windows minidump and as a WinDbg
 * session transcript, from the published format documents and WinDbg's
 * output, independently of faultline's own parsers (nothing here imports
 * src/ or emu/), so a wrong struct definition cannot hide behind the same
 * mistake twice.
 *
 * @example
 * ```ts
 * const input = { arch: 'x64', core: 'core', binaries: ['bugs'], sysroot: '/', signal: 11 } as const;
 * await writeMinidump(input, 'crash.dmp', { memory: 'small' });
 * await writeTranscript(input, 'crash.txt', { style: 'user' });
 * ```
 */
import { loadCrash, type Crash, type CrashInput } from './crash/load-crash.ts';
import { writeCrashMinidump } from './minidump/write-minidump.ts';
import { writeCrashTranscript } from './transcript/write-transcript.ts';

export type { CrashInput } from './crash/load-crash.ts';
export type { WriterArch } from './crash/registers.ts';

/** Receives the notes loading a crash produced (a library file not found, an address computed rather than given). */
export type NoteSink = (note: string) => void;

async function withCrash<T>(input: CrashInput, onNote: NoteSink | undefined, use: (crash: Crash) => T): Promise<T> {
  const crash = await loadCrash(input);
  try {
    const result = use(crash);
    for (const note of crash.notes) onNote?.(note);
    return result;
  } finally {
    crash.close();
  }
}

/**
 * Writes the crash as a minidump at `out`: `full` keeps every byte the
 * core holds plus the code filled from files (Memory64List); `small` keeps
 * the stack and the code around the pc and each return address (MemoryList).
 *
 * `onNote` hears what the writer had to guess or could not find.
 *
 * @example
 * ```ts
 * await writeMinidump({ arch: 'arm64', core: 'qemu_bugs_….core', binaries: ['bugs'], sysroot: '/usr/aarch64-linux-gnu', signal: 11 }, 'a.dmp', { memory: 'full' });
 * ```
 */
export async function writeMinidump(input: CrashInput, out: string, options: { memory: 'full' | 'small'; onNote?: NoteSink }): Promise<void> {
  await withCrash(input, options.onNote, (crash) => writeCrashMinidump(crash, out, options));
}

/**
 * Writes the crash as a WinDbg transcript at `out`: `user` style is a cdb
 * session (`0:000>`: .exr, .ecxr, kb, u, ub, dps, dd/dq, lm); `kernel`
 * style (x86 and x64) is a kd session (`0: kd>`) that opens with .bugcheck
 * 0x1E and .trap.
 *
 * @example
 * ```ts
 * await writeTranscript({ arch: 'x86', core: 'qemu_bugs_….core', binaries: ['bugs'], sysroot: '/', signal: 11 }, 'a.txt', { style: 'kernel' });
 * ```
 */
export async function writeTranscript(input: CrashInput, out: string, options: { style: 'user' | 'kernel'; onNote?: NoteSink }): Promise<void> {
  await withCrash(input, options.onNote, (crash) => writeCrashTranscript(crash, out, options));
}
