/**
 * `faultline info DUMP`: what a dump holds — format, OS, architecture, the
 * fault, each thread's contexts, modules, symbols, how much memory and
 * from where, and whether the bytes at the faulting pc are present.
 *
 * @example
 * ```sh
 * faultline info crash.dmp --json
 * ```
 */
import { Command } from 'commander';
import { findFaultSite } from '../../analysis/fault-site.ts';
import { openDump } from '../../dumps/open.ts';
import type { Dump, FileOrigin } from '../../dumps/model.ts';
import { formatAddress, hex } from '../../format.ts';
import { jsonText } from '../json.ts';
import { registerLines, vectorLines } from '../registers-text.ts';
import { stackJson, stackLines, threadStacks, type ThreadStack } from '../stack-text.ts';
import type { Io } from '../main.ts';

/** How a file was shown to be the dump's build, in a few words. */
function checkedText(origin: FileOrigin): string {
  return origin.checkedBy === 'build id' ? `build id ${origin.buildId}` : origin.checkedBy === 'PE stamp' ? 'PE TimeDateStamp and SizeOfImage' : origin.checkedBy === 'CodeView' ? 'CodeView GUID and age' : origin.checkedBy === 'named' ? 'named with --binary, unchecked' : `bytes agree${origin.buildId ? `, build id ${origin.buildId}` : ''}`;
}

/** Where the byte at `pc` came from: the dump, a module file, or nowhere. */
function codeOrigin(dump: Dump, pc: bigint): { from: 'dump' | 'file' | 'unknown'; source?: string; buildId?: string } {
  const p = dump.memory.read(pc, 1) === undefined ? undefined : dump.memory.provenanceOf(pc);
  if (!p) return { from: 'unknown' };
  return p.file ? { from: 'file', source: p.file.path, buildId: p.file.buildId } : { from: 'dump', source: p.source };
}

/** The facts `info` reports, as plain data (the `--json` output). */
export function dumpInfo(dump: Dump, stacks: ThreadStack[] = []) {
  const site = findFaultSite(dump);
  const ranges = dump.memory.ranges();
  const bySource = new Map<string, { ranges: number; bytes: bigint }>();
  let total = 0n;
  for (const r of ranges) {
    const key = r.provenance.file ? `${r.provenance.file.path} (${checkedText(r.provenance.file)})`
      : (r.provenance.source.split(' ')[0] ?? r.provenance.source).replace(/\[\d+\]$/, '').replace(/#\d+$/, '');
    const entry = bySource.get(key) ?? { ranges: 0, bytes: 0n };
    entry.ranges++;
    entry.bytes += r.end - r.start;
    bySource.set(key, entry);
    total += r.end - r.start;
  }
  return {
    path: dump.path,
    format: dump.format,
    os: dump.os,
    arch: dump.arch,
    machine: dump.machine && {
      machine: dump.machine.machine,
      processors: dump.machine.processors,
      build: dump.machine.build,
      dumpType: dump.machine.dumpType,
      systemTime: dump.machine.systemTime?.toISOString(),
      exception: dump.machine.exception && { code: hex(dump.machine.exception.code), address: hex(dump.machine.exception.address) },
    },
    bugcheck: dump.fault?.kind === 'bugcheck' ? { code: hex(dump.fault.code), parameters: dump.fault.parameters.map(hex) } : undefined,
    fault: site ? {
      summary: site.summary, kind: site.kind, pc: hex(site.pc), symbol: dump.symbols.format(site.pc), codePresent: dump.memory.read(site.pc, 1) !== undefined,
      codeFrom: codeOrigin(dump, site.pc), threadId: site.threadId,
    } : undefined,
    threads: dump.threads.map((t) => ({
      id: t.id,
      name: t.name,
      contexts: t.contexts.map((c) => ({
        kind: c.kind, label: c.label, address: c.address === undefined ? undefined : hex(c.address),
        registers: Object.fromEntries(Object.entries(c.registers).map(([k, v]) => [k, hex(v as bigint)])),
        notSaved: c.unknown,
        vector: c.vector && {
          fpcw: hex(BigInt(c.vector.fcw)), fpsw: hex(BigInt(c.vector.fsw)), fptw: hex(BigInt(c.vector.ftw)), mxcsr: hex(BigInt(c.vector.mxcsr)),
          st: c.vector.st.map(hex), xmm: c.vector.xmm.map(hex), ymmHigh: c.vector.ymmHigh?.map(hex), source: c.vector.provenance.source,
        },
        source: c.provenance.source, line: c.provenance.line,
      })),
    })),
    modules: dump.modules.map((m) => ({ name: m.name, base: hex(m.base), size: hex(m.size), path: m.path, debugId: m.debugId })),
    symbols: dump.symbols.size,
    files: (dump.files ?? []).map((u) => ({ file: u.file, for: u.for, used: u.used, buildId: u.buildId, host: u.host, message: u.message })),
    memory: {
      bytes: Number(total),
      ranges: ranges.length,
      sources: [...bySource].map(([source, v]) => ({ source, ranges: v.ranges, bytes: Number(v.bytes) })),
    },
    stacks: stacks.map((s) => stackJson(dump, s)),
    notes: dump.notes.map((n) => ({ level: n.level, message: n.message, line: n.provenance?.line })),
  };
}

function infoText(dump: Dump, stacks: ThreadStack[]): string {
  const info = dumpInfo(dump, stacks);
  const f = (v: bigint) => formatAddress(dump.arch, v);
  const out: string[] = [];
  out.push(`${info.path}`);
  out.push(`  format   ${info.format}${info.os ? `, ${info.os}` : ''}, ${info.arch}`);
  if (info.machine) {
    const m = info.machine;
    out.push(`  machine  ${m.machine}, ${m.processors} processor${m.processors === 1 ? '' : 's'}, build ${m.build}, ${m.dumpType} dump${m.systemTime ? `, written ${m.systemTime}` : ''}`);
  }
  if (info.bugcheck) out.push(`  bugcheck ${info.bugcheck.code.slice(2).toUpperCase()} (${info.bugcheck.parameters.map((p) => p.slice(2)).join(', ')})`);
  if (info.fault) {
    out.push(`  fault    ${info.fault.summary}`);
    const from = info.fault.codeFrom;
    const where = from.from === 'file' ? `present, from ${from.source}${from.buildId ? ` (build id ${from.buildId})` : ''}, not the dump` : from.from === 'dump' ? 'present' : 'NOT in the dump';
    out.push(`           pc ${f(BigInt(info.fault.pc))} ${info.fault.symbol}; code bytes at the pc ${where}`);
  } else {
    out.push('  fault    none recorded');
  }
  out.push(`  memory   ${info.memory.bytes} bytes in ${info.memory.ranges} range${info.memory.ranges === 1 ? '' : 's'}`);
  for (const s of info.memory.sources.slice(0, 12)) out.push(`           ${String(s.bytes).padStart(10)} bytes from ${s.source} (${s.ranges})`);
  out.push(`  symbols  ${info.symbols}`);
  if (dump.modules.length) {
    out.push(`  modules  ${dump.modules.length}`);
    for (const m of dump.modules.slice(0, 40)) out.push(`           ${f(m.base)} ${f(m.base + m.size)}   ${m.name}`);
  }
  for (const thread of dump.threads) {
    out.push(`  thread ${thread.id}${thread.name ? ` (${thread.name})` : ''}`);
    for (const c of thread.contexts) {
      out.push(`    ${c.label}${c.provenance.line ? ` (line ${c.provenance.line})` : ''}`);
      for (const line of registerLines(dump.arch, c.registers, c.unknown)) out.push(`      ${line}`);
      if (c.vector) for (const line of vectorLines(c.vector)) out.push(`      ${line}`);
    }
  }
  for (const stack of stacks) {
    out.push(`  stack of thread ${stack.threadId} (from ${stack.context})`);
    for (const line of stackLines(dump, stack)) out.push(`    ${line}`);
  }
  // One line per module file tried: used (and what shows it is the build) or not (and why).
  for (const u of info.files) out.push(`  file     ${u.message}`);
  const shown = new Set(info.files.map((u) => u.message));
  const warnings = dump.notes.filter((n) => n.level === 'warning' && !shown.has(n.message));
  const skipped = dump.notes.filter((n) => n.level === 'info' && !shown.has(n.message)).length;
  for (const w of warnings) out.push(`  warning  ${w.message}`);
  if (skipped) out.push(`  notes    ${skipped} (${dump.notes.filter((n) => n.level === 'info' && !shown.has(n.message)).map((n) => n.message).slice(0, 3).join('; ')}${skipped > 3 ? '; …' : ''})`);
  return `${out.join('\n')}\n`;
}

export function addInfoCommand(program: Command, io: Io): void {
  program
    .command('info')
    .description('show what a dump holds: format, fault, contexts, modules, symbols, memory')
    .argument('<dump>', 'WinDbg transcript, minidump, ELF core or Windows kernel dump')
    .option('--json', 'print as JSON')
    .option('--binary <file>', 'ELF executable or library: symbols and the code the dump lacks (repeatable)', (v: string, all: string[]) => [...all, v], [])
    .option('--sysroot <dir>', "prefix for the file paths the dump names ('/' for this machine's own files, never used unasked)")
    .option('--all-threads', 'walk the stack of every thread, not only the faulting one')
    .action(async (path: string, flags: { json?: boolean; binary: string[]; sysroot?: string; allThreads?: boolean }) => {
      const dump = await openDump(path, { binaries: flags.binary, sysroot: flags.sysroot });
      const stacks = await threadStacks(dump, { allThreads: flags.allThreads === true });
      io.out(flags.json ? jsonText(dumpInfo(dump, stacks)) : infoText(dump, stacks));
    });
}
