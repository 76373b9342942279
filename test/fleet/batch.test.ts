import { copyFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collectJobs, looksLikeDump } from '../../src/fleet/inputs.ts';
import { runCli } from '../cli/run-cli.ts';
import { queryStore } from './read-store.ts';

const fixtures = new URL('../fixtures/', import.meta.url).pathname;
const IPI = join(fixtures, 'transcripts/ipi-call-target-bitflip.txt');
const NULL_READ = join(fixtures, 'dumps/breakpad/linux_null_read_av.dmp');
const CORE = join(fixtures, 'dumps/lldb/elf-core/linux-x86_64.core');

describe('batch', () => {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-batch-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds dumps under a directory by their first bytes, not executables or sources', () => {
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'nested'), { recursive: true });
    copyFileSync(IPI, join(tree, 'ipi.txt'));
    copyFileSync(NULL_READ, join(tree, 'nested', 'a.dmp'));
    copyFileSync(CORE, join(tree, 'nested', 'core'));
    copyFileSync(process.execPath, join(tree, 'node-executable'));
    writeFileSync(join(tree, 'notes.txt'), 'not a transcript\n');
    copyFileSync(new URL('../../lab/programs/bugs.c', import.meta.url).pathname, join(tree, 'bugs.c'));
    expect(looksLikeDump(join(tree, 'node-executable'))).toBe(false);
    expect(collectJobs([tree], { binaries: [] }).map((j) => j.path.slice(tree.length + 1))).toEqual(['ipi.txt', 'nested/a.dmp', 'nested/core']);
  });

  it('reads a manifest: paths relative to it, machine, cpu, time and other fields as labels', () => {
    const manifest = join(dir, 'fleet.jsonl');
    copyFileSync(IPI, join(dir, 'm1.txt'));
    writeFileSync(manifest, `${JSON.stringify({ path: 'm1.txt', machine: 'host-7', cpu: 3, time: '2026-11-02T10:00:00Z', build: '1.2', labels: { ring: 0 } })}\n\n`);
    const [job] = collectJobs([manifest], { binaries: [] });
    expect(job).toMatchObject({ path: join(dir, 'm1.txt'), machine: 'host-7', cpu: '3', time: '2026-11-02T10:00:00.000Z', labels: { ring: 0, build: '1.2' } });
  });

  it('a bad manifest line is one line naming the file and line, exit 2', async () => {
    const manifest = join(dir, 'bad.jsonl');
    writeFileSync(manifest, `${JSON.stringify({ path: 'm1.txt' })}\n{"path": "nowhere.dmp"}\n`);
    const missing = await runCli('batch', manifest, '--db', join(dir, 'bad.duckdb'));
    expect(missing.code).toBe(2);
    expect(missing.err).toBe(`faultline: ${manifest} line 2: Cannot access ${join(dir, 'nowhere.dmp')}: ENOENT\n`);
    writeFileSync(manifest, '{"path": 1\n');
    const broken = await runCli('batch', manifest, '--db', join(dir, 'bad.duckdb'));
    expect(broken).toMatchObject({ code: 2, err: `faultline: ${manifest} line 1: not a JSON object\n` });
  });

  it('explains each dump in worker processes, stores verdicts with their evidence, and skips them on a rerun', async () => {
    const inputs = join(dir, 'inputs');
    mkdirSync(inputs);
    copyFileSync(IPI, join(inputs, 'ipi.txt'));
    copyFileSync(NULL_READ, join(inputs, 'null.dmp'));
    const db = join(dir, 'fleet.duckdb');
    const first = await runCli('batch', inputs, '--db', db, '--jobs', '2', '--search-replays', '300', '--json');
    expect(first.code, first.err).toBe(0);
    expect(JSON.parse(first.out)).toMatchObject({ schema: 'faultline/batch/1', inputs: 2, skipped: 0, explained: 2, errors: 0, verdicts: { 'cpu-fault': 1, software: 1 } });
    const rows = await queryStore(db, `SELECT path, status, verdict, hardware, bit, direction, expected, observed, instruction, module, "function", report->>'$.verdict.hypothesis' AS hypothesis FROM dumps ORDER BY path`);
    // The IPI transcript: the CPU dropped bit 2 of the call target at hal!HalpIpiHandler+0xc6 (test/fixtures/transcripts).
    expect(rows).toEqual([
      { path: join(inputs, 'ipi.txt'), status: 'explained', verdict: 'cpu-fault', hardware: true, bit: 2, direction: '1->0', expected: '0x8082e3e4', observed: '0x8082e3e0', instruction: 'call', module: 'hal', function: 'HalpIpiHandler', hypothesis: 'bitflip:target@80a5d8f6:2' },
      // breakpad's linux_null_read_av: `mov eax, [0]` in null_read_av (no symbols: the module alone).
      { path: join(inputs, 'null.dmp'), status: 'explained', verdict: 'software', hardware: false, bit: null, direction: null, expected: null, observed: '0x0', instruction: 'mov', module: 'null_read_av', function: null, hypothesis: 'as-written' },
    ]);

    const again = await runCli('batch', inputs, '--db', db, '--json');
    expect(JSON.parse(again.out)).toMatchObject({ inputs: 2, skipped: 2, explained: 0 });

    // A dump that changed (a new modification time) is explained again; the other is not.
    utimesSync(join(inputs, 'null.dmp'), new Date(), new Date(Date.now() + 5000));
    const changed = await runCli('batch', inputs, '--db', db, '--json', '--search-replays', '300');
    expect(JSON.parse(changed.out)).toMatchObject({ inputs: 2, skipped: 1, explained: 1 });
    expect(await queryStore(db, 'SELECT count(*)::INTEGER AS n FROM dumps')).toEqual([{ n: 2 }]);
  }, 240_000);

  it('a dump past the time bound is stored as an error and the batch goes on', async () => {
    const db = join(dir, 'timeout.duckdb');
    const { code, out } = await runCli('batch', IPI, '--db', db, '--timeout', '0.2', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ explained: 0, errors: 1 });
    expect(await queryStore(db, 'SELECT status, error FROM dumps')).toEqual([{ status: 'error', error: 'explain took longer than 0.2 s and was stopped' }]);
    // --retry-errors runs it again (and a rerun without it does not).
    expect(JSON.parse((await runCli('batch', IPI, '--db', db, '--json')).out)).toMatchObject({ skipped: 1 });
    const retried = await runCli('batch', IPI, '--db', db, '--json', '--retry-errors', '--search-replays', '300');
    expect(JSON.parse(retried.out)).toMatchObject({ skipped: 0, explained: 1, verdicts: { 'cpu-fault': 1 } });
  }, 240_000);
});
