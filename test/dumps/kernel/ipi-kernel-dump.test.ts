/**
 * The same crash as a WinDbg transcript and as a kernel dump: the IPI
 * bugcheck (0x8E, `call dword ptr [80a5b020]` landing on the `int 3` at
 * 8082e3e0) rendered by the independent builder into an x86 PAE kernel
 * dump of each DumpType: every byte the transcript shows placed in its page
 * (bytes it does not show are zero), the `.trap` registers written as a
 * KTRAP_FRAME at f78aec38 (Server 2003 layout, build 3790), the modules
 * nt and hal with the transcript's symbols as exports. `explain` must give
 * the same verdict on both.
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

const FIXTURE = new URL('../../fixtures/transcripts/ipi-call-target-bitflip.txt', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'faultline-kernel-ipi-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const transcript = loadTranscript(FIXTURE);
const budget = { searchReplays: 400 };

describe('the IPI crash as a transcript and as an x86 PAE kernel dump', () => {
  it.each([1, 2, 4, 5, 6] as const)('DumpType %i gives the transcript\'s verdict', async (dumpType) => {
    const path = join(dir, `ipi-${dumpType}.dmp`);
    transcriptAsKernelDump(transcript, path, 'x86-pae', dumpType);
    const dump = await openDump(path);
    expect(dump.format).toBe('kernel-dump');
    expect(dump.machine).toMatchObject({ machine: 'x86 (PAE)', processors: 2, build: 3790 });
    expect(dump.threads[0]!.contexts[0]).toMatchObject({ kind: 'trap-frame', label: '.trap f78aec38' });
    expect(dump.threads[0]!.contexts[0]!.registers).toEqual(transcript.threads[0]!.contexts[0]!.registers);
    expect(dump.symbols.format(0x80a5d8fcn)).toBe('hal!HalpIpiHandler+0xcc');
    const [fromTranscript, fromKernel] = [await explain(transcript, budget), await explain(dump, budget)];
    expect(fromTranscript.verdict.class).toBe('cpu-fault');
    const pick = (v: typeof fromTranscript.verdict) => ({ class: v.class, location: v.location, bit: v.bit, direction: v.direction, expected: v.expected, observed: v.observed });
    expect(pick(fromKernel.verdict)).toEqual(pick(fromTranscript.verdict));
    (dump as Dump & { close(): void }).close();
  }, 60_000);
});
