/**
 * `npm run bench:startup`: wall time of short commands, started the way a
 * user starts them (`node bin/faultline.js …`), against `node -e 0` in the
 * same run: `--version`, `info` on a small ELF core from the fixtures, and
 * a one-instruction `trace` of a raw image. Issue 11's target: `info` and
 * the one-instruction trace under 0.4 s. Each command runs `--runs` times,
 * interleaved, after one warm-up round; the median is printed with its
 * ratio to `node -e 0`, and the load average before and after; and the
 * median CPU time (user + system) of each process, which other jobs on a
 * shared machine move much less than the wall time. Measures
 * dist/ when it is fresh (bin/dist-fresh.js), else says so: the sources
 * through tsx start several times slower. `--against DIR` times another
 * checkout's bin/faultline.js too, interleaved with this one's (before and
 * after a change, at the same load).
 *
 * @example
 * ```sh
 * npm run bench:startup                 # 10 runs each
 * npm run bench:startup -- --runs 20 --against ../main
 * ```
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distIsFresh } from '../bin/dist-fresh.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'faultline.js');
const CORE = join(ROOT, 'test', 'fixtures', 'dumps', 'faultline', 'qemu-aarch64', 'crash-aarch64.core');
const TARGET_SECONDS = 0.4;

function parseArgs(argv: string[]): { runs: number; against?: string } {
  const options: { runs: number; against?: string } = { runs: 10 };
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1];
    if (argv[i] === '--runs' && Number.isInteger(Number(value)) && Number(value) > 0) options.runs = Number(value);
    else if (argv[i] === '--against' && value) options.against = resolve(value);
    else throw new Error(`Unknown or bad option '${argv[i]}' (known: --runs N, --against DIR)`);
  }
  return options;
}

const { runs, against } = parseArgs(process.argv.slice(2));
const dir = mkdtempSync(join(tmpdir(), 'faultline-startup-'));
try {
  const image = join(dir, 'one.bin');
  writeFileSync(image, Uint8Array.of(0x48, 0xff, 0xc0, 0xcc)); // inc rax; int3
  const forBin = (bin: string, tag: string) => [
    { label: `faultline --version${tag}`, args: [bin, '--version'] },
    { label: `faultline info crash-aarch64.core${tag}`, args: [bin, 'info', CORE], target: true },
    { label: `faultline trace --count 1 (raw image)${tag}`, args: [bin, 'trace', '--arch', 'x64', '--image', `${image}@0x401000`, '--from', '0x401000', '--count', '1'], target: true },
  ];
  const commands: Array<{ label: string; args: string[]; target?: boolean }> = [
    { label: 'node -e 0', args: ['-e', '0'] },
    ...forBin(BIN, ''),
    ...(against ? forBin(join(against, 'bin', 'faultline.js'), ` [${against}]`) : []),
  ];
  const times = commands.map(() => [] as number[]);
  const cpuTimes = commands.map(() => [] as number[]);
  // Preloaded into each process: its CPU time since it started, written to descriptor 3 as it exits.
  const cpuReport = join(dir, 'cpu-report.cjs');
  writeFileSync(cpuReport, "process.on('exit', () => require('node:fs').writeSync(3, JSON.stringify(process.cpuUsage())));\n");
  const fresh = distIsFresh() && (!against || distIsFresh(`${against}/`));
  const before = loadavg()[0]!;
  for (let round = -1; round < runs; round++) {
    commands.forEach((command, i) => {
      const started = process.hrtime.bigint();
      const child = spawnSync(process.execPath, ['--require', cpuReport, ...command.args], {
        encoding: 'utf8', env: { ...process.env, FAULTLINE_FROM_SOURCE: '' }, stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (child.status !== 0) throw new Error(`${command.label} exited with ${child.status}: ${child.stderr.trim().split('\n')[0]}`);
      const cpu = JSON.parse(String(child.output[3])) as { user: number; system: number };
      if (round >= 0) {
        times[i]!.push(seconds);
        cpuTimes[i]!.push((cpu.user + cpu.system) / 1e6);
      }
    });
  }
  const after = loadavg()[0]!;
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const base = median(times[0]!);
  const cpuBase = median(cpuTimes[0]!);
  process.stdout.write(`start-up, median of ${runs} runs each (interleaved), ${fresh ? 'dist/ (fresh)' : 'SOURCES THROUGH TSX (dist/ is stale: npm run build)'}; load average ${before.toFixed(2)} before, ${after.toFixed(2)} after\n`);
  commands.forEach((command, i) => {
    const m = median(times[i]!);
    const cpu = median(cpuTimes[i]!);
    const verdict = command.target ? `  target < ${TARGET_SECONDS} s: ${m < TARGET_SECONDS ? 'met' : 'MISSED'}` : '';
    process.stdout.write(`${command.label.padEnd(command.label.length > 40 ? 60 : 40)} ${m.toFixed(3)} s  ${(m / base).toFixed(2)}× node -e 0; CPU ${cpu.toFixed(3)} s  ${(cpu / cpuBase).toFixed(2)}×${verdict}\n`);
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
