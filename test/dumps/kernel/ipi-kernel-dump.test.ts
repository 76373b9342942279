/**
 * The same crash as a WinDbg transcript and as a kernel dump: kernel
 * bugcheck transcripts (the IPI call whose target lost bit 2, a call
 * through a null pointer) rendered by the
 * independent builder (test/helpers/transcript-kernel-dump.ts) into
 * kernel dumps of each DumpType, x86 with and without PAE: every byte the
 * transcript shows placed in its page (code it does not show is `int 3`,
 * data zero), the `.trap` registers written as a KTRAP_FRAME (Server 2003
 * layout, build 3790), the modules with the
 * transcript's symbols as exports. `explain` must give the same verdict on
 * both, and the verdict the transcript's own test expects.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { explain } from '../../../src/analysis/explain.ts';
import type { Dump } from '../../../src/dumps/model.ts';
import { openDump } from '../../../src/dumps/open.ts';
import { loadTranscript } from '../../../src/dumps/transcript/loader.ts';
import { transcriptAsKernelDump } from '../../helpers/transcript-kernel-dump.ts';
import type { KernelArch } from '../../helpers/kernel-dump-builder.ts';

const FIXTURE = new URL('../../fixtures/transcripts/ipi-call-target-bitflip.txt', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'faultline-kernel-ipi-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const budget = { searchReplays: 400 };
type Picked = { class: string; location?: string; bit?: number; direction?: string; expected?: string; observed?: string };
const pick = (v: Picked): Picked => ({ class: v.class, location: v.location, bit: v.bit, direction: v.direction, expected: v.expected, observed: v.observed });

// x64-dispatch-target-bitflip.txt is not among them: its callee (nt!KeAcquireSpinLockRaiseToDpc)
// shares a page with the fault, so the rendering must invent that function's code, and the as-written
// replay then runs invented bytes where the transcript's stops at unknown code; the verdict differs
// (inconclusive) because the dumps differ, not because the format is read differently.
const CASES: { fixture: string; arch: KernelArch; machine: string; verdict: string }[] = [
  { fixture: 'ipi-call-target-bitflip.txt', arch: 'x86-pae', machine: 'x86 (PAE)', verdict: 'cpu-fault' },
  { fixture: 'ipi-call-target-bitflip.txt', arch: 'x86', machine: 'x86', verdict: 'cpu-fault' },
  { fixture: 'ipi-null-pointer.txt', arch: 'x86-pae', machine: 'x86 (PAE)', verdict: 'software' },
];

describe.each(CASES)('$fixture as an $arch kernel dump', ({ fixture, arch, machine, verdict }) => {
  const transcript = loadTranscript(new URL(`../../fixtures/transcripts/${fixture}`, import.meta.url).pathname);
  const fromTranscript = explain(transcript, budget);

  it.each([1, 2, 4, 5, 6] as const)('DumpType %i gives the transcript\'s verdict', async (dumpType) => {
    const path = join(dir, `${fixture}-${arch}-${dumpType}.dmp`);
    transcriptAsKernelDump(transcript, path, arch, dumpType);
    const dump = await openDump(path);
    expect(dump.format).toBe('kernel-dump');
    expect(dump.machine).toMatchObject({ machine, processors: 2 });
    const recorded = transcript.threads[0]!.contexts[0]!;
    const first = dump.threads[0]!.contexts[0]!;
    expect(first.registers).toEqual(recorded.registers);
    if (recorded.kind === 'trap-frame') expect(first).toMatchObject({ kind: 'trap-frame', address: recorded.address });
    const expected = (await fromTranscript).verdict;
    expect(expected.class).toBe(verdict);
    expect(pick((await explain(dump, budget)).verdict)).toEqual(pick(expected));
    (dump as Dump & { close(): void }).close();
  }, 60_000);
});

it('names the IPI code as the transcript does', async () => {
  const path = join(dir, 'ipi-symbols.dmp');
  transcriptAsKernelDump(loadTranscript(FIXTURE), path, 'x86-pae', 5);
  const dump = await openDump(path);
  expect(dump.symbols.format(0x80a5d8fcn)).toBe('hal!HalpIpiHandler+0xcc');
  expect(dump.symbols.format(0x8082e3e0n)).toBe('nt!KiCheckForKernelApcDelivery+0x36');
  expect(dump.threads[0]!.contexts[0]).toMatchObject({ kind: 'trap-frame', label: '.trap f78aec38' });
  (dump as Dump & { close(): void }).close();
});
