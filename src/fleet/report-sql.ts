/**
 * The SQL behind `faultline fleet report`, one query per section, over the
 * `dumps` table (docs/fleet.md). `faultline fleet report --sql` prints them,
 * so a user can rerun and change them in the `duckdb` shell or `psql`: the
 * same text runs on DuckDB and PostgreSQL (divisions of counts cast to
 * FLOAT8, since PostgreSQL divides integers as integers; the tail bound's
 * exp() of less than -740, 0 in a double, is written as 0, since
 * PostgreSQL's exp() raises an underflow error there).
 *
 * How a machine is ranked: machines with hardware verdicts at two or more
 * different places in the code come first (one faulty part hit by
 * unrelated code is the strongest sign; the same bug crashing twice at one
 * place is not), then by `chance`: the number of machines in a fleet this
 * size expected to show at least this many hardware verdicts out of this
 * many dumps if the machine were like the others. Each machine's
 * probability is the Chernoff bound exp(−n·KL(k/n ‖ p)) of the binomial
 * tail, p the hardware-verdict rate of the *other* machines (plus one half,
 * so that none elsewhere is not a rate of zero); times the number of
 * machines, since among many machines some are unlucky. `confidence` is
 * 1 − chance, at least 0: one hardware verdict out of one dump is weak, four
 * out of twenty is not.
 *
 * @example
 * ```ts
 * const rows = (await connection.runAndReadAll(REPORT_SQL.machines.replace('$top', '20'))).getRowObjectsJS();
 * ```
 */

/** `$top` is replaced by the number of rows a section shows. */
export const REPORT_SQL = {
  fleet: `
SELECT count(*) AS dumps,
       count(*) FILTER (WHERE status = 'explained') AS explained,
       count(*) FILTER (WHERE status = 'error') AS errors,
       count(*) FILTER (WHERE hardware) AS hardware,
       count(DISTINCT coalesce(machine, '(none)')) AS machines,
       count(DISTINCT coalesce(machine, '(none)')) FILTER (WHERE hardware) AS machines_with_hardware
FROM dumps`,

  verdicts: `
SELECT verdict, count(*) AS dumps
FROM dumps WHERE status = 'explained'
GROUP BY verdict ORDER BY dumps DESC, verdict`,

  machines: `
WITH totals AS (
  SELECT coalesce(machine, '(none)') AS machine, count(*) AS dumps,
         count(*) FILTER (WHERE verdict = 'inconclusive') AS inconclusive
  FROM dumps WHERE status = 'explained' GROUP BY 1
), hw AS (
  SELECT coalesce(machine, '(none)') AS machine,
         count(*) AS hardware,
         count(*) FILTER (WHERE verdict = 'cpu-fault') AS cpu_fault,
         count(*) FILTER (WHERE verdict = 'memory-corruption') AS memory_corruption,
         count(*) FILTER (WHERE verdict = 'code-corruption') AS code_corruption,
         count(DISTINCT coalesce(module || '!' || "function", symbol, address)) AS hardware_sites,
         count(DISTINCT coalesce(module || '!' || "function", symbol, address)) FILTER (WHERE bit IS NOT NULL) AS single_bit_sites
  FROM dumps WHERE hardware GROUP BY 1
), fleet AS (
  SELECT (SELECT sum(dumps) FROM totals) AS n, (SELECT sum(hardware) FROM hw) AS k, (SELECT count(*) FROM totals) AS machines
), rated AS (
  SELECT totals.machine, totals.dumps, hw.hardware, hw.cpu_fault, hw.memory_corruption, hw.code_corruption, totals.inconclusive,
         hw.hardware_sites, hw.single_bit_sites, fleet.machines,
         CAST(hw.hardware AS FLOAT8) / totals.dumps AS rate,
         CAST(fleet.k - hw.hardware + 0.5 AS FLOAT8) / (fleet.n - totals.dumps + 1) AS base_rate
  FROM hw JOIN totals USING (machine), fleet
), bound AS (
  SELECT *,
         CASE WHEN rate <= base_rate THEN 0.0
              ELSE -dumps * (rate * ln(rate / base_rate)
                   + CASE WHEN rate < 1 THEN (1 - rate) * ln((1 - rate) / (1 - base_rate)) ELSE 0 END)
         END AS log_p
  FROM rated
), tail AS (
  SELECT *, CASE WHEN log_p < -740 THEN 0.0 ELSE exp(log_p) END AS p
  FROM bound
)
SELECT machine, dumps, hardware, cpu_fault, memory_corruption, code_corruption, inconclusive,
       hardware_sites, single_bit_sites, single_bit_sites >= 2 AS recurrent,
       rate, base_rate,
       least(1.0, machines * p) AS chance,
       greatest(0.0, 1 - machines * p) AS confidence
FROM tail
ORDER BY recurrent DESC, chance ASC, hardware DESC, machine
LIMIT $top`,

  cpus: `
WITH hw AS (
  SELECT coalesce(machine, '(none)') AS machine, coalesce(cpu, '(none)') AS cpu,
         count(*) AS hardware,
         count(*) FILTER (WHERE verdict = 'cpu-fault') AS cpu_fault,
         count(*) FILTER (WHERE verdict = 'memory-corruption') AS memory_corruption,
         count(DISTINCT coalesce(module || '!' || "function", symbol, address)) AS hardware_sites
  FROM dumps WHERE hardware GROUP BY 1, 2
), totals AS (
  SELECT coalesce(machine, '(none)') AS machine, coalesce(cpu, '(none)') AS cpu, count(*) AS dumps
  FROM dumps
  WHERE status = 'explained' AND coalesce(machine, '(none)') IN (SELECT machine FROM hw)
  GROUP BY 1, 2
)
SELECT hw.machine, hw.cpu, totals.dumps, hw.hardware, hw.cpu_fault, hw.memory_corruption, hw.hardware_sites
FROM hw JOIN totals USING (machine, cpu)
ORDER BY hardware DESC, hardware_sites DESC, machine, cpu
LIMIT $top`,

  bits: `
SELECT bit, count(*) AS hardware, count(DISTINCT coalesce(machine, '(none)')) AS machines,
       count(*) FILTER (WHERE direction = '1->0') AS one_to_zero,
       count(*) FILTER (WHERE direction = '0->1') AS zero_to_one
FROM dumps WHERE hardware AND bit IS NOT NULL
GROUP BY bit ORDER BY bit`,

  instructions: `
SELECT instruction, count(*) AS hardware, count(DISTINCT coalesce(machine, '(none)')) AS machines,
       count(*) FILTER (WHERE location = 'branch-target') AS branch_target,
       count(*) FILTER (WHERE location = 'loaded-value') AS loaded_value
FROM dumps WHERE hardware AND instruction IS NOT NULL
GROUP BY instruction ORDER BY hardware DESC, instruction
LIMIT $top`,

  modules: `
SELECT module, count(*) AS hardware, count(DISTINCT coalesce(machine, '(none)')) AS machines
FROM dumps WHERE hardware AND module IS NOT NULL
GROUP BY module ORDER BY hardware DESC, module
LIMIT $top`,

  observed: `
WITH hw AS (
  SELECT observed, count(*) AS hardware, count(DISTINCT coalesce(machine, '(none)')) AS machines
  FROM dumps WHERE hardware AND observed IS NOT NULL GROUP BY 1
), seen AS (
  SELECT observed, count(*) AS dumps, count(*) FILTER (WHERE verdict = 'software') AS software
  FROM dumps WHERE status = 'explained' AND observed IN (SELECT observed FROM hw) GROUP BY 1
)
SELECT observed, seen.dumps, hw.hardware, hw.machines, seen.software
FROM hw JOIN seen USING (observed)
WHERE seen.dumps > 1
ORDER BY hardware DESC, dumps DESC, observed
LIMIT $top`,
} as const;

export type ReportSection = keyof typeof REPORT_SQL;

/** The sections' SQL as one script for the duckdb shell, each under a comment naming it. */
export function reportScript(top: number): string {
  return Object.entries(REPORT_SQL).map(([name, sql]) => `-- ${name}\n${sql.trim().replace('$top', String(top))};\n`).join('\n');
}
