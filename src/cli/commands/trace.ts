/**
 * `faultline trace`: emulate a bounded window from a register state over raw
 * memory images (or a dump) and print or save the trace.
 *
 * @example
 * ```sh
 * faultline trace --arch x64 --image code.bin@0x401000 --regs rsp=0x7ff000 --from 0x401000 --count 20
 * ```
 */
import { Command, Option } from 'commander';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../errors.ts';
import { parseAddress, parseChoice, parseCount, parseRegisterList, parseSeconds, parseValue } from '../../parse.ts';
import { openRawImages, parseImageSpec, type RawImage } from '../../dumps/raw/images.ts';
import { traceRun, type TraceRunResult } from '../../analysis/trace-run.ts';
import { parseRegisterName, type Arch, type RegisterValues } from '../../../emu/registers.ts';
import { describeRunResult, type RunResult } from '../../../emu/run-result.ts';
import { formatAddress } from '../../format.ts';
import { openDump } from '../../dumps/open.ts';
import { findFaultSite } from '../../analysis/fault-site.ts';
import type { Dump, VectorState } from '../../dumps/model.ts';
import { TRACE_FORMATS, writeTraceFileWith, type TraceFormat } from '../render.ts';
import { printTrace } from './show.ts';
import { createSizeDecoder } from '../../disasm/disassembler.ts';
import type { Io } from '../main.ts';
import { basename } from 'node:path';
import { progressBar } from '../progress.ts';
import { createDisassembler } from '../../disasm/disassembler.ts';
import { unemulatedInstruction } from '../../analysis/unemulated.ts';
import type { TraceBatch } from '../../../traces/model.ts';

const ARCHES = ['x86', 'x64', 'arm64'] as const;

interface TraceOptions {
  thread?: string;
  binary: string[];
  sysroot?: string;
  arch?: string;
  image: string[];
  regs?: string;
  state?: string;
  from: string;
  until?: string;
  count?: string;
  maxInstructions: string;
  timeout: string;
  out?: string;
  format: string;
}

/** Reads a register state file: `{ "arch": "x86", "registers": { "eax": "0x1", … } }`. */
export function readStateFile(path: string, arch: Arch | undefined): { arch?: Arch; registers: RegisterValues } {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new InputError(`Cannot read state file ${path}: ${reason}`);
  }
  if (!json || typeof json !== 'object') throw new InputError(`State file ${path}: expected an object with "registers"`);
  const obj = json as { arch?: unknown; registers?: unknown };
  const fileArch = obj.arch === undefined ? undefined : parseChoice(String(obj.arch), ARCHES, `"arch" in ${path}`);
  const useArch = arch ?? fileArch;
  if (!useArch) throw new InputError(`State file ${path} has no "arch" and --arch was not given`);
  if (!obj.registers || typeof obj.registers !== 'object') throw new InputError(`State file ${path}: "registers" must be an object of NAME: "0xVALUE"`);
  const registers: RegisterValues = {};
  for (const [key, value] of Object.entries(obj.registers as Record<string, unknown>)) {
    const name = parseRegisterName(useArch, key);
    if (!name) throw new InputError(`State file ${path}: unknown register '${key}' for ${useArch}`);
    registers[name] = parseValue(String(value), `"${key}" in ${path}`);
  }
  return { arch: fileArch, registers };
}

export function addTraceCommand(program: Command, io: Io): void {
  program
    .command('trace')
    .description('emulate a bounded window from a register state and print or save its trace')
    .argument('[dump]', 'a dump to trace in (its memory, and a thread\'s registers); without it, --image files')
    .option('--thread <id>', 'start from this thread\'s recorded registers (default: the faulting thread)')
    .option('--binary <file>', 'executable or library to fill code a core leaves out (repeatable)', (v: string, all: string[]) => [...all, v], [])
    .option('--sysroot <dir>', "prefix for the file paths a core names ('/' for this machine's own files, never used unasked)")
    .addOption(new Option('--arch <arch>', 'architecture').choices(ARCHES as unknown as string[]))
    .option('--image <file@addr>', 'raw memory image placed at an address (repeatable)', (v: string, all: string[]) => [...all, v], [])
    .option('--regs <list>', 'registers, e.g. eax=0x1,esp=0xf78aecac')
    .option('--state <file>', 'registers from a JSON file {"arch": …, "registers": {…}}')
    .requiredOption('--from <addr>', 'address of the first instruction')
    .option('--until <addr>', 'stop when the pc reaches this address')
    .option('--count <n>', 'stop after this many instructions')
    .option('--max-instructions <n>', 'instruction budget', '1000000')
    .option('--timeout <seconds>', 'wall-time budget', '10')
    .option('--out <file>', 'write the trace (.fltrace, MessagePack) to this file; with --format drcov, the coverage')
    .addOption(new Option('--format <format>', 'printed format, or drcov: coverage for Lighthouse (needs --out)').choices([...TRACE_FORMATS, 'drcov']).default('text'))
    .action(async (dumpPath: string | undefined, options: TraceOptions) => {
      await runTrace(dumpPath, options, io);
    });
}

/** What `trace` runs: traceRun's options with the budgets always set. */
type TraceRunBounds = Parameters<typeof traceRun>[0] & { maxInstructions: number; timeoutMs: number };

/** The dump to trace in: a dump file and one of its threads, or raw images and the registers given. */
async function traceSource(dumpPath: string | undefined, options: TraceOptions): Promise<{ dump: Dump; registers: RegisterValues; vector?: VectorState; images?: RawImage[] }> {
  if (dumpPath !== undefined) {
    if (options.image.length) throw new InputError('trace takes a dump or --image files, not both');
    const dump = await openDump(dumpPath, { binaries: options.binary, sysroot: options.sysroot });
    if (options.arch && options.arch !== dump.arch) throw new InputError(`--arch ${options.arch} does not match the dump, which is ${dump.arch}`);
    const thread = options.thread === undefined
      ? dump.threads.find((t) => t.id === findFaultSite(dump)?.threadId) ?? dump.threads[0]
      : dump.threads.find((t) => String(t.id) === options.thread || `0x${t.id.toString(16)}` === options.thread?.toLowerCase());
    if (!thread) throw new InputError(options.thread === undefined ? `${dumpPath} holds no thread` : `${dumpPath} has no thread ${options.thread} (threads: ${dump.threads.map((t) => t.id).join(', ')})`);
    const state = options.state ? readStateFile(options.state, dump.arch) : undefined;
    const registers = { ...thread.contexts[0]?.registers, ...state?.registers, ...(options.regs ? parseRegisterList(dump.arch, options.regs) : {}) };
    const vector = thread.contexts[0]?.vector;
    return { dump, registers, ...(vector ? { vector } : {}) };
  }
  if (options.image.length === 0) throw new InputError('trace needs a dump or at least one --image FILE@ADDR');
  if (options.thread !== undefined) throw new InputError('--thread needs a dump');
  const state = options.state ? readStateFile(options.state, options.arch as Arch | undefined) : undefined;
  const arch = (options.arch as Arch | undefined) ?? state?.arch;
  if (!arch) throw new InputError('trace needs --arch x86|x64|arm64 (or "arch" in --state)');
  const registers: RegisterValues = { ...state?.registers, ...(options.regs ? parseRegisterList(arch, options.regs) : {}) };
  const images: RawImage[] = options.image.map(parseImageSpec);
  return { dump: openRawImages(arch, images, registers), registers, images };
}

async function runTrace(dumpPath: string | undefined, options: TraceOptions, io: Io): Promise<void> {
  if (options.until === undefined && options.count === undefined) throw new InputError('trace needs --until ADDR or --count N');
  if (options.format === 'drcov' && !options.out) throw new InputError('--format drcov writes a binary file: give --out FILE');
  const { dump, registers, vector, images } = await traceSource(dumpPath, options);
  const arch = dump.arch;
  const runOptions: TraceRunBounds = {
    dump,
    registers,
    vector,
    from: parseAddress(options.from, '--from'),
    until: options.until === undefined ? undefined : parseAddress(options.until, '--until'),
    count: options.count === undefined ? undefined : parseCount(options.count, '--count'),
    maxInstructions: parseCount(options.maxInstructions, '--max-instructions'),
    timeoutMs: parseSeconds(options.timeout, '--timeout'),
  };
  const disasm = arch === 'arm64' ? undefined : await createDisassembler(arch);
  const describe = (result: RunResult) => {
    const line = describeRunResult(result, (v) => formatAddress(arch, v));
    if (!disasm || result.kind !== 'trapped' || result.vector !== 6) return line;
    // An instruction a CPU runs but Unicorn does not (glibc's XSAVEC, AVX2, AVX-512 paths) is named as such.
    let bytes: Uint8Array | undefined;
    for (let n = 15; n > 0 && !bytes; n--) bytes = dump.memory.read(result.pc, n);
    const unemulated = bytes && unemulatedInstruction(disasm, bytes, result.pc);
    return unemulated ? `${line}: ${unemulated.text}` : line;
  };
  try {
    await traceWith(options, io, dump, images, runOptions, describe);
  } finally {
    disasm?.close();
  }
}

async function traceWith(
  options: TraceOptions, io: Io, dump: Dump, images: RawImage[] | undefined,
  runOptions: TraceRunBounds, describe: (result: RunResult) => string,
): Promise<void> {
  const arch = dump.arch;
  // Progress on a terminal: instructions so far against the count (or the budget), and the time left.
  const bar = progressBar('tracing', { json: options.format === 'jsonl' });
  const started = performance.now();
  const goal = runOptions.count ?? runOptions.maxInstructions;
  let executed = 0;
  const progress = (batch: { count: number }) => {
    executed += batch.count;
    if (!bar) return;
    const elapsed = performance.now() - started;
    const byCount = executed / goal;
    const byTime = elapsed / runOptions.timeoutMs;
    const leftMs = byCount > byTime ? (elapsed / byCount) * (1 - byCount) : runOptions.timeoutMs - elapsed;
    bar.update({ count: executed, unit: 'instructions', fraction: Math.max(byCount, byTime), leftMs, bound: runOptions.count === undefined || byCount <= byTime });
  };
  if (options.format === 'drcov') {
    // Imported here: only coverage needs them (start-up of the other formats).
    const [{ BlockCollector, coverageModules, drcovFile }, { writeWhole }] = await Promise.all([
      import('../../../traces/export/drcov.ts'), import('../../report/write.ts'),
    ]);
    const collector = new BlockCollector();
    const run = traceRun({
      ...runOptions, record: { registers: false, memory: false },
      onBatch: (b) => {
        for (let i = 0; i < b.count; i++) collector.add(b.pc[i]!, b.size[i]!);
        progress(b);
      },
    });
    bar?.done();
    const blocks = collector.blocks();
    // Raw images are the modules of a run over them; a dump's modules, else the symbol's module for each page.
    const known = images ? images.map((i) => ({ name: basename(i.path), path: i.path, base: i.address, size: BigInt(i.size) })) : dump.modules;
    const nameAt = (pc: bigint) => /^([^!+\s]+)!/.exec(dump.symbols.format(pc))?.[1];
    const { bytes, skipped } = drcovFile(blocks, coverageModules(blocks, known, nameAt));
    writeWhole(options.out!, bytes);
    io.err(`${describe(run.result)}; ${blocks.length - skipped} blocks of ${run.result.instructions ?? 0} instructions written to ${options.out}${skipped ? ` (${skipped} blocks beyond 4 GiB of their module left out)` : ''}\n`);
    return;
  }
  const decode = await createSizeDecoder(arch);
  // Block traces rebuild each instruction by replaying from register checkpoints, which hold no x87/SSE/AVX
  // state: a run that starts from a core's vector registers is recorded instruction by instruction (version 1).
  const blocks = runOptions.vector === undefined;
  // Streamed as it runs (a reader can follow the temporary file); renamed into place only when complete.
  const recordTo = (path: string): TraceRunResult => {
    let run: TraceRunResult | undefined;
    writeTraceFileWith(path, (writer) => {
      try {
        run = traceRun({
          ...runOptions, onHeader: (h) => writer.writeHeader(h), onBatch: (b) => (writer.writeBatch(b), progress(b)),
          ...(blocks ? { blocks: { decode, sink: { onBlocks: (b) => (writer.writeBlocks(b), progress(b)) } } } : {}),
        });
      } finally {
        bar?.done();
      }
      return describe(run.result);
    }, { background: true });
    return run!;
  };
  if (options.out) {
    const run = recordTo(options.out);
    io.err(`${describe(run.result)}; ${run.result.instructions ?? 0} instructions written to ${options.out}\n`);
    return;
  }
  // Printed from a trace saved to a temporary file: memory stays flat however long the run.
  const dir = mkdtempSync(join(tmpdir(), 'faultline-trace-'));
  try {
    const path = join(dir, 'run.fltrace');
    const run = recordTo(path);
    const ending = describe(run.result);
    await printTrace(path, options.format as TraceFormat, io, { symbols: dump.symbols, name: 'the trace', stopReason: ending });
    io.err(`${ending}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
