/**
 * The progress bar: drawn in place on a terminal, erased at the end, never
 * on a pipe or with --json; and `explain`/`trace` through the CLI (not a
 * terminal) print no bar.
 */
import { describe, expect, it } from 'vitest';
import { progressBar, progressLine } from '../../src/cli/progress.ts';
import { runCli } from './run-cli.ts';

describe('progress bar', () => {
  it('a line: bar, count, time left, cut to the terminal width', () => {
    expect(progressLine('searching', { count: 1234, unit: 'replays', fraction: 0.5, leftMs: 6200, bound: true }, 120))
      .toBe(`searching [${'#'.repeat(20)}${'.'.repeat(20)}] 1234 replays, at most 6.2 s left`);
    expect(progressLine('tracing', { count: 7, unit: 'instructions', fraction: 2, leftMs: 125_000 }, 120)).toContain(`[${'#'.repeat(40)}] 7 instructions, 2 min 5 s left`);
    expect(progressLine('tracing', { count: 7, unit: 'instructions', fraction: 0.1 }, 30).length).toBeLessThanOrEqual(29);
  });

  it('only on a terminal, never with --json; redrawn in place and erased', () => {
    const written: string[] = [];
    const tty = { isTTY: true, columns: 80, write: (t: string) => written.push(t) };
    expect(progressBar('x', { stream: { ...tty, isTTY: false } })).toBeUndefined();
    expect(progressBar('x', { stream: tty, json: true })).toBeUndefined();
    const bar = progressBar('x', { stream: tty })!;
    bar.update({ count: 1, unit: 'replays', fraction: 0.1 });
    bar.update({ count: 2, unit: 'replays', fraction: 0.2 }); // within 100 ms: not redrawn
    bar.done();
    expect(written).toEqual([`\rx [${'#'.repeat(4)}${'.'.repeat(36)}] 1 replays\x1b[K`, '\r\x1b[K']);
  });

  it('explain and trace print no bar when stderr is not a terminal', async () => {
    const { code, err } = await runCli('demo');
    expect(code).toBe(0);
    expect(err).not.toContain('\r');
  });
});
