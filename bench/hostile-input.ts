/**
 * Hostile input, in one run: how parse time grows with a transcript line's
 * length (a linear parser doubles when the line doubles; the quadratic one
 * it replaced quadrupled), and what opening a zstd frame that claims 1 GiB
 * costs, both in this process (time, peak RSS over Node's own).
 *
 * @example
 * ```sh
 * npm run bench:hostile
 * ```
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTranscript } from '../src/dumps/transcript/loader.ts';
import { openDump } from '../src/dumps/open.ts';

/** Best of five after a warm-up run, in ms. */
function bestMs(run: () => void): number {
  run();
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    run();
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

const uLine = (n: number): string => `1: kd> u 80a5d8e1\n80a5d8e1 e8d82b0000 call ${'a'.repeat(n)}\n`;
const dbLine = (n: number): string => `1: kd> db 80a5d8e1\n80a5d8e1  ${Array.from({ length: n }, () => '41').join(' ')}  zzzz\n`;

for (const [name, make, small] of [['u operand', uLine, 1_000_000], ['db values', dbLine, 20_000]] as const) {
  const a = bestMs(() => loadTranscript('bench.txt', make(small)));
  const b = bestMs(() => loadTranscript('bench.txt', make(small * 2)));
  console.log(`${name}: ${small} → ${a.toFixed(1)} ms, ${small * 2} → ${b.toFixed(1)} ms; ratio ${(b / a).toFixed(2)} (linear 2, quadratic 4)`);
}

// A single-segment zstd frame claiming 1 GiB, holding 1 GiB of RLE blocks (32 KiB of file).
const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-'));
try {
  const blocks = 8192;
  const bytes = new Uint8Array(4 + 1 + 8 + blocks * 4);
  bytes.set([0x28, 0xb5, 0x2f, 0xfd, 0xe0]);
  new DataView(bytes.buffer).setBigUint64(5, 1n << 30n, true);
  for (let i = 0; i < blocks; i++) {
    const header = (131072 << 3) | (1 << 1) | (i === blocks - 1 ? 1 : 0);
    bytes.set([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff, 0], 13 + i * 4);
  }
  const path = join(dir, 'claim-1g.zst');
  writeFileSync(path, bytes);
  const rssBefore = process.memoryUsage.rss();
  let peak = rssBefore;
  const poll = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
  const started = performance.now();
  const said = await openDump(path).then(() => 'opened', (error: Error) => error.message);
  clearInterval(poll);
  peak = Math.max(peak, process.memoryUsage.rss());
  console.log(`zstd frame claiming 1 GiB: ${(performance.now() - started).toFixed(0)} ms, RSS +${((peak - rssBefore) / 2 ** 20).toFixed(0)} MB: ${said}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
