/**
 * Runs the lab: builds the programs, makes cases from the seed until enough
 * crashed as intended, writes the sampled ones again as minidumps and
 * transcripts, explains every file, and judges each verdict against its
 * label. Case `i` of a seed is always the same case, and the cases kept are
 * the first `cases` verified ones by index, so a seed names a corpus even
 * when jobs finish out of order.
 *
 * @example
 * ```ts
 * const { report } = await runLab({ out: '/tmp/lab', cases: 40, seed: 7, arches: ['x64', 'x86', 'arm64'], jobs: 2 });
 * report.falseHardware; // 0, one hopes
 * ```
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { buildProgram, VARIANTS, variantName, type LabProgram } from './build.ts';
import { crashCase, type CrashRecord } from './crash.ts';
import { judge, locationOf, type Evaluation, type Label, type LabFormat } from './judge.ts';
import { planCase, type CasePlan } from './plan.ts';
import { pool } from './proc.ts';
import { summarise, type LabReport } from './report.ts';
import type { LabArch, Toolchain } from './toolchain.ts';

export interface LabOptions {
  out: string;
  /** Verified cases wanted. */
  cases: number;
  seed: number;
  arches: LabArch[];
  toolchains: Record<string, Toolchain>;
  jobs?: number;
  /** explain's --search-seconds for each verdict. */
  searchSeconds?: number;
  /** explain's --search-replays for each verdict. */
  searchReplays?: number;
  /** Instructions the injector waits for the signal after the fault. */
  maxSteps?: number;
  /** Give up after this many attempts per wanted case. */
  attemptsPerCase?: number;
  /** Keep the directories of cases that did not count. */
  keepDiscarded?: boolean;
  log?: (line: string) => void;
}

export interface LabResult {
  report: LabReport;
  labels: Label[];
  evaluations: Evaluation[];
}

interface CaseResult {
  index: number;
  label?: Label;
  evaluations?: Evaluation[];
  discarded?: string;
}

const FAULTLINE = ['node', new URL('../bin/faultline.js', import.meta.url).pathname];

function hex(v: bigint | undefined): string | undefined {
  return v === undefined ? undefined : `0x${v.toString(16)}`;
}

/** The label of a verified case: everything from the plan and the injection, nothing from faultline. */
export function labelOf(plan: CasePlan, crash: CrashRecord, binary: string, out: string): Label {
  const injection = crash.injection;
  const label: Label = {
    id: plan.id, index: plan.index, arch: plan.arch, file: relative(out, crash.core), binary: relative(out, binary), variant: variantName(plan.variant),
    class: plan.truth, shape: plan.shape, model: plan.model, bug: plan.bug, signal: crash.signal, pc: hex(crash.pc)!, steps: crash.steps, formats: {},
  };
  if (injection) {
    label.location = locationOf(plan.model);
    label.site = `${injection.site.address} ${injection.site.text}`;
    label.bit = plan.model === 'skip' ? undefined : injection.bit;
    label.expected = injection.expected;
    label.observed = injection.observed;
    label.address = plan.model === 'branch-target' ? injection.site.address : plan.model === 'loaded-value' ? injection.site.address : injection.address;
  }
  return label;
}

interface Writers {
  writeMinidump: (input: WriterInput, out: string, options: { memory: 'full' | 'small' }) => unknown;
  writeTranscript: (input: WriterInput, out: string, options: { style: 'user' | 'kernel' }) => unknown;
}
interface WriterInput {
  arch: LabArch;
  core: string;
  binaries: string[];
  sysroot?: string;
  signal: number;
  siCode?: number;
  siAddr?: bigint;
}

async function loadWriters(log: (line: string) => void): Promise<Writers | undefined> {
  const path = new URL('./writers/index.ts', import.meta.url);
  if (!existsSync(path)) return undefined;
  try {
    return (await import(path.href)) as Writers;
  } catch (error) {
    log(`the minidump and transcript writers cannot be loaded, only ELF cores are judged: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

/**
 * The address a data-address fault made the CPU access, when the crash is on
 * that very access and the run could not read si_addr (qemu's gdbstub gives
 * no siginfo). The writers would otherwise take the address from the
 * registers, which point where the access should have gone: Windows records
 * the address the CPU faulted on.
 */
function flippedAccess(plan: CasePlan, crash: CrashRecord): bigint | undefined {
  const observed = crash.injection?.observed;
  if (plan.model !== 'data-address' || crash.steps !== 1 || observed === undefined) return undefined;
  return BigInt(observed);
}

/** Writes the other formats a case was sampled for; a writer that fails skips that format (noted). */
async function writeFormats(writers: Writers | undefined, plan: CasePlan, crash: CrashRecord, binary: string, tc: Toolchain, dir: string, notes: string[]): Promise<Array<{ format: LabFormat; file: string; options: string }>> {
  const files: Array<{ format: LabFormat; file: string; options: string }> = [];
  if (!writers) return files;
  const input: WriterInput = { arch: plan.arch, core: crash.core, binaries: [binary], sysroot: tc.sysroot ?? '/', signal: crash.signo, siCode: crash.siCode, siAddr: crash.siAddr ?? flippedAccess(plan, crash) };
  const attempt = async (format: LabFormat, file: string, options: string, write: () => unknown) => {
    try {
      await write();
      // Written whole or not at all: the writer's output is renamed into place.
      renameSync(`${file}.partial`, file);
      files.push({ format, file, options });
    } catch (error) {
      notes.push(`${format} writer: ${error instanceof Error ? error.message : String(error)}`);
      rmSync(`${file}.partial`, { force: true });
    }
  };
  if (plan.formats.minidump) {
    const file = join(dir, 'crash.dmp');
    await attempt('minidump', file, plan.formats.minidump, () => writers.writeMinidump(input, `${file}.partial`, { memory: plan.formats.minidump! }));
  }
  if (plan.formats.transcript) {
    const file = join(dir, 'crash.txt');
    await attempt('transcript', file, plan.formats.transcript, () => writers.writeTranscript(input, `${file}.partial`, { style: plan.formats.transcript! }));
  }
  return files;
}

export async function runLab(options: LabOptions): Promise<LabResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const jobs = options.jobs ?? availableParallelism();
  const out = options.out;
  mkdirSync(join(out, 'cases'), { recursive: true });

  // Every build first: a toolchain that cannot build is the machine's problem, said once.
  const builds = new Map<string, string>();
  const wanted = options.arches.flatMap((arch) => (['shapes', 'bugs'] as LabProgram[]).flatMap((program) => VARIANTS.map((variant) => ({ arch, program, variant }))));
  await pool(jobs, wanted.length, async (i) => {
    const { arch, program, variant } = wanted[i]!;
    builds.set(`${arch}/${program}/${variantName(variant)}`, await buildProgram(options.toolchains[arch]!, program, variant, join(out, 'bin')));
  });
  log(`built ${builds.size} programs`);

  const writers = await loadWriters(log);
  const results: CaseResult[] = [];
  let verified = 0;
  const maxAttempts = options.cases * (options.attemptsPerCase ?? 8);
  const runOne = async (index: number): Promise<CaseResult> => {
    const plan = planCase(options.seed, index, options.arches);
    const tc = options.toolchains[plan.arch]!;
    const binary = builds.get(`${plan.arch}/${plan.program}/${variantName(plan.variant)}`)!;
    const dir = join(out, 'cases', plan.id);
    const outcome = await crashCase(tc, plan, binary, dir, { maxSteps: options.maxSteps ?? 48, timeoutMs: 120_000 });
    if (!outcome.ok) {
      if (!options.keepDiscarded) rmSync(dir, { recursive: true, force: true });
      else writeFileSync(join(dir, 'discarded.txt'), `${outcome.reason}\n`);
      return { index, discarded: `${plan.model ?? plan.bug}: ${outcome.reason}` };
    }
    verified++;
    const crash = outcome.crash;
    const label = labelOf(plan, crash, binary, out);
    const notes: string[] = [];
    const extra = await writeFormats(writers, plan, crash, binary, tc, dir, notes);
    const targets: Array<{ format: LabFormat; file: string; args: string[] }> = [
      { format: 'elf-core', file: crash.core, args: ['--binary', binary, '--sysroot', tc.sysroot ?? '/'] },
      ...extra.map((f) => ({ format: f.format, file: f.file, args: ['--binary', binary] })),
    ];
    for (const f of extra) label.formats[f.format] = { file: relative(out, f.file), options: f.options };
    const search = [
      ...(options.searchSeconds !== undefined ? ['--search-seconds', String(options.searchSeconds)] : []),
      ...(options.searchReplays !== undefined ? ['--search-replays', String(options.searchReplays)] : []),
    ];
    const evaluations: Evaluation[] = [];
    for (const target of targets) {
      evaluations.push(await judge(label, { ...target, args: [...target.args, ...search] }, { timeoutMs: 180_000, faultline: FAULTLINE }));
    }
    writeFileSync(join(dir, 'label.json'), `${JSON.stringify({ label, evaluations, notes }, null, 2)}\n`);
    const rights = evaluations.map((e) => `${e.format}:${e.got}${e.right ? '' : '✗'}`).join(' ');
    log(`${plan.id}  ${label.class} → ${rights}${notes.length ? `  (${notes.join('; ')})` : ''}`);
    return { index, label, evaluations };
  };
  await pool(jobs, maxAttempts, async (index) => {
    const r = await runOne(index);
    results[index] = r;
    return r;
  }, () => verified >= options.cases);

  const done = results.filter((r): r is CaseResult => r !== undefined).sort((a, b) => a.index - b.index);
  const kept = done.filter((r) => r.label).slice(0, options.cases);
  const lastKept = kept.length ? kept[kept.length - 1]!.index : -1;
  const attempted = done.filter((r) => r.index <= lastKept || kept.length < options.cases);
  const labels = kept.map((r) => r.label!);
  const evaluations = kept.flatMap((r) => r.evaluations!);
  const report = summarise(evaluations, labels, {
    seed: options.seed,
    arches: options.arches,
    attempts: attempted.length,
    discarded: attempted.filter((r) => r.discarded).map((r) => r.discarded!),
    totalMs: Math.round(performance.now() - started),
  });
  writeJson(join(out, 'labels.json'), labels);
  writeJson(join(out, 'report.json'), report);
  return { report, labels, evaluations };
}

/**
 * Explains a corpus made earlier again with the code as it is now, for
 * seeing what a change to `explain` moved. The labels are the earlier run's
 * (nothing is crashed again); judge a change on fresh seeds, not on a
 * corpus it was looked at against. Writes DIR/rejudged.json.
 */
export async function rejudgeLab(options: Pick<LabOptions, 'out' | 'toolchains' | 'jobs' | 'searchSeconds' | 'searchReplays' | 'log'> & { only?: RegExp }): Promise<LabResult> {
  const started = performance.now();
  const out = options.out;
  const labelsPath = join(out, 'labels.json');
  if (!existsSync(labelsPath)) throw new Error(`${labelsPath} does not exist: --rejudge needs a directory an earlier lab run wrote`);
  const labels = (JSON.parse(readFileSync(labelsPath, 'utf8')) as Label[]).filter((l) => !options.only || options.only.test(l.id));
  const search = [
    ...(options.searchSeconds !== undefined ? ['--search-seconds', String(options.searchSeconds)] : []),
    ...(options.searchReplays !== undefined ? ['--search-replays', String(options.searchReplays)] : []),
  ];
  const perCase: Evaluation[][] = [];
  await pool(options.jobs ?? availableParallelism(), labels.length, async (i) => {
    const label = labels[i]!;
    const tc = options.toolchains[label.arch];
    if (!tc) throw new Error(`${label.id}: no toolchain for ${label.arch} (pass --arch with it)`);
    const binary = join(out, label.binary);
    const targets: Array<{ format: LabFormat; file: string; args: string[] }> = [
      { format: 'elf-core', file: join(out, label.file), args: ['--binary', binary, '--sysroot', tc.sysroot ?? '/'] },
      ...Object.entries(label.formats).map(([format, f]) => ({ format: format as LabFormat, file: join(out, f.file), args: ['--binary', binary] })),
    ];
    const evaluations: Evaluation[] = [];
    for (const target of targets) {
      evaluations.push(await judge(label, { ...target, args: [...target.args, ...search] }, { timeoutMs: 180_000, faultline: FAULTLINE }));
    }
    perCase[i] = evaluations;
    options.log?.(`${label.id}  ${label.class} → ${evaluations.map((e) => `${e.format}:${e.got}${e.right ? '' : '✗'}`).join(' ')}`);
  });
  const evaluations = perCase.flat();
  const report = summarise(evaluations, labels, {
    seed: 0, arches: [...new Set(labels.map((l) => l.arch))], attempts: labels.length, discarded: [], totalMs: Math.round(performance.now() - started),
  });
  writeJson(join(out, 'rejudged.json'), { report, evaluations });
  return { report, labels, evaluations };
}

/** Writes JSON whole or not at all. */
function writeJson(path: string, value: unknown): void {
  writeFileSync(`${path}.partial`, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(`${path}.partial`, path);
}
