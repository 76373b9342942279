/**
 * A call into data, on a real core of a gcc-built x86-64 program: `marker`
 * is initialised in .data to 0x1111 and the program sets bit 5 of it before
 * calling its address as a function (a software bug). The fault is a fetch
 * from a page that cannot be executed; the bytes around it are the file's
 * .data but for that one bit. Data differs from the file by design (the
 * program writes it, the loader relocates it): no code-corruption account
 * is made from bytes that are not code (before, this was called code
 * corruption in memory).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { explainCore } from '../helpers/explain-core.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
long marker = 0x1111;
int main(int argc, char **argv) {
  marker |= 0x20 * argc;
  void (*fn)(void) = (void (*)(void))&marker;
  fn();
  return 0;
}
`;

describe.skipIf(!nativeX64)('a call into data one bit from the file (x86-64)', () => {
  const { dir, binary } = buildCProgram(nativeX64!, 'data-not-code', SOURCE, ['-O2', '-no-pie']);

  it('execute of .data whose bytes the program changed: a software bug, not code corruption', async () => {
    const { core } = await runToCore(nativeX64!, { program: binary, signal: 'SIGSEGV', core: join(dir, 'data.core'), commands: ['continue'] });
    const report = await explainCore(core, binary);
    expect(report.verdict.class, report.verdict.summary).toBe('software');
  }, 300_000);
});
