/**
 * `npm run bench`: two fixed x86-64 workloads (bench/workload.c, sorting,
 * and bench/workload-tables.c, pointer chasing and calls through a table;
 * about 20 M instructions each) run with no hooks, with a JavaScript block
 * hook, with full recording per instruction (native backend, then the same
 * into the trace encoder; the JavaScript backend in a child process on the
 * first), with the block recorder (counting, then into a version-2 trace
 * file, read back), and as a loop of 100-instruction window replays between
 * snapshot restores. Prints instructions per second, each figure's ratio to
 * the no-hook run of the same workload in the same run, and whether the
 * targets are met.
 *
 * @example
 * ```sh
 * npm run bench                 # the table
 * npm run bench -- --json       # the same figures as JSON
 * npm run bench -- --repeat 3   # the fastest of three runs per mode
 * ```
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildWorkload, TABLES_WORKLOAD_SOURCE, type Workload } from './workload.ts';
import { createSizeDecoder } from '../src/disasm/disassembler.ts';
import { measureExplainSearch, type SearchMeasurement } from './explain-search.ts';
import { measureKernelDump, TARGET_INFO_MS, TARGET_RSS_MB, type KernelDumpMeasurement } from './kernel-dump.ts';
import {
  countInstructions, measureBlockRecording, measureBlockTracing, measureFullTracing, measureNoHooks, measureWindowReplay,
  type Measurement, type ReplayMeasurement,
} from './modes.ts';

/** The targets. */
const TARGET_FULL_TRACING = 5_000_000;
/** Issue 11: a full trace (blocks) at 0.4× of no hooks or better, at most 6 bytes per instruction on disk. */
const TARGET_BLOCK_RATIO = 0.4;
const TARGET_BYTES_PER_INSTRUCTION = 6;
/** Issue 11 raised it from issue 3's 100 k/s. */
const TARGET_REPLAYS = 400_000;
const WINDOW = 100;
/** Issue 3: the exhaustive single-bit search over a 100-instruction window. */
const TARGET_SEARCH_MS = 2000;
/** The JavaScript backend records this prefix only: the whole workload would take minutes. */
const JS_PREFIX = 500_000;

interface Row {
  workload: string;
  mode: string;
  instructions: number;
  seconds: number;
  instructionsPerSecond: number;
  ratioToNoHooks: number;
  replaysPerSecond?: number;
  detail?: Record<string, number | string | boolean>;
}

interface Options {
  json: boolean;
  repeat: number;
  replaySeconds: number;
  jsBackendChild: boolean;
  /** Only the tracing modes: no explain search, no kernel dump. */
  modesOnly: boolean;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { json: false, repeat: 1, replaySeconds: 1.5, jsBackendChild: false, modesOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const number = (): number => {
      const value = Number(argv[++i]);
      if (!Number.isFinite(value) || value <= 0) throw new Error(`${arg} needs a positive number, got '${argv[i] ?? ''}'`);
      return value;
    };
    if (arg === '--json') options.json = true;
    else if (arg === '--repeat') options.repeat = Math.floor(number());
    else if (arg === '--replay-seconds') options.replaySeconds = number();
    else if (arg === '--js-backend-child') options.jsBackendChild = true;
    else if (arg === '--modes-only') options.modesOnly = true;
    else throw new Error(`Unknown option '${arg}' (known: --json, --repeat N, --replay-seconds S, --modes-only)`);
  }
  return options;
}

/** The fastest of `repeat` measurements. */
function best<T extends { seconds: number }>(repeat: number, measure: () => T): T {
  let fastest = measure();
  for (let i = 1; i < repeat; i++) {
    const next = measure();
    if (next.seconds < fastest.seconds) fastest = next;
  }
  return fastest;
}

function bestReplay(repeat: number, measure: () => ReplayMeasurement): ReplayMeasurement {
  let fastest = measure();
  for (let i = 1; i < repeat; i++) {
    const next = measure();
    if (next.replays / next.seconds > fastest.replays / fastest.seconds) fastest = next;
  }
  return fastest;
}

/** Full tracing through the JavaScript hooks, measured in a child without the native library. */
function measureJsBackend(): Measurement {
  const output = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--js-backend-child'], {
    encoding: 'utf8',
    env: { ...process.env, FAULTLINE_NO_NATIVE: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const parsed = JSON.parse(output) as Omit<Measurement, 'result'> & { result: string };
  return { ...parsed, result: BigInt(parsed.result) };
}

function jsBackendChild(): void {
  const measurement = measureFullTracing(buildWorkload(), { limit: JS_PREFIX });
  if (measurement.detail?.native !== false) throw new Error('The JavaScript-backend run used the native recorder');
  process.stdout.write(JSON.stringify({ ...measurement, result: `0x${measurement.result.toString(16)}` }));
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (options.jsBackendChild) return jsBackendChild();

  const decode = await createSizeDecoder('x64');
  const workloads: Array<{ name: string; workload: Workload; instructions: number }> = [];
  for (const [name, source] of [['sort', undefined], ['tables', TABLES_WORKLOAD_SOURCE]] as const) {
    const workload = buildWorkload(source);
    const { instructions, native } = countInstructions(workload);
    if (!native) throw new Error('The native recorder is not built: run `npm run postinstall` first (the bench measures the native backend)');
    workloads.push({ name, workload, instructions });
  }
  const rows: Row[] = [];
  const blockRows: Row[] = [];
  for (const [w, { name, workload, instructions }] of workloads.entries()) {
    // Round-robin repeats: each round runs every mode once and each mode keeps its fastest run, so a
    // machine whose load drifts during the bench skews no mode's ratio to the no-hook run.
    const modes: Array<[string, () => Measurement]> = [
      ['no hooks', () => measureNoHooks(workload, instructions)],
      ['block tracing (JS hook)', () => measureBlockTracing(workload, instructions)],
      ['full tracing per instruction (native)', () => measureFullTracing(workload)],
      ['full tracing per instruction + encode', () => measureFullTracing(workload, { encode: true })],
      ['full trace, blocks + checkpoints', () => measureBlockRecording(workload, decode)],
      ['full trace, blocks → .fltrace v2 file', () => measureBlockRecording(workload, decode, { file: true, readBack: true })],
    ];
    const fastest = new Map<string, Measurement>();
    for (let round = 0; round < options.repeat; round++) {
      for (const [mode, measure] of modes) {
        const m = measure();
        const seen = fastest.get(mode);
        if (!seen || m.seconds < seen.seconds) fastest.set(mode, m);
      }
    }
    const noHooks = fastest.get('no hooks')!;
    const base = instructions / noHooks.seconds;
    const row = (mode: string, m: Measurement): Row => ({
      workload: name, mode, instructions: m.instructions, seconds: m.seconds,
      instructionsPerSecond: m.instructions / m.seconds, ratioToNoHooks: m.instructions / m.seconds / base, detail: m.detail,
    });
    const replayRow = (mode: string, r: ReplayMeasurement): Row => ({
      workload: name, mode, instructions: r.replays * r.window, seconds: r.seconds,
      instructionsPerSecond: (r.replays * r.window) / r.seconds, ratioToNoHooks: (r.replays * r.window) / r.seconds / base,
      replaysPerSecond: r.replays / r.seconds, detail: { snapshotAt: r.snapshotAt, pagesPerRestore: r.pagesPerRestore },
    });
    for (const [mode] of modes) rows.push(row(mode, fastest.get(mode)!));
    blockRows.push(...rows.slice(-2));
    if (w === 0) {
      const replayOptions = { snapshotAt: Math.floor(instructions / 2), window: WINDOW, seconds: options.replaySeconds };
      rows.push(
        row(`full tracing (JS backend, first ${JS_PREFIX / 1e3} k)`, best(options.repeat, measureJsBackend)),
        replayRow(`window replay (${WINDOW} instr)`, bestReplay(options.repeat, () => measureWindowReplay(workload, replayOptions))),
        replayRow(`window replay + recording`, bestReplay(options.repeat, () => measureWindowReplay(workload, { ...replayOptions, record: true }))),
      );
    }
  }
  const fullTracing = rows.find((r) => r.mode === 'full tracing per instruction (native)')!.instructionsPerSecond;
  const replays = rows.find((r) => r.mode.startsWith('window replay ('))!.replaysPerSecond!;
  const worstBlockRatio = Math.min(...blockRows.map((r) => r.ratioToNoHooks));
  const worstBytes = Math.max(...blockRows.map((r) => Number(r.detail?.bytesPerInstruction ?? 0)));
  const search = options.modesOnly ? undefined : await measureExplainSearch();
  const kernelDump = options.modesOnly ? undefined : measureKernelDump();
  const targets: Record<string, { target: number; measured: number; met: boolean }> = {
    fullTracing: { target: TARGET_FULL_TRACING, measured: fullTracing, met: fullTracing >= TARGET_FULL_TRACING },
    blockTraceRatio: { target: TARGET_BLOCK_RATIO, measured: worstBlockRatio, met: worstBlockRatio >= TARGET_BLOCK_RATIO },
    blockTraceBytesPerInstruction: { target: TARGET_BYTES_PER_INSTRUCTION, measured: worstBytes, met: worstBytes <= TARGET_BYTES_PER_INSTRUCTION },
    windowReplays: { target: TARGET_REPLAYS, measured: replays, met: replays >= TARGET_REPLAYS },
    ...(search && { explainSearchMs: { target: TARGET_SEARCH_MS, measured: search.searchMs, met: search.searchMs < TARGET_SEARCH_MS } }),
    ...(kernelDump && {
      kernelDumpInfoMs: { target: TARGET_INFO_MS, measured: kernelDump.totalMs, met: kernelDump.totalMs < TARGET_INFO_MS },
      kernelDumpRssMb: { target: TARGET_RSS_MB, measured: kernelDump.maxRssMb, met: kernelDump.maxRssMb < TARGET_RSS_MB },
    }),
  };
  const summary = {
    workloads: workloads.map(({ name, workload, instructions }) => ({
      name, arch: 'x64', instructions, imageBytes: workload.image.length,
      result: `0x${workload.expected.toString(16)}`, resultCheckedAgainstHost: true,
    })),
    modes: rows,
    ...(search && { explainSearch: search }),
    ...(kernelDump && { kernelDump }),
    targets,
  };
  if (options.json) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  process.stdout.write(formatReport(summary));
}

function formatReport(summary: { workloads: Array<{ name: string; instructions: number; imageBytes: number; result: string }>; modes: Row[]; explainSearch?: SearchMeasurement; kernelDump?: KernelDumpMeasurement; targets: Record<string, { target: number; measured: number; met: boolean }> }): string {
  const { workloads, modes, targets } = summary;
  const lines = [
    ...workloads.map((w) => `workload ${w.name}: x64, ${w.imageBytes} bytes, ${w.instructions} instructions, result ${w.result} in every mode (= host build)`),
    '',
  ];
  const header = ['workload', 'mode', 'instructions', 'seconds', 'M instr/s', 'vs no hooks', 'replays/s', 'B/instr', 'read back/s'];
  const table = modes.map((r) => [
    r.workload, r.mode, String(r.instructions), r.seconds.toFixed(3), (r.instructionsPerSecond / 1e6).toFixed(2),
    `${r.ratioToNoHooks.toFixed(3)}×`, r.replaysPerSecond === undefined ? '' : Math.round(r.replaysPerSecond).toString(),
    r.detail?.bytesPerInstruction === undefined ? '' : String(r.detail.bytesPerInstruction),
    r.detail?.readBackPerSecond === undefined ? '' : `${(Number(r.detail.readBackPerSecond) / 1e6).toFixed(2)} M`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((cells) => cells[i]!.length)));
  const format = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  lines.push(format(header), ...table.map(format), '');
  const verdict = (met: boolean) => (met ? 'met' : 'MISSED');
  lines.push(
    `target full tracing >= ${targets.fullTracing!.target / 1e6} M instr/s: ${(targets.fullTracing!.measured / 1e6).toFixed(2)} M, ${verdict(targets.fullTracing!.met)}`,
    `target full trace (blocks) >= ${TARGET_BLOCK_RATIO}× no hooks on every workload: worst ${targets.blockTraceRatio!.measured.toFixed(3)}×, ${verdict(targets.blockTraceRatio!.met)}; <= ${TARGET_BYTES_PER_INSTRUCTION} B/instr on disk: worst ${targets.blockTraceBytesPerInstruction!.measured}, ${verdict(targets.blockTraceBytesPerInstruction!.met)}`,
    `target window replays >= ${targets.windowReplays!.target / 1e3} k/s: ${(targets.windowReplays!.measured / 1e3).toFixed(0)} k, ${verdict(targets.windowReplays!.met)}`,
  );
  if (summary.explainSearch) lines.push(
    `explain search over a ${summary.explainSearch.instructions}-instruction window: ${summary.explainSearch.candidates} single-bit faults in ${summary.explainSearch.searchMs} ms (verdict ${summary.explainSearch.verdict}, bit ${summary.explainSearch.bit}); target < ${targets.explainSearchMs!.target} ms: ${verdict(targets.explainSearchMs!.met)}`,
  );
  if (summary.kernelDump) lines.push(
    `4 GiB bitmap kernel dump (bench/kernel-dump.ts): open + info in ${summary.kernelDump.totalMs.toFixed(1)} ms, peak RSS ${summary.kernelDump.maxRssMb.toFixed(0)} MB (${summary.kernelDump.baselineRssMb.toFixed(0)} MB before opening); targets < ${TARGET_INFO_MS} ms: ${verdict(targets.kernelDumpInfoMs!.met)}, < ${TARGET_RSS_MB} MB: ${verdict(targets.kernelDumpRssMb!.met)}`,
  );
  return `${lines.join('\n')}\n`;
}

try {
  await main();
} catch (error) {
  process.stderr.write(`bench: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
