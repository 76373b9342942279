/**
 * The fuzzer's reuse of memory and of its input file (fuzz/mutate.ts
 * MutationBuffers, fuzz/input-file.ts): mutating in reused buffers gives
 * exactly the inputs fresh arrays give, and after any sequence of inputs
 * (longer, shorter, same length with a few bytes changed) the file holds
 * exactly the last one.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputFile } from '../../fuzz/input-file.ts';
import { fieldOffsets, MAX_INPUT, mutateBinary, MutationBuffers, seededRandom } from '../../fuzz/mutate.ts';

const dir = mkdtempSync(join(tmpdir(), 'faultline-fuzz-harness-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const seeds = [
  readFileSync('test/fixtures/dumps/lldb/elf-core/linux-x86_64.core'),
  Uint8Array.from({ length: 300_000 }, (_, i) => (i * 2654435761) >>> 24),
  Uint8Array.of(1, 2, 3),
].map((s) => Uint8Array.from(s));

describe('fuzzer harness', () => {
  it('mutations in reused buffers are the mutations in fresh arrays, and the seeds stay untouched', () => {
    const before = seeds.map((s) => s.slice());
    const buffers = new MutationBuffers(MAX_INPUT);
    const fresh = seededRandom(11);
    const reused = seededRandom(11);
    let lengthChanged = 0;
    for (let n = 0; n < 400; n++) {
      const which = n % seeds.length;
      const a = mutateBinary(seeds[which]!, seeds, fresh, fieldOffsets(seeds[which]!));
      const b = mutateBinary(seeds[which]!, seeds, reused, fieldOffsets(seeds[which]!), buffers);
      expect(Buffer.compare(a, b), `input ${n}`).toBe(0);
      if (a.length !== seeds[which]!.length) lengthChanged++;
    }
    expect(lengthChanged).toBeGreaterThan(100);
    seeds.forEach((s, i) => expect(Buffer.compare(s, before[i]!)).toBe(0));
  });

  it('the input file holds exactly the last input written, whatever came before', () => {
    const path = join(dir, 'current.bin');
    const file = new InputFile(path, MAX_INPUT);
    const random = seededRandom(5);
    const big = Uint8Array.from({ length: 1_000_000 }, (_, i) => i & 0xff);
    const inputs: Uint8Array[] = [big, big.slice(0, 70_000), new Uint8Array(0), big.slice(3)];
    const patched = big.slice();
    patched[999_999] ^= 1;
    inputs.push(big, patched);
    const middle = big.slice();
    middle[500_000] ^= 0x80;
    inputs.push(middle, big.slice(0, 65_536), big.slice(0, 65_537));
    for (let n = 0; n < 40; n++) inputs.push(mutateBinary(big, [big], random));
    for (const bytes of inputs) {
      file.write(bytes);
      expect(Buffer.compare(readFileSync(path), bytes)).toBe(0);
    }
    file.close();
  });
});
