/**
 * `trace` names an instruction a CPU runs but Unicorn does not (AVX-512,
 * XSAVEC: what glibc picks on a CPU that has them) instead of calling it
 * invalid; the code's own invalid instruction (`ud2`) stays invalid. The
 * bytes are written out by hand from the Intel SDM encodings (objdump
 * agrees: `62 f2 7d 48 78 c1  vpbroadcastb %xmm1,%zmm0`,
 * `0f c7 64 24 40  xsavec 0x40(%rsp)`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.ts';

const CASES = [
  { name: 'AVX-512', bytes: [0x62, 0xf2, 0x7d, 0x48, 0x78, 0xc1], said: ': AVX-512 `vpbroadcastb zmm0,xmm1` is not emulated by Unicorn' },
  { name: 'XSAVEC', bytes: [0x0f, 0xc7, 0x64, 0x24, 0x40], said: ': XSAVEC `xsavec ptr [rsp+40h]` is not emulated by Unicorn' },
  { name: 'ud2', bytes: [0x0f, 0x0b], said: '' },
];

describe('an instruction Unicorn cannot execute', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'faultline-unemulated-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const c of CASES) {
    it(`${c.name}: ${c.said ? 'named' : 'left as the code\'s invalid instruction'}`, async () => {
      const image = join(dir, `${c.name}.bin`);
      writeFileSync(image, Uint8Array.from(c.bytes));
      const { code, err } = await runCli('trace', '--arch', 'x64', '--image', `${image}@0x401000`, '--regs', 'rsp=0x500000', '--from', '0x401000', '--count', '2');
      expect(code).toBe(0);
      expect(err).toBe(`trapped: invalid instruction (vector 6), pc 00000000\`00401000${c.said}\n`);
    });
  }
});
