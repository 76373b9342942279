import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDbStore } from '../../src/fleet/store.ts';
import { fillSynthetic } from '../../src/fleet/synthetic.ts';
import { runCli } from '../cli/run-cli.ts';

const fixtures = new URL('../fixtures/', import.meta.url).pathname;
const transcript = (name: string) => join(fixtures, 'transcripts', name);
const breakpad = (name: string) => join(fixtures, 'dumps/breakpad', name);

/** Software crashes (each explained `software` by faultline: test/fleet/batch.test.ts and the fixtures' provenance). */
const SOFTWARE = [breakpad('linux_null_read_av.dmp'), breakpad('write_av_non_null.dmp'), breakpad('minidump2.dmp'), transcript('ipi-null-pointer.txt'), join(fixtures, 'dumps/lldb/minidump-new/linux-x86_64.dmp')];

describe('fleet report', () => {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-fleet-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('puts a planted faulty machine first: hardware faults in different code among software crashes from other machines', async () => {
    const entries: object[] = [];
    let n = 0;
    const add = (source: string, machine: string, cpu: number) => {
      const path = `d${n++}${source.slice(source.lastIndexOf('.'))}`;
      copyFileSync(source, join(dir, path));
      entries.push({ path, machine, cpu });
    };
    // The faulty machine: three single-bit CPU faults at three places (hal's IPI handler, an x64 driver's dispatch, a loaded value), one software crash.
    add(transcript('ipi-call-target-bitflip.txt'), 'faulty', 1);
    add(transcript('x64-dispatch-target-bitflip.txt'), 'faulty', 1);
    add(transcript('ipi-call-eax-loaded-flip.txt'), 'faulty', 2);
    add(SOFTWARE[0]!, 'faulty', 0);
    // One machine with a single memory-corruption verdict among software crashes: unlucky, not recurrent.
    add(transcript('ipi-memory-corruption.txt'), 'once', 0);
    for (let i = 0; i < 3; i++) add(SOFTWARE[i]!, 'once', i);
    // Five machines with software crashes only.
    for (let m = 0; m < 5; m++) for (let i = 0; i < 3; i++) add(SOFTWARE[(m + i) % SOFTWARE.length]!, `ok-${m}`, i);
    const manifest = join(dir, 'fleet.jsonl');
    writeFileSync(manifest, entries.map((e) => JSON.stringify(e)).join('\n'));
    const db = join(dir, 'fleet.duckdb');
    const batch = await runCli('batch', manifest, '--db', db, '--jobs', '2', '--search-replays', '300', '--json');
    expect(batch.code, batch.err).toBe(0);
    expect(JSON.parse(batch.out)).toMatchObject({ inputs: entries.length, errors: 0 });

    const { code, out } = await runCli('fleet', 'report', '--db', db, '--json');
    expect(code).toBe(0);
    const report = JSON.parse(out);
    expect(report.fleet).toMatchObject({ dumps: entries.length, machines: 7, hardware: 4, machines_with_hardware: 2 });
    expect(report.machines.map((m: { machine: string }) => m.machine)).toEqual(['faulty', 'once']);
    expect(report.machines[0]).toMatchObject({ dumps: 4, hardware: 3, cpu_fault: 3, hardware_sites: 3, single_bit_sites: 3, recurrent: true });
    expect(report.machines[1]).toMatchObject({ dumps: 4, hardware: 1, memory_corruption: 1, recurrent: false });
    expect(report.machines[0].chance).toBeLessThan(report.machines[1].chance);
    // Every hardware verdict here is bit 2 but the x64 dispatch one (bit 4).
    expect(report.bits).toEqual([
      { bit: 2, hardware: 3, machines: 2, one_to_zero: 3, zero_to_one: 0 },
      { bit: 4, hardware: 1, machines: 1, one_to_zero: expect.any(Number), zero_to_one: expect.any(Number) },
    ]);
    expect(report.instructions[0]).toMatchObject({ instruction: 'call', hardware: 2 });

    const text = await runCli('fleet', 'report', '--db', db);
    expect(text.out).toMatch(/^faulty\s+4\s+3\s+3\s+0\s+0\s+3\s+yes/m);
  }, 600_000);

  it('ranks by evidence for the machine, not by its count alone, on a synthetic store; --sql reruns to the same rows', async () => {
    const db = join(dir, 'synthetic.duckdb');
    const store = await DuckDbStore.open(db);
    await fillSynthetic(store, { dumps: 60_000, machines: 600, hardwareShare: 0.01, planted: { machine: 'planted', dumps: 40, hardware: 5 } });
    // One hardware verdict out of a single dump: the weakest kind of evidence, ranked below the planted machine.
    await store.connection.run(`INSERT INTO dumps (key, path, machine, status, verdict, hardware, bit, "function", module) VALUES ('lone', 'lone', 'lone', 'explained', 'cpu-fault', true, 3, 'x', 'y')`);
    store.close();
    const { code, out } = await runCli('fleet', 'report', '--db', db, '--json', '--top', '5');
    expect(code).toBe(0);
    const report = JSON.parse(out);
    expect(report.machines).toHaveLength(5);
    expect(report.machines[0]).toMatchObject({ machine: 'planted', dumps: 40, hardware: 5, recurrent: true });
    // Ordinary machines send 100 dumps each; at 1 % some have as many hardware verdicts by chance, and rank below.
    expect(report.machines.slice(1).some((m: { hardware: number; dumps: number }) => m.dumps === 100 && m.hardware >= 5)).toBe(true);
    const lone = report.machines.find((m: { machine: string }) => m.machine === 'lone');
    if (lone) expect(lone.confidence).toBeLessThan(report.machines[0].confidence);

    const sql = (await runCli('fleet', 'report', '--sql', '--top', '5')).out;
    const machinesSql = sql.split('-- ').find((s) => s.startsWith('machines'))!.replace(/^machines\n/, '');
    const instance = await DuckDBInstance.create(db, { access_mode: 'READ_ONLY' });
    const connection = await instance.connect();
    const rows = (await connection.runAndReadAll(machinesSql)).getRowObjectsJS();
    connection.closeSync();
    instance.closeSync();
    expect(rows.map((r) => r.machine)).toEqual(report.machines.map((m: { machine: string }) => m.machine));
  }, 120_000);

  it('a missing store, or no subcommand, is one line and exit 2', async () => {
    expect(await runCli('fleet')).toMatchObject({ code: 2, err: "faultline: 'fleet' needs a subcommand: faultline fleet report [--db FILE] (see faultline fleet report --help)\n" });
    const db = join(dir, 'none.duckdb');
    expect(await runCli('fleet', 'report', '--db', db)).toMatchObject({ code: 2, err: `faultline: Cannot open the store ${db}: no such file (faultline batch … --db ${db} writes it)\n` });
    writeFileSync(join(dir, 'not.duckdb'), 'hello');
    const bad = await runCli('fleet', 'report', '--db', join(dir, 'not.duckdb'));
    expect(bad.code).toBe(2);
    expect(bad.err.split('\n')).toHaveLength(2);
    expect(bad.err).toMatch(/^faultline: Cannot open the store .*not\.duckdb: /);
  });
});
