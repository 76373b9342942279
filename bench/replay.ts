/**
 * `npm run bench:replay`: the window replays of issue 11's target (≥ 400 k
 * replays/s) alone, on both workloads of `npm run bench`: a snapshot half
 * way through the workload, then a loop of 100-instruction runs, each
 * followed by a restore (bench/modes.ts, measureWindowReplay). Prints, per
 * workload and round, replays per second of wall time and of the process's
 * CPU time (user + system; on a machine other jobs share, the wall figure
 * moves with their load and the CPU one much less), and the load average.
 *
 * @example
 * ```sh
 * npm run bench:replay                      # 3 rounds of 1.5 s per workload
 * npm run bench:replay -- --rounds 5 --seconds 1
 * ```
 */
import { loadavg } from 'node:os';
import { buildWorkload, TABLES_WORKLOAD_SOURCE } from './workload.ts';
import { countInstructions, measureWindowReplay } from './modes.ts';

const WINDOW = 100;

function parseArgs(argv: string[]): { rounds: number; seconds: number } {
  const options = { rounds: 3, seconds: 1.5 };
  for (let i = 0; i < argv.length; i++) {
    const value = Number(argv[i + 1]);
    if (argv[i] === '--rounds' && Number.isInteger(value) && value > 0) options.rounds = value;
    else if (argv[i] === '--seconds' && value > 0) options.seconds = value;
    else throw new Error(`Unknown or bad option '${argv[i]}' (known: --rounds N, --seconds S)`);
    i++;
  }
  return options;
}

const options = parseArgs(process.argv.slice(2));
const load = () => loadavg()[0]!.toFixed(2);
process.stdout.write(`window replays of ${WINDOW} instructions, ${options.rounds} rounds of ${options.seconds} s; load average ${load()} at the start\n`);
for (const [name, source] of [['sort', undefined], ['tables', TABLES_WORKLOAD_SOURCE]] as const) {
  const workload = buildWorkload(source);
  const { instructions } = countInstructions(workload);
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const m = measureWindowReplay(workload, { snapshotAt: Math.floor(instructions / 2), window: WINDOW, seconds: options.seconds });
    wall.push(m.replays / m.seconds);
    cpu.push(m.replays / m.cpuSeconds);
  }
  const k = (values: number[]) => values.map((v) => `${Math.round(v / 1e3)} k`).join(', ');
  process.stdout.write(`${name}: wall ${k(wall)} (best ${Math.round(Math.max(...wall) / 1e3)} k/s); CPU time ${k(cpu)} (best ${Math.round(Math.max(...cpu) / 1e3)} k/s); load average ${load()}\n`);
}
