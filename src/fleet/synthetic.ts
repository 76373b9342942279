/**
 * A synthetic fleet store for `fleet report`'s benchmark and ranking tests:
 * `dumps` rows made in one SQL statement, most of them software verdicts,
 * a share of hardware verdicts spread at random over the machines (single
 * faults that recur nowhere), and one planted faulty machine whose
 * hardware verdicts hit different code. No explain runs: this measures and
 * checks the grouping, not the verdicts.
 *
 * @example
 * ```ts
 * await fillSynthetic(store, { dumps: 1_000_000, machines: 20_000, hardwareShare: 0.01, planted: { machine: 'bad-host', dumps: 30, hardware: 4 } });
 * ```
 */
import type { DuckDbStore } from './store.ts';

export interface SyntheticFleet {
  dumps: number;
  machines: number;
  /** Share of the ordinary dumps with a hardware verdict (0..1). */
  hardwareShare: number;
  /** A machine with `hardware` single-bit faults, each in a different function, among `dumps`. */
  planted?: { machine: string; dumps: number; hardware: number };
}

/** Adds the rows to the store's `dumps` table. */
export async function fillSynthetic(store: DuckDbStore, fleet: SyntheticFleet): Promise<void> {
  const permille = Math.round(fleet.hardwareShare * 1_000_000);
  // hash(i) decides each row's verdict, bit and code, so the same parameters give the same store.
  await store.connection.run(`
INSERT INTO dumps (key, path, machine, cpu, status, verdict, hardware, location, bit, direction, observed, module, "function", instruction, elapsed_ms)
SELECT 'synthetic/' || i, 'synthetic/' || i, 'm' || (i % ${fleet.machines}), ((i // ${fleet.machines}) % 8)::VARCHAR, 'explained',
       CASE WHEN h % 1000000 < ${permille} THEN (CASE WHEN h % 3 = 0 THEN 'memory-corruption' ELSE 'cpu-fault' END)
            WHEN h % 10 = 1 THEN 'inconclusive' ELSE 'software' END,
       h % 1000000 < ${permille},
       CASE WHEN h % 1000000 < ${permille} THEN 'branch-target' ELSE 'none' END,
       CASE WHEN h % 1000000 < ${permille} THEN ((h // 7) % 64)::INTEGER END,
       CASE WHEN h % 1000000 < ${permille} THEN (CASE WHEN h % 2 = 0 THEN '1->0' ELSE '0->1' END) END,
       '0x' || lower(hex((h // 13) % 4096 * 16)),
       'mod' || ((h // 11) % 50), 'f' || ((h // 17) % 2000),
       ['mov', 'call', 'ret', 'jmp', 'ldr', 'blr'][(1 + (h // 19) % 6)::BIGINT], 1000
FROM (SELECT i, (hash(i) // 2)::BIGINT AS h FROM range(${fleet.dumps}) t(i))`);
  const p = fleet.planted;
  if (!p) return;
  await store.connection.run(`
INSERT INTO dumps (key, path, machine, cpu, status, verdict, hardware, location, bit, direction, observed, module, "function", instruction, elapsed_ms)
SELECT 'planted/' || i, 'planted/' || i, $1, (i % 4)::VARCHAR, 'explained',
       CASE WHEN i < ${p.hardware} THEN 'cpu-fault' ELSE 'software' END, i < ${p.hardware},
       CASE WHEN i < ${p.hardware} THEN 'branch-target' ELSE 'none' END,
       CASE WHEN i < ${p.hardware} THEN 2 END, CASE WHEN i < ${p.hardware} THEN '1->0' END,
       '0x' || lower(hex(i * 16)), 'planted', 'g' || i, 'call', 1000
FROM range(${p.dumps}) t(i)`, [p.machine]);
}
