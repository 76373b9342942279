/**
 * `npm run bench:replay`: the window replays of issue 11's target (≥ 400 k
 * replays/s) alone, on both workloads of `npm run bench`: a snapshot half
 * way through the workload, then a loop of 100-instruction runs, each
 * followed by a restore (bench/modes.ts, measureWindowReplay). Prints, per
 * workload and round, replays per second of wall time and of the process's
 * CPU time (user + system; on a machine other jobs share, the wall figure
 * moves with their load and the CPU one much less), and the load average.
 * Each round is followed by the native floor (bench/replay-floor.c): the
 * same replays with no JavaScript, in CPU time, and the bench's share of it
 * (`--no-floor` leaves it out).
 *
 * @example
 * ```sh
 * npm run bench:replay                      # 3 rounds of 1.5 s per workload
 * npm run bench:replay -- --rounds 5 --seconds 1
 * npm run bench:replay -- --no-floor
 * ```
 */
import { loadavg } from 'node:os';
import { buildWorkload, TABLES_WORKLOAD_SOURCE } from './workload.ts';
import { countInstructions, measureWindowReplay } from './modes.ts';
import { ReplayFloor } from './replay-floor.ts';

const WINDOW = 100;

function parseArgs(argv: string[]): { rounds: number; seconds: number; floor: boolean } {
  const options = { rounds: 3, seconds: 1.5, floor: true };
  for (let i = 0; i < argv.length; i++) {
    const value = Number(argv[i + 1]);
    if (argv[i] === '--no-floor') {
      options.floor = false;
      continue;
    }
    if (argv[i] === '--rounds' && Number.isInteger(value) && value > 0) options.rounds = value;
    else if (argv[i] === '--seconds' && value > 0) options.seconds = value;
    else throw new Error(`Unknown or bad option '${argv[i]}' (known: --rounds N, --seconds S, --no-floor)`);
    i++;
  }
  return options;
}

const options = parseArgs(process.argv.slice(2));
const load = () => loadavg()[0]!.toFixed(2);
process.stdout.write(`window replays of ${WINDOW} instructions, ${options.rounds} rounds of ${options.seconds} s; load average ${load()} at the start\n`);
const floor = options.floor ? ReplayFloor.build() : undefined;
try {
  for (const [name, source] of [['sort', undefined], ['tables', TABLES_WORKLOAD_SOURCE]] as const) {
    const workload = buildWorkload(source);
    const { instructions } = countInstructions(workload);
    const at = { snapshotAt: Math.floor(instructions / 2), window: WINDOW, seconds: options.seconds };
    const wall: number[] = [];
    const cpu: number[] = [];
    const native: number[] = [];
    for (let round = 0; round < options.rounds; round++) {
      const m = measureWindowReplay(workload, at);
      wall.push(m.replays / m.seconds);
      cpu.push(m.replays / m.cpuSeconds);
      const f = floor?.measure(workload, at);
      if (f) native.push(f.replays / f.cpuSeconds);
    }
    const k = (values: number[]) => values.map((v) => `${Math.round(v / 1e3)} k`).join(', ');
    const best = (values: number[]) => Math.max(...values);
    process.stdout.write(`${name}: wall ${k(wall)} (best ${Math.round(best(wall) / 1e3)} k/s); CPU time ${k(cpu)} (best ${Math.round(best(cpu) / 1e3)} k/s); load average ${load()}\n`);
    if (native.length > 0) {
      const shares = cpu.map((v, i) => `${Math.round((100 * v) / native[i]!)} %`).join(', ');
      process.stdout.write(`${name}: native floor, no JavaScript, CPU time ${k(native)} (best ${Math.round(best(native) / 1e3)} k/s); the bench runs at ${shares} of it, round by round\n`);
    }
  }
} finally {
  floor?.dispose();
}
