/**
 * The native floor of `npm run bench:replay` (bench/replay-floor.c): the
 * same window replays with no JavaScript, built with the system compiler
 * against the Unicorn faultline loads, so that one bench run shows how much
 * of a replay is Unicorn's and the native hooks' and how much is ours.
 *
 * @example
 * ```ts
 * const floor = ReplayFloor.build();
 * const m = floor?.measure(workload, { snapshotAt: 10_000_000, window: 100, seconds: 1 });
 * m && m.replays / m.cpuSeconds; // replays per CPU second with no JavaScript
 * floor?.dispose();
 * ```
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { locateUnicorn } from '../emu/library.ts';
import type { Workload } from './workload.ts';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'replay-floor.c');

export interface FloorMeasurement {
  replays: number;
  cpuSeconds: number;
}

export class ReplayFloor {
  private constructor(
    private readonly dir: string,
    private readonly program: string,
  ) {}

  /** Builds the floor program; undefined (with the reason on stderr) without a compiler or Unicorn, or when the build fails. */
  static build(): ReplayFloor | undefined {
    const unicorn = locateUnicorn();
    const compiler = ['cc', 'gcc', 'clang'].find((cc) => spawnSync(cc, ['--version'], { stdio: 'ignore' }).status === 0);
    if (!unicorn || !compiler) {
      process.stderr.write(`no native floor: ${unicorn ? 'no C compiler' : 'Unicorn not found'}\n`);
      return undefined;
    }
    const dir = mkdtempSync(join(tmpdir(), 'faultline-floor-'));
    const program = join(dir, 'replay-floor');
    const lib = dirname(unicorn.path);
    try {
      execFileSync(compiler, ['-O2', '-pthread', '-o', program, SOURCE, `-L${lib}`, `-l:${unicorn.path.split('/').pop()}`, `-Wl,-rpath,${lib}`], { stdio: 'pipe' });
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      process.stderr.write(`no native floor: ${String((error as { stderr?: Buffer }).stderr ?? error).split('\n')[0]}\n`);
      return undefined;
    }
    return new ReplayFloor(dir, program);
  }

  /** Replays `window` instructions from the snapshot `snapshotAt` instructions in, for `seconds` of CPU time. */
  measure(workload: Workload, options: { snapshotAt: number; window: number; seconds: number }): FloorMeasurement {
    const image = join(this.dir, `image-${workload.entry.toString(16)}-${workload.image.length}.bin`);
    writeFileSync(image, workload.image);
    const args = [image, `0x${workload.base.toString(16)}`, `0x${workload.entry.toString(16)}`, String(options.snapshotAt), String(options.window), String(options.seconds)];
    const line = execFileSync(this.program, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const { replays, cpuSeconds } = JSON.parse(line) as FloorMeasurement;
    return { replays, cpuSeconds };
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
