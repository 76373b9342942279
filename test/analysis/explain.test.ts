/**
 * `explain` on the IPI transcript and on variants made with consistent
 * bytes, one per verdict class. Expected values are the engineer's reading of
 * each transcript (written beside it), not faultline's own output.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { explain, type ExplainReport } from '../../src/analysis/explain.ts';
import { parseHypothesis } from '../../src/analysis/hypothesis-spec.ts';
import { loadTranscript } from '../../src/dumps/transcript/loader.ts';

const fixture = (name: string) => new URL(`../fixtures/transcripts/${name}`, import.meta.url).pathname;
const run = (name: string, options = {}) => explain(loadTranscript(fixture(name)), options);
const check = (report: ExplainReport, what: string) => report.checks.find((c) => c.what === what);

describe('the IPI call-target bit flip', () => {
  it('is a CPU fault in the branch target, bit 2, 1→0', async () => {
    const report = await run('ipi-call-target-bitflip.txt');
    expect(report.verdict).toMatchObject({
      class: 'cpu-fault',
      location: 'branch-target',
      bit: 2,
      direction: '1->0',
      expected: '0x8082e3e4',
      observed: '0x8082e3e0',
      confidenceLabel: 'high',
    });
    // The fault: int 3 filler after an unconditional jmp cannot be reached by falling through.
    expect(report.fault).toMatchObject({ kind: 'breakpoint', pc: '0x8082e3e0', reachableByFallThrough: false });
    // The return address hal!HalpIpiHandler+0xcc follows `call dword ptr [80a5b020]`, whose slot holds 8082e3e4.
    expect(report.candidates.find((c) => c.kind === 'call')).toMatchObject({
      slot: '0xf78aecac',
      returnAddress: '0x80a5d8fc',
      returnSymbol: 'hal!HalpIpiHandler+0xcc',
      expected: '0x8082e3e4',
      pointer: { address: '0x80a5b020', value: '0x8082e3e4' },
      comparison: { relation: 'one-bit', bit: 2 },
    });
    // The window starts after the call into HalBeginSystemInterrupt, with esp so the pushes land on the recorded slots.
    expect(report.window).toMatchObject({ start: '0x80a5d8e6', stackPointer: '0xf78aecb8' });
    // Replay with bit 2 cleared reproduces the trap frame and the stack.
    expect(check(report, 'trap')?.status).toBe('match');
    expect(check(report, 'eip')).toMatchObject({ actual: '8082e3e1', status: 'match' });
    expect(check(report, 'esp')).toMatchObject({ actual: 'f78aecac', status: 'match' });
    expect(check(report, 'efl')).toMatchObject({ actual: '00000202', status: 'match' });
    for (const reg of ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp']) expect(check(report, reg)?.status).toBe('match');
    expect(check(report, '[f78aecac]')).toMatchObject({ actual: '80a5d8fc', status: 'match' });
    expect(check(report, '[f78aecb0]')).toMatchObject({ actual: 'f78aecc0', status: 'match' });
    expect(check(report, '[f78aecb4]')).toMatchObject({ actual: '00000000', status: 'match' });
    expect(report.checks.some((c) => c.status === 'mismatch')).toBe(false);
    // The code as written does not reproduce the trap: the call goes to 8082e3e4, and the machine is as the call left it, 4 bytes lower.
    const asWritten = report.hypotheses.filter((h) => h.id === 'as-written');
    expect(asWritten.length).toBeGreaterThan(0);
    for (const h of asWritten) expect(h.explains).toBe(false);
    // No other account of the same class fits.
    expect(report.verdict.alternatives).toBeUndefined();
    // The software account is far behind: a hardware verdict needs a clear lead.
    expect(report.verdict.margin).toBeGreaterThan(2);
  });

  it('starts the window earlier when the absent callee is stepped over', async () => {
    const report = await run('ipi-call-target-bitflip.txt', {
      stepOvers: [{ address: 0x80a5d8e1n, popBytes: 0xcn, registers: { eax: 1n } }],
    });
    expect(report.window).toMatchObject({ start: '0x80a5d8c4', stackPointer: '0xf78aecc0' });
    // mov [ebp+8],0BADB0D00h; mov [ebp],ebx; mov [ebp+4],edi land where dps shows them.
    expect(check(report, '[f78aecc8]')).toMatchObject({ actual: 'badb0d00', status: 'match' });
    expect(check(report, '[f78aecc0]')).toMatchObject({ actual: 'f78aed50', status: 'match' });
    expect(check(report, '[f78aecc4]')).toMatchObject({ actual: 'f75d9ca2', status: 'match' });
    // eax=1 is what the user stated, not what the dump recorded: unknown, not a mismatch.
    expect(check(report, 'eax')?.status).toBe('unknown');
    expect(report.verdict).toMatchObject({ class: 'cpu-fault', location: 'branch-target', bit: 2 });
  });

  it('`check` tests a stated hypothesis and rejects a wrong one', async () => {
    const dump = loadTranscript(fixture('ipi-call-target-bitflip.txt'));
    const report = await explain(dump, {
      hypotheses: [parseHypothesis('bitflip:target@80a5d8f6:2', 'x86'), parseHypothesis('bitflip:target@80a5d8f6:3', 'x86')],
    });
    // Each stated hypothesis is tested in each window that runs the instruction (here the call's).
    const stated = new Map(report.stated?.map((h) => [h.id, h.explains]));
    expect(stated.get('bitflip:target@80a5d8f6:2')).toBe(true);
    expect(stated.get('bitflip:target@80a5d8f6:3')).toBe(false);
    expect(report.searched).toBe(0);
  });
});

describe('the search is bounded as a whole', () => {
  it('a spent budget stops it and says what was not searched', async () => {
    const report = await run('ipi-call-target-bitflip.txt', { searchBudgetMs: 0 });
    expect(report.unchecked.some((u) => /the branch-target search in window w\d stopped at the time budget/.test(u))).toBe(true);
    // Without the search nothing reproduces the trap; the answer says so rather than guess.
    expect(report.verdict.class).toBe('inconclusive');
  });
});

describe('variants: faultline must not say hardware when the evidence says otherwise', () => {
  it('the slot itself holds the one-bit-off value → memory corruption', async () => {
    const report = await run('ipi-memory-corruption.txt');
    expect(report.verdict).toMatchObject({ class: 'memory-corruption', location: 'memory', bit: 2, expected: '0x8082e3e4', observed: '0x8082e3e0', address: '0x80a5b020' });
    // The code as written reproduces the trap: the CPU followed the corrupt pointer faithfully.
    expect(report.hypotheses.find((h) => h.id === 'as-written')).toMatchObject({ explains: true });
  });

  it('the target matches and the trap is a breakpoint in it → no hardware fault', async () => {
    const report = await run('ipi-breakpoint-in-target.txt');
    expect(report.verdict.class).toBe('no-fault');
    expect(report.candidates.find((c) => c.kind === 'call')?.comparison?.relation).toBe('equal');
    // Flips the dump cannot see (flags overwritten by `or al,al`) are not offered as explanations.
    expect(report.hypotheses.filter((h) => h.class === 'cpu-fault')).toEqual([]);
  });

  it('a null import slot → software', async () => {
    const report = await run('ipi-null-pointer.txt');
    expect(report.verdict).toMatchObject({ class: 'software' });
    expect(report.verdict.reasons.some((r) => /00000000 is in the null page area/.test(r))).toBe(true);
  });

  it('`call eax` where eax holds a flipped loaded value → CPU fault in the loaded value', async () => {
    const report = await run('ipi-call-eax-loaded-flip.txt');
    expect(report.verdict).toMatchObject({ class: 'cpu-fault', location: 'loaded-value', bit: 2, expected: '0x8082e3e4', observed: '0x8082e3e0' });
    expect(check(report, 'eax')).toMatchObject({ actual: '8082e3e0', status: 'match', basis: 'computed' });
  });

  it('x64 with 64-bit addresses: a dispatch call whose target lost bit 4', async () => {
    const report = await run('x64-dispatch-target-bitflip.txt');
    expect(report.verdict).toMatchObject({
      class: 'cpu-fault', location: 'branch-target', bit: 4, expected: '0xfffff80002a81ed0', observed: '0xfffff80002a81ec0',
    });
    expect(report.window?.start).toBe('0xfffff88004a12330');
    expect(check(report, 'rip')).toMatchObject({ actual: 'fffff80002a81ec1', status: 'match' });
    expect(check(report, 'rdx')).toMatchObject({ actual: '0000000000000002', status: 'match', basis: 'computed' });
  });
});

describe('a stack pointer at the bottom of the address space', () => {
  it('is read as holding nothing below it, not as a span past the top', async () => {
    // The dispatch transcript with rsp as a flipped `mov eax,edi` → `mov esp,edi` left it (a lab case: rsp=2).
    // The slot a `ret` would have read lies at 2 − 8, which wraps to the top of the address space.
    const path = fixture('x64-dispatch-target-bitflip.txt');
    const text = readFileSync(path, 'latin1').replace('rsp=fffff88003d5f9a8', 'rsp=0000000000000002');
    const report = await explain(loadTranscript(path, text));
    expect(report.verdict.class).not.toBe('cpu-fault');
    expect(report.verdict.class).not.toBe('memory-corruption');
  });
});
