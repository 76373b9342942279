/**
 * `faultline explain DUMP`, `faultline check DUMP --hypothesis …` and
 * `faultline demo` (explain on the bundled IPI transcript).
 *
 * @example
 * ```sh
 * faultline explain crash.txt --json | jq .verdict
 * faultline check crash.txt --hypothesis bitflip:target@80a5d8f6:2
 * ```
 */
import { Command } from 'commander';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../../emu/project-root.ts';
import type { ExplainOptions } from '../../analysis/explain.ts';
import { explainIsolated } from '../isolated-explain.ts';
import { parseHypothesis } from '../../analysis/hypothesis-spec.ts';
import type { StepOverSpec } from '../../analysis/window.ts';
import { openDump } from '../../dumps/open.ts';
import { parseAddress, parseRegisterList, parseCount, parseSeconds } from '../../parse.ts';
import { explainText } from '../explain-text.ts';
import { jsonText } from '../json.ts';
import { readExplainDocument, validateExplainDocument } from '../../report/read.ts';
import { writeHtmlReport } from '../../report/write.ts';
import { progressBar } from '../progress.ts';
import type { Io } from '../main.ts';
import type { Arch } from '../../../emu/registers.ts';

/** The IPI call-target bit flip transcript shipped with faultline. */
export const DEMO_TRANSCRIPT = join(PROJECT_ROOT, 'test', 'fixtures', 'transcripts', 'ipi-call-target-bitflip.txt');

interface ExplainFlags {
  json?: boolean;
  html?: string;
  stepOver: string[];
  window: string;
  searchSeconds: string;
  searchReplays?: string;
  binary: string[];
  sysroot?: string;
  hypothesis?: string[];
}

/** `ADDR:ret=0xc,eax=1` → what the absent callee at ADDR does. */
export function parseStepOver(text: string, arch: Arch): StepOverSpec {
  const colon = text.indexOf(':');
  const address = parseAddress(colon < 0 ? text : text.slice(0, colon), '--step-over address');
  const effects = colon < 0 ? '' : text.slice(colon + 1);
  let popBytes = 0n;
  const rest: string[] = [];
  for (const item of effects.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^ret=(.+)$/i.exec(item);
    if (m) popBytes = parseAddress(m[1]!, `'ret=' in --step-over ${text}`);
    else rest.push(item);
  }
  return { address, popBytes, registers: parseRegisterList(arch, rest.join(',')) };
}

const collect = (value: string, all: string[] = []) => [...all, value];

function addExplainOptions(command: Command): Command {
  return command
    .option('--json', 'print the report as JSON (schema: docs/explain-json.md)')
    .option('--html <file>', 'also write the report as one HTML page, with its replay as Tenet and drcov files beside it')
    .option('--step-over <addr:effects>', 'step over a call into code the dump lacks, e.g. 80a5d8e1:ret=0xc,eax=1 (repeatable)', collect, [])
    .option('--window <n>', 'longest replay window, in instructions', '100')
    .option('--search-seconds <s>', 'time budget of the search over fault models', '10')
    .option('--search-replays <n>', 'fault replays the search may run: the same verdict however busy the machine (with a generous --search-seconds)')
    .option('--binary <file>', 'executable or library to fill code a core leaves out (repeatable)', collect, [])
    .option('--sysroot <dir>', "prefix for the file paths a core names ('/' for this machine's own files, never used unasked)");
}

async function runExplain(path: string, flags: ExplainFlags, io: Io): Promise<void> {
  // The dump is opened here too: bad input is reported before any worker starts, and options need its architecture.
  const open = { binaries: flags.binary, sysroot: flags.sysroot };
  const dump = await openDump(path, open);
  const arch = dump.arch;
  (dump as { close?: () => void }).close?.();
  const options: ExplainOptions = {
    stepOvers: flags.stepOver.map((s) => parseStepOver(s, arch)),
    windowInstructions: parseCount(flags.window, '--window'),
    searchBudgetMs: parseSeconds(flags.searchSeconds, '--search-seconds'),
    searchReplays: flags.searchReplays === undefined ? undefined : parseCount(flags.searchReplays, '--search-replays'),
    hypotheses: flags.hypothesis?.map((h) => parseHypothesis(h, arch)),
    binaries: flags.binary,
  };
  const bar = progressBar('searching', { json: flags.json });
  const budgetMs = options.searchBudgetMs ?? 10_000;
  const replays = options.searchReplays;
  const onProgress = bar && ((count: number, elapsedMs: number) => {
    // The search ends at its budget (time, or replays when given) or sooner: the bar shows how much of it is spent.
    const byReplays = replays ? count / replays : 0;
    const fraction = Math.max(elapsedMs / budgetMs, byReplays);
    const leftMs = replays && byReplays > elapsedMs / budgetMs ? (elapsedMs / Math.max(count, 1)) * (replays - count) : budgetMs - elapsedMs;
    bar.update({ count, unit: 'replays', fraction, leftMs: Math.max(0, leftMs), bound: true });
  });
  let report: Awaited<ReturnType<typeof explainIsolated>>['report'];
  try {
    ({ report } = await explainIsolated(path, open, options, onProgress));
  } finally {
    bar?.done();
  }
  const json = jsonText(report);
  if (flags.html) {
    // From the JSON text, exactly as `faultline report` reads a saved --json.
    const written = writeHtmlReport(validateExplainDocument(JSON.parse(json), path), flags.html);
    io.err(`faultline: wrote ${written.join(', ')}\n`);
  }
  io.out(flags.json ? json : explainText(report, arch));
}

export function addExplainCommands(program: Command, io: Io): void {
  addExplainOptions(
    program
      .command('explain')
      .description('find what the CPU executed before the trap and whether a hardware fault explains it')
      .argument('<dump>', 'WinDbg transcript, minidump, ELF core or Windows kernel dump'),
  ).action((path: string, flags: ExplainFlags) => runExplain(path, flags, io));

  addExplainOptions(
    program
      .command('check')
      .description('test stated hypotheses against the dump and print the evidence')
      .argument('<dump>', 'WinDbg transcript, minidump, ELF core or Windows kernel dump')
      .requiredOption('--hypothesis <spec>', 'none | bitflip:target@ADDR:BIT | bitflip:load@ADDR:BIT | bitflip:register@ADDR:REG:BIT (repeatable)', collect),
  ).action((path: string, flags: ExplainFlags) => runExplain(path, flags, io));

  program
    .command('demo')
    .description('explain the bundled IPI transcript: a CPU that dropped bit 2 of a call target')
    .option('--json', 'print the report as JSON')
    .option('--html <file>', 'also write the report as one HTML page')
    .action(async (flags: { json?: boolean; html?: string }) => {
      await runExplain(DEMO_TRANSCRIPT, { json: flags.json, html: flags.html, stepOver: [], window: '100', searchSeconds: '10', binary: [] }, io);
    });

  program
    .command('report')
    .description('turn a saved `explain --json` report into an HTML page')
    .argument('<report>', 'the JSON that explain --json printed')
    .requiredOption('--html <file>', 'the page to write (with the replay\'s Tenet and drcov files beside it)')
    .action((path: string, flags: { html: string }) => {
      const written = writeHtmlReport(readExplainDocument(path), flags.html);
      io.err(`faultline: wrote ${written.join(', ')}\n`);
    });
}


