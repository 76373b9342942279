/**
 * A synthetic 4 GiB bitmap kernel dump (x64, DumpType 5, 1 048 576
 * physical pages, written as a sparse file by the test builder) opened and
 * answered with `info` (text and JSON, which walks every page table to list
 * memory) in a fresh process. Issue 12's target: under 0.5 s and under
 * 200 MB RSS. The dump maps 8 MiB of 4 KiB kernel pages, 1 GiB of 2 MiB
 * large pages, a stack with a KTRAP_FRAME, and a module list.
 *
 * @example
 * ```sh
 * node --import tsx bench/kernel-dump.ts          # prints the figures
 * node --import tsx bench/kernel-dump.ts --json
 * ```
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trapFrameBytes, writeKernelDump, type VirtualPage } from '../test/helpers/kernel-dump-builder.ts';

export const TARGET_INFO_MS = 500;
export const TARGET_RSS_MB = 200;
const PHYSICAL_PAGES = 1 << 20;

export interface KernelDumpMeasurement {
  fileBytes: number;
  openMs: number;
  infoMs: number;
  totalMs: number;
  /** Peak RSS of the measuring process, and before it opened the dump (Node and the sources loaded). */
  maxRssMb: number;
  baselineRssMb: number;
  ranges: number;
  modules: number;
}

function writeDump(path: string): void {
  const code = 0xfffff800_01000000n;
  const stack = 0xfffff880_00a00000n;
  const pages: VirtualPage[] = [];
  for (let i = 0n; i < 2048n; i++) pages.push({ va: code + i * 0x1000n, bytes: Uint8Array.of(0x48, 0x8b, 0x00, 0xcc), execute: i < 1024n, write: i >= 1024n });
  const regs = { rax: 0n, rcx: 1n, rip: code + 0x10n, rsp: stack + 0x990n, cs: 0x10n, ss: 0x18n, efl: 0x10282n, rbp: stack + 0xf00n };
  const stackBytes = new Uint8Array(0x1000);
  stackBytes.set(trapFrameBytes('x64', regs), 0x800);
  pages.push({ va: stack, bytes: stackBytes, write: true });
  writeKernelDump(path, {
    arch: 'x64', dumpType: 5, processors: 8,
    bugcheck: { code: 0x8en, parameters: [0xc0000005n, code + 0x10n, stack + 0x800n, 0n] },
    context: { ...regs, rip: code + 0x100n, rsp: stack + 0x700n },
    pages,
    largePages: Array.from({ length: 512 }, (_, i) => ({ va: 0xfffff800_40000000n + BigInt(i) * 0x200000n })),
    modules: [
      { file: 'ntoskrnl.exe', base: code, size: 0x800000n, exports: [{ name: 'KeBugCheckEx', address: code + 0x10n }] },
      { file: 'hal.dll', base: code + 0x1000000n, size: 0x80000n },
    ],
    physicalPages: PHYSICAL_PAGES,
  });
}

/** In the child: open and answer info, then report timings and peak RSS. */
async function child(path: string): Promise<void> {
  const { openDump } = await import('../src/dumps/open.ts');
  const { dumpInfo } = await import('../src/cli/commands/info.ts');
  const baseline = process.memoryUsage().rss;
  const started = performance.now();
  const dump = await openDump(path);
  const opened = performance.now();
  const info = dumpInfo(dump);
  JSON.stringify(info, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
  const done = performance.now();
  const result = {
    openMs: opened - started, infoMs: done - opened, totalMs: done - started,
    maxRssMb: process.resourceUsage().maxRSS / 1024, baselineRssMb: baseline / 2 ** 20,
    ranges: info.memory.ranges, modules: info.modules.length,
  };
  process.stdout.write(JSON.stringify(result));
}

/** Builds the dump in a temporary directory and measures `info` in a fresh process. */
export function measureKernelDump(): KernelDumpMeasurement {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-kernel-'));
  try {
    const path = join(dir, 'bitmap-4g.dmp');
    writeDump(path);
    const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', path], { encoding: 'utf8' });
    return { fileBytes: statSync(path).size, ...JSON.parse(out) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const self = process.argv[1] === fileURLToPath(import.meta.url);
if (self && process.argv[2] === '--child') {
  await child(process.argv[3]!);
} else if (self) {
  const m = measureKernelDump();
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(m, null, 2));
  } else {
    const gib = (m.fileBytes / 2 ** 30).toFixed(2);
    console.log(`4 GiB bitmap kernel dump (${gib} GiB sparse file, ${m.ranges} memory ranges, ${m.modules} modules)`);
    console.log(`  open ${m.openMs.toFixed(1)} ms, info ${m.infoMs.toFixed(1)} ms, total ${m.totalMs.toFixed(1)} ms (target < ${TARGET_INFO_MS} ms: ${m.totalMs < TARGET_INFO_MS ? 'met' : 'NOT met'})`);
    console.log(`  peak RSS ${m.maxRssMb.toFixed(0)} MB, ${m.baselineRssMb.toFixed(0)} MB before opening (target < ${TARGET_RSS_MB} MB: ${m.maxRssMb < TARGET_RSS_MB ? 'met' : 'NOT met'})`);
  }
}
