/**
 * Transcript lines of hundreds of thousands of characters: every parser
 * step is linear in the line, so they are read (or skipped with a note) in
 * well under a second. Before: a 100 000-character `u` operand took ~19 s
 * (a backtracking regular expression), a 20 000-byte `db` line whose ASCII
 * column did not match never finished (the rest of the line joined once per
 * value).
 */
import { describe, expect, it } from 'vitest';
import { loadTranscript } from '../../src/dumps/transcript/loader.ts';
import type { Dump } from '../../src/dumps/model.ts';
import { referencesIn } from '../../src/dumps/transcript/listing.ts';

/** Loads `text` and says how long it took. */
function timed(text: string): { dump: Dump; ms: number } {
  const started = performance.now();
  const dump = loadTranscript('long.txt', text);
  return { dump, ms: performance.now() - started };
}

describe('long transcript lines are read in linear time', () => {
  it('a u line with a 200 000-character operand', () => {
    const { ms } = timed(`1: kd> u 80a5d8e1\n80a5d8e1 e8d82b0000 call ${'a'.repeat(200_000)}\n`);
    expect(ms).toBeLessThan(1500);
  });

  it('a u line with 200 000 characters of module!symbol text still records the reference after it', () => {
    const { dump, ms } = timed(`1: kd> u 80a5d8e1\n80a5d8e1 e8d82b0000 call x!${'a'.repeat(200_000)} hal!HalBeginSystemInterrupt (80a604be)\n`);
    expect(ms).toBeLessThan(1500);
    expect(dump.symbols.format(0x80a604ben)).toBe('hal!HalBeginSystemInterrupt');
  });

  it('references are found as the regular expression they replace found them, on short random operands', () => {
    // The expression listing.ts used before: right on short text, quadratic on long tokens.
    const before = /([A-Za-z0-9_.$@-]+![^\s()]+)\s+\(([0-9a-f]{8}(?:`[0-9a-f]{8})?|[0-9a-f]{16})\)/gi;
    const pieces = ['hal!x ', ' (80a604be)', 'nt!A+0x1 (fffff800`02a8c600)', 'hal', '!', 'x', '+0x1', ' ', '  ', '(', ')', '(80a604be)', '(fffff800`02a8c600)', '(0000000080a604be)', '*', 'a.b', '-', '$', '!!', 'ZZ'];
    let seed = 1;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let compared = 0;
    for (let round = 0; round < 5000; round++) {
      const text = Array.from({ length: 1 + next(12) }, () => pieces[next(pieces.length)]).join('');
      const expected = [...text.matchAll(before)].map((m) => ({ name: m[1], address: m[2] }));
      expect(referencesIn(text), text).toEqual(expected);
      compared += expected.length;
    }
    expect(compared).toBeGreaterThan(200);
  });

  it('a db line of 20 000 bytes whose ASCII column does not match', () => {
    const values = Array.from({ length: 20_000 }, () => '41').join(' ');
    const { dump, ms } = timed(`1: kd> db 80a5d8e1\n80a5d8e1  ${values}  zzzz\n`);
    expect(ms).toBeLessThan(1500);
    expect(dump.memory.read(0x80a5d8e1n, 4)).toEqual(Uint8Array.of(0x41, 0x41, 0x41, 0x41));
  });

  it('a db line of 20 000 bytes with its ASCII column: the column is not read as values', () => {
    const values = Array.from({ length: 20_000 }, (_, i) => (i % 2 ? '61' : '20')).join(' ');
    const ascii = ' a'.repeat(10_000).trim();
    const { dump, ms } = timed(`1: kd> db 80a5d8e0\n80a5d8e0  ${values}  ${ascii}\n`);
    expect(ms).toBeLessThan(1500);
    expect(dump.memory.read(0x80a5d8e0n + 19_998n, 2)).toEqual(Uint8Array.of(0x20, 0x61));
    expect(dump.memory.read(0x80a5d8e0n + 20_000n, 1)).toBeUndefined();
  });

  it('a dc line whose ASCII column looks like hex keeps the split WinDbg printed', () => {
    // 'abcd' as a dword is 64636261; the ASCII column 'abcdabcd' is 8 hex digits, itself a dword to look at.
    const { dump } = timed('0:000> dc 00401000 l2\n00401000  64636261 64636261                    abcdabcd\n');
    expect(dump.memory.read(0x401000n, 8)).toEqual(Uint8Array.of(0x61, 0x62, 0x63, 0x64, 0x61, 0x62, 0x63, 0x64));
    expect(dump.memory.read(0x401008n, 1)).toBeUndefined();
  });
});
