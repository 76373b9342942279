/**
 * What the fuzzer runs: one target per parser, each with its seeds (the
 * dumps in test/fixtures, kernel dumps and compressed cores made from them,
 * traces written by the trace writer) and a `run` that opens an input the
 * way the CLI does and touches what a command would (threads, registers,
 * memory at pc and sp, symbols, modules, ranges). A `run` may throw the
 * errors bad input is meant to give (`DumpFormatError`, `TraceFormatError`,
 * `InputError`); anything else is a crash.
 *
 * @example
 * ```ts
 * const target = TARGETS.find((t) => t.name === 'minidump')!;
 * const seeds = await target.seeds(workDir);
 * await target.run('input.dmp');
 * ```
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DumpFormatError } from '../src/dumps/errors.ts';
import type { Dump } from '../src/dumps/model.ts';
import { openDump, sniffFormat } from '../src/dumps/open.ts';
import { removeDecompressed } from '../src/dumps/decompress.ts';
import { openMinidump } from '../src/dumps/minidump/open-minidump.ts';
import { openElfCore } from '../src/dumps/elf/open-core.ts';
import { openKernelDump } from '../src/dumps/kernel/open-kernel-dump.ts';
import { loadTranscript } from '../src/dumps/transcript/loader.ts';
import { InputError } from '../src/errors.ts';
import { TraceFormatError } from '../traces/errors.ts';
import { instructionsOf, readTrace } from '../traces/reader.ts';
import { writeTraceFile } from '../traces/writer.ts';

/** A seed input. */
export interface Seed {
  name: string;
  bytes: Uint8Array;
}

/** A parser under test. */
export interface FuzzTarget {
  name: string;
  /** File name ending for its inputs. */
  ext: string;
  /** Mutated line by line (text) or byte by byte (binary). */
  kind: 'binary' | 'text';
  /** Its seeds; `dir` is a scratch directory for seeds that must be made. */
  seeds(dir: string): Promise<Seed[]>;
  /** Opens and reads the input at `path`. */
  run(path: string): Promise<void>;
}

/** Errors bad input is meant to give; anything else thrown by a target is a crash. */
export function isExpectedError(error: unknown): boolean {
  return error instanceof DumpFormatError || error instanceof TraceFormatError || error instanceof InputError;
}

const FIXTURES = 'test/fixtures';

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : entry.isFile() ? [path] : [];
  });
}

/** Fixture files `sniffFormat` reads as `format`, at most `maxBytes` each. */
function fixturesOf(format: string, maxBytes = 1024 * 1024): Seed[] {
  return filesUnder(FIXTURES)
    .filter((path) => statSync(path).size <= maxBytes && sniffFormat(path) === format)
    .map((path) => ({ name: path, bytes: readFileSync(path) }));
}

/** Touches what the commands read from a dump. */
function exercise(dump: Dump): void {
  for (const thread of dump.threads.slice(0, 16)) {
    for (const context of thread.contexts) {
      const r = context.registers as Record<string, bigint | undefined>;
      for (const at of [r.eip, r.rip, r.pc, r.esp, r.rsp, r.sp]) {
        if (at === undefined) continue;
        dump.memory.read(at, 16);
        dump.memory.readPartial?.(at, 64);
        dump.symbols.format(at);
        dump.memory.provenanceOf(at);
      }
    }
  }
  for (const range of dump.memory.ranges().slice(0, 64)) {
    const length = range.end - range.start;
    dump.memory.read(range.start, Number(length < 64n ? length : 64n));
  }
  for (const module of dump.modules.slice(0, 64)) dump.symbols.format(module.base);
  void dump.addressMap?.regions.length;
  void dump.fault;
}

/** Opens with `open`, exercises, closes when the dump can be closed. */
function opened(open: (path: string) => Dump & { close?: () => void }): (path: string) => Promise<void> {
  return async (path) => {
    const dump = open(path);
    try {
      exercise(dump);
    } finally {
      dump.close?.();
    }
  };
}

async function kernelSeeds(dir: string): Promise<Seed[]> {
  // Kernel dumps made from the transcript fixtures (test/helpers): every dump type, x86 and x64.
  const { transcriptAsKernelDump } = await import('../test/helpers/transcript-kernel-dump.ts');
  const seeds: Seed[] = [];
  for (const [fixture, arch] of [['ipi-call-target-bitflip.txt', 'x86'], ['x64-dispatch-target-bitflip.txt', 'x64']] as const) {
    const transcript = loadTranscript(join(FIXTURES, 'transcripts', fixture));
    for (const type of [1, 2, 4, 5, 6] as const) {
      const path = join(dir, `${fixture}.${type}.dmp`);
      transcriptAsKernelDump(transcript, path, arch, type);
      seeds.push({ name: path, bytes: readFileSync(path) });
    }
  }
  return seeds;
}

async function compressedSeeds(dir: string): Promise<Seed[]> {
  const seeds: Seed[] = [];
  for (const core of fixturesOf('elf-core', 64 * 1024).filter((s) => s.name.endsWith('.core'))) {
    const base = join(dir, core.name.replaceAll('/', '_'));
    for (const [command, args, out] of [['zstd', ['-q', '-f', '-o', `${base}.zst`], `${base}.zst`], ['xz', ['-q', '-c'], `${base}.xz`]] as const) {
      try {
        const bytes = execFileSync(command, [...args, core.name], { stdio: ['ignore', 'pipe', 'ignore'] });
        seeds.push({ name: out, bytes: command === 'zstd' ? readFileSync(out) : bytes });
      } catch {
        // The command is missing: no seeds of that kind.
      }
    }
  }
  return seeds;
}

async function traceSeeds(dir: string): Promise<Seed[]> {
  const { X86_HEADER, X64_HEADER, x86Run, x64Run } = await import('../test/traces/fixtures.ts');
  const seeds: Seed[] = [];
  for (const [name, header, batches] of [['x86', X86_HEADER, x86Run()], ['x64', X64_HEADER, x64Run()]] as const) {
    const path = join(dir, `${name}.fltrace`);
    writeTraceFile(path, header, batches, { stopReason: 'trapped: int 3' });
    seeds.push({ name: path, bytes: readFileSync(path) });
  }
  return seeds;
}

/** Every target, by name. */
export const TARGETS: FuzzTarget[] = [
  { name: 'minidump', ext: '.dmp', kind: 'binary', seeds: async () => fixturesOf('minidump'), run: opened(openMinidump) },
  { name: 'elf-core', ext: '.core', kind: 'binary', seeds: async () => fixturesOf('elf-core'), run: opened((path) => openElfCore(path)) },
  { name: 'kernel-dump', ext: '.dmp', kind: 'binary', seeds: kernelSeeds, run: opened(openKernelDump) },
  {
    name: 'transcript', ext: '.txt', kind: 'text',
    seeds: async () => fixturesOf('windbg-transcript').filter((s) => s.name.includes('/transcripts/')),
    run: opened((path) => loadTranscript(path)),
  },
  {
    name: 'compressed', ext: '.zst', kind: 'binary', seeds: compressedSeeds,
    run: async (path) => {
      try {
        const dump = (await openDump(path)) as Dump & { close?: () => void };
        try {
          exercise(dump);
        } finally {
          dump.close?.();
        }
      } finally {
        removeDecompressed();
      }
    },
  },
  {
    name: 'trace', ext: '.fltrace', kind: 'binary', seeds: traceSeeds,
    run: async (path) => {
      const trace = readTrace(path);
      if (trace.header) for (const _ of instructionsOf(trace.header, trace.batches)) void _;
    },
  },
];
