/**
 * A code byte that makes a register move set the stack pointer, on a real
 * core of a gcc-built x86-64 program at -O2 (gdb flips the byte in memory
 * before it runs):
 *
 *   mov eax, edi  (89 f8)  →  mov esp, edi  (89 fc)
 *
 * The function's `ret` then reads its return address at the small number in
 * edi and faults there. The code as memory holds it reproduces every value;
 * so does the file's code if it starts from the dump's stack pointer, but a
 * function is not entered with its stack pointer where nothing is mapped
 * (the call put the return address there). The changed byte is what made the
 * fault: code corruption, not the null-plus-offset software pattern.
 */
import { describe, expect, it } from 'vitest';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { explainInjected } from '../helpers/explain-core.ts';

const SOURCE = String.raw`
__attribute__((noinline)) int mix(int a, int b) { return ((a << 5) - a) ^ b; }
int main(int argc, char **argv) {
  volatile int r = 0;
  for (int i = 1; i < 4; i++) r += mix(i, argc);
  return r & 1;
}
`;

describe.skipIf(!nativeX64)('a code byte that sets the stack pointer (x86-64, -O2)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'stack-pointer-code', SOURCE, ['-O2', '-no-pie']);
  const body = listing.slice(listing.indexOf('<mix>:'));
  const move = BigInt(`0x${/^\s*([0-9a-f]+):\s+mov\s+%edi,%eax/m.exec(body)![1]}`);

  it('bit 2 of the ModRM byte (f8 → fc): code corruption at that byte', async () => {
    const modrm = move + 1n;
    const report = await explainInjected({ dir, binary }, move, [`set *(unsigned char *)0x${modrm.toString(16)} = 0xfc`]);
    expect(report.verdict).toMatchObject({ class: 'code-corruption', location: 'code', bit: 2, address: `0x${modrm.toString(16)}` });
    // The code as written (the file's) cannot have entered mix with the stack pointer the dump shows.
    const asWritten = report.hypotheses.find((h) => h.family === 'as-written')!;
    expect(asWritten.explains).toBe(false);
  }, 300_000);
});
