/**
 * Builds a bench workload (bench/workload.c, or bench/workload-tables.c)
 * into a raw x86-64 image linked at 0x401000 — code and read-only data, then
 * data and zeroed bss from the next page on, so that no store lands in a
 * page holding code (Unicorn would take its self-modifying-code path on each
 * one) — and, as an independent check, into a host program that prints the
 * result the emulated run must leave in rax. Everything is built in a
 * temporary directory that is removed afterwards.
 *
 * @example
 * ```ts
 * const workload = buildWorkload();
 * emu.mapBytes(workload.base, workload.image);
 * emu.run({ from: workload.entry, until: workload.end, maxInstructions: 0 });
 * ```
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WORKLOAD_SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'workload.c');
/** The second workload: pointer chasing and calls through a table. */
export const TABLES_WORKLOAD_SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'workload-tables.c');

/** The image loaded at `base`; `entry` is `_start`, `end` the hlt after the call. */
export interface Workload {
  base: bigint;
  entry: bigint;
  end: bigint;
  image: Uint8Array;
  /** `workload(seed)` as the host computed it. */
  expected: bigint;
}

const BASE = 0x401000n;

// Code, then the writable data on its own page; BYTE(0) makes that section hold bytes even when
// .data is empty, so `objcopy -O binary` writes the bss as zeros and the image is the whole program.
const LINKER_SCRIPT = `SECTIONS {
  . = 0x${BASE.toString(16)};
  .image : { *(.text.start) *(.text*) *(.rodata*) }
  . = ALIGN(0x1000);
  .rw : { BYTE(0) *(.data*) *(.bss*) *(COMMON) }
  /DISCARD/ : { *(.comment) *(.note*) *(.eh_frame*) }
}
`;

const hostMain = (source: string) => `#define BENCH_HOST_CHECK
#include "${source}"
#include <stdio.h>
#include <stdlib.h>
int main(void) { printf("%lx\\n", workload((u32)strtoul(BENCH_SEED, 0, 16))); return 0; }
`;

/** Compiles, links and extracts the workload; throws with the compiler's message when gcc or binutils fail. */
export function buildWorkload(source: string = WORKLOAD_SOURCE): Workload {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-'));
  try {
    const elf = join(dir, 'workload.elf');
    const raw = join(dir, 'workload.bin');
    writeFileSync(join(dir, 'image.ld'), LINKER_SCRIPT);
    run('gcc', [
      '-O1', '-ffreestanding', '-nostdlib', '-fno-pic', '-no-pie', '-fno-stack-protector', '-static',
      '-fno-asynchronous-unwind-tables', '-Wl,--build-id=none', '-Wl,--no-warn-rwx-segments',
      '-T', join(dir, 'image.ld'), '-o', elf, source,
    ]);
    run('objcopy', ['-O', 'binary', elf, raw]);
    const symbols = new Map(
      run('nm', [elf]).split('\n').filter(Boolean).map((line) => {
        const [address, , name] = line.split(' ');
        return [name!, BigInt(`0x${address}`)] as const;
      }),
    );
    const entry = symbols.get('_start');
    const end = symbols.get('bench_end');
    if (entry !== BASE || end === undefined) throw new Error(`Cannot find _start at 0x${BASE.toString(16)} and bench_end in ${elf}`);

    writeFileSync(join(dir, 'host.c'), hostMain(source));
    run('gcc', ['-O1', '-o', join(dir, 'host'), join(dir, 'host.c')]);
    const expected = BigInt(`0x${run(join(dir, 'host'), []).trim()}`);
    return { base: BASE, entry, end, image: new Uint8Array(readFileSync(raw)), expected };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? '').trim();
    throw new Error(`Cannot build the bench workload: ${command} failed${stderr ? `: ${stderr.split('\n')[0]}` : ''}`);
  }
}
