/**
 * A privileged instruction in user code on i386 (gcc -m32): `hlt` raises a
 * general protection fault, which Linux reports as SIGSEGV with si_code
 * SI_KERNEL and address 0, as on x86-64. The fault is no access of address
 * 0: the replay traps on the instruction itself (vector 13) and the code as
 * written explains it, a software bug, not an inconclusive trap mismatch.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCProgram, x86 } from '../helpers/c-program.ts';
import { explainCore } from '../helpers/explain-core.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
__attribute__((noinline)) int halt(int x) { __asm__ volatile("hlt"); return x + 1; }
int main(int argc, char **argv) { return halt(argc); }
`;

describe.skipIf(!x86)('a general protection fault on i386', () => {
  const { dir, binary } = buildCProgram(x86!, 'gp-x86', SOURCE, ['-O2', '-no-pie']);

  it('hlt in user code: SIGSEGV at the instruction, address 0, a software bug', async () => {
    const { core } = await runToCore(x86!, { program: binary, signal: 'SIGSEGV', core: join(dir, 'gp.core'), commands: ['continue'] });
    const report = await explainCore(core, binary, x86!.sysroot ?? '/');
    expect(report.fault?.summary).toMatch(/general protection/);
    expect(report.verdict.class).toBe('software');
    expect(report.hypotheses.find((h) => h.id === 'as-written')?.checks[0]).toMatchObject({ what: 'trap', status: 'match' });
  }, 300_000);
});
