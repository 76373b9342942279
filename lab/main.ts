/**
 * `npm run lab -- --out DIR [--cases N] [--seed S] [--arch x64,x86,arm64]`:
 * makes labelled real crashes, explains each, and prints how often the
 * verdict was right (the confusion matrix and its breakdowns). Writes
 * DIR/labels.json, DIR/report.json and one directory per case.
 *
 * Bad input (an unknown architecture, a missing toolchain, a bad number)
 * gets one line and exit code 2.
 *
 * @example
 * ```sh
 * npm run lab -- --out /tmp/lab --cases 300 --seed 7
 * ```
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { formatReport } from './report.ts';
import { rejudgeLab, runLab } from './run.ts';
import { LAB_ARCHES, toolchainFor, type LabArch, type Toolchain } from './toolchain.ts';

class UsageError extends Error {}

function positiveInt(what: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError(`${what} must be a positive integer, not '${value.slice(0, 40)}'`);
    return Number(value);
  };
}

function arches(value: string): LabArch[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of names) {
    if (!(LAB_ARCHES as readonly string[]).includes(name)) throw new InvalidArgumentError(`unknown architecture '${name.slice(0, 40)}' (use ${LAB_ARCHES.join(', ')})`);
  }
  if (names.length === 0) throw new InvalidArgumentError('no architecture given');
  return [...new Set(names)] as LabArch[];
}

function pattern(source: string): RegExp {
  try {
    return new RegExp(source);
  } catch {
    throw new UsageError(`--only: not a regular expression: '${source.slice(0, 40)}'`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('lab')
    .description('make labelled real crashes, explain each, and print the confusion matrix')
    .requiredOption('--out <dir>', 'directory for the cases, labels.json and report.json')
    .option('--cases <n>', 'verified cases to make', positiveInt('--cases'), 300)
    .option('--seed <s>', 'seed of the corpus (the same seed makes the same cases)', positiveInt('--seed'), 1)
    .option('--arch <list>', 'architectures, comma-separated', arches, [...LAB_ARCHES])
    .option('--jobs <n>', 'cases run at once', positiveInt('--jobs'), availableParallelism())
    .option('--search-replays <n>', "explain's fault replays per verdict (the same verdicts however busy the machine)", positiveInt('--search-replays'), 1500)
    .option('--search-seconds <s>', "explain's time limit per verdict, a safety net behind --search-replays", positiveInt('--search-seconds'), 60)
    .option('--max-steps <n>', 'instructions the injector waits for the crash after the fault', positiveInt('--max-steps'), 48)
    .option('--keep-discarded', 'keep the directories of cases that did not crash as intended')
    .option('--json', 'print report.json instead of the tables')
    .option('--rejudge', 'explain the cases already in --out again with the current code (no new crashes); writes rejudged.json')
    .option('--only <regexp>', 'with --rejudge: only the cases whose id matches')
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  let opts: { out: string; cases: number; seed: number; arch: LabArch[]; jobs: number; searchSeconds: number; searchReplays: number; maxSteps: number; keepDiscarded?: boolean; json?: boolean; rejudge?: boolean; only?: string };
  try {
    program.parse(argv, { from: 'user' });
    opts = program.opts();
  } catch (error) {
    if (error instanceof CommanderError && (error.code === 'commander.helpDisplayed' || error.code === 'commander.version')) return 0;
    const message = error instanceof Error ? error.message.replace(/^error: /, '') : String(error);
    process.stderr.write(`lab: ${message}\n`);
    return 2;
  }
  try {
    const toolchains: Record<string, Toolchain> = {};
    for (const arch of opts.arch) {
      const tc = toolchainFor(arch);
      if ('missing' in tc) throw new UsageError(`${arch} needs ${tc.missing.join(', ')} (Debian packages; as root, npm test installs them)`);
      toolchains[arch] = tc;
    }
    const log = opts.json ? undefined : (line: string) => process.stderr.write(`${line}\n`);
    if (opts.only !== undefined && !opts.rejudge) throw new UsageError('--only goes with --rejudge');
    const { report } = opts.rejudge ? await rejudgeLab({
      out: resolve(opts.out), toolchains, jobs: opts.jobs, searchSeconds: opts.searchSeconds, searchReplays: opts.searchReplays, log,
      only: opts.only === undefined ? undefined : pattern(opts.only),
    }) : await runLab({
      out: resolve(opts.out), cases: opts.cases, seed: opts.seed, arches: opts.arch, toolchains, jobs: opts.jobs,
      searchSeconds: opts.searchSeconds, searchReplays: opts.searchReplays, maxSteps: opts.maxSteps, keepDiscarded: opts.keepDiscarded,
      log,
    });
    process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`lab: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
