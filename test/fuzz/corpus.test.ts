/**
 * Every input the fuzzer saved (test/fuzz/corpus/TARGET/), replayed with
 * the fuzzer's limits: read or refused as bad input, never a crash, within
 * 5 s and 500 MB RSS. The first ones are the issue-10 cases: a 100 000-
 * character `u` operand and a 20 000-byte `db` line (hangs before), a zstd
 * frame claiming 1 GiB in one segment (1.15 GiB RSS before).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { replayInput } from '../../fuzz/replay.ts';
import { lacks } from '../helpers/system.ts';

const CORPUS = 'test/fuzz/corpus';
/** Targets that need a system package to run. */
const NEEDS: Record<string, Parameters<typeof lacks>[0]> = { compressed: 'zstd' };

const targets = readdirSync(CORPUS, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);

describe('the fuzzing corpus', () => {
  it('holds inputs', () => {
    expect(targets.flatMap((t) => readdirSync(join(CORPUS, t))).length).toBeGreaterThan(0);
  });

  for (const target of targets) {
    describe.skipIf(NEEDS[target] !== undefined && lacks(NEEDS[target]))(target, () => {
      for (const file of readdirSync(join(CORPUS, target)).sort()) {
        it(file, async () => {
          const replay = await replayInput(target, join(CORPUS, target, file));
          expect(replay.message && replay.outcome === 'crash' ? replay.message : replay.outcome).toBe('ok');
          expect(replay.ms).toBeLessThan(5000);
        });
      }
    });
  }
});
