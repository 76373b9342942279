/**
 * What `faultline batch` is asked to explain: dumps named on the command
 * line, every dump under a directory (found by its first bytes: a minidump,
 * an ELF core — not an executable —, a kernel dump, a compressed core, or a
 * text file with a WinDbg prompt), and manifests: JSON Lines files (`.jsonl`,
 * `.ndjson`), one dump a line:
 *
 * ```json
 * {"path": "cores/1.core", "binary": ["bin/app"], "sysroot": "/", "machine": "host-17", "cpu": "3", "time": "2026-11-02T10:00:00Z", "labels": {"build": "1.2"}}
 * ```
 *
 * `path` is relative to the manifest; `binary` (a string or a list) and
 * `sysroot` too. Any other field is kept as a label. Each dump is keyed by
 * its absolute path; its size and modification time tell a rerun whether it
 * changed.
 *
 * @example
 * ```ts
 * const jobs = collectJobs(['crashes/', 'fleet.jsonl'], { binaries: [], sysroot: undefined });
 * ```
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync, type Stats } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { compressionOf } from '../dumps/elf/compression.ts';
import { InputError } from '../errors.ts';

export interface DumpJob {
  /** The absolute path: the dump's identity in the store. */
  key: string;
  path: string;
  binaries: string[];
  sysroot?: string;
  machine?: string;
  cpu?: string;
  /** When the crash happened (ISO 8601), as the manifest says. */
  time?: string;
  labels: Record<string, unknown>;
  size: number;
  mtimeMs: number;
}

/** Options that apply to dumps the manifest does not describe (and add to those it does). */
export interface JobDefaults {
  binaries: string[];
  sysroot?: string;
}

const MANIFEST_EXTENSIONS = new Set(['.jsonl', '.ndjson']);
const MANIFEST_FIELDS = new Set(['path', 'binary', 'binaries', 'sysroot', 'machine', 'cpu', 'core', 'time', 'labels']);
/** A WinDbg prompt: `kd>`, `0: kd>`, `0:000>`, `0:000:x86>`. */
const PROMPT = /(^|\n)\s*(\d+:\s*)?kd>|(^|\n)\d+:\d+(:\w+)?>/;
const ET_CORE = 4;

/** True when the file's first bytes say it is a dump faultline opens (an ELF executable is not). */
export function looksLikeDump(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    const head = Buffer.alloc(65536);
    const n = readSync(fd, head, 0, head.length, 0);
    const bytes = head.subarray(0, n);
    if (n < 8) return false;
    if (compressionOf(bytes)) return true;
    const magic = bytes.subarray(0, 8).toString('latin1');
    if (magic.startsWith('MDMP') || magic === 'PAGEDUMP' || magic === 'PAGEDU64') return true;
    // e_type at 0x10, in the byte order EI_DATA (0x05) gives: 1 little-endian, 2 big-endian.
    if (magic.startsWith('\x7fELF')) return n >= 0x12 && (bytes[0x05] === 2 ? bytes.readUInt16BE(0x10) : bytes.readUInt16LE(0x10)) === ET_CORE;
    return !bytes.includes(0) && PROMPT.test(bytes.toString('latin1'));
  } finally {
    closeSync(fd);
  }
}

function statOf(path: string, where: string): Stats {
  try {
    return statSync(path);
  } catch (error) {
    throw new InputError(`${where}Cannot access ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

function job(path: string, stats: Stats, fields: Partial<DumpJob>, defaults: JobDefaults): DumpJob {
  const key = resolve(path);
  return {
    key,
    path: key,
    binaries: [...defaults.binaries, ...(fields.binaries ?? [])],
    sysroot: fields.sysroot ?? defaults.sysroot,
    machine: fields.machine,
    cpu: fields.cpu,
    time: fields.time,
    labels: fields.labels ?? {},
    size: stats.size,
    mtimeMs: Math.floor(stats.mtimeMs),
  };
}

/** Every dump under `dir`, in name order (hidden entries skipped). */
function walk(dir: string, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, out);
    else if (entry.isFile() && looksLikeDump(path)) out.push(path);
  }
}

function text(value: unknown, field: string, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  throw new InputError(`${where}'${field}' must be a string, not ${JSON.stringify(value).slice(0, 40)}`);
}

/** The jobs of one manifest line. */
function manifestJob(line: string, where: string, base: string, defaults: JobDefaults): DumpJob {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    throw new InputError(`${where}not a JSON object`);
  }
  if (!entry || typeof entry !== 'object' || Array.isArray(entry)) throw new InputError(`${where}not a JSON object`);
  const e = entry as Record<string, unknown>;
  const path = text(e.path, 'path', where);
  if (!path) throw new InputError(`${where}no 'path'`);
  const binaryField = e.binary ?? e.binaries;
  const binaries = binaryField === undefined ? [] : Array.isArray(binaryField) ? binaryField.map((b) => text(b, 'binary', where)!) : [text(binaryField, 'binary', where)!];
  const sysroot = text(e.sysroot, 'sysroot', where);
  const time = text(e.time, 'time', where);
  if (time !== undefined && Number.isNaN(Date.parse(time))) throw new InputError(`${where}'time' is not a date: ${time.slice(0, 40)}`);
  if (e.labels !== undefined && (typeof e.labels !== 'object' || e.labels === null || Array.isArray(e.labels))) throw new InputError(`${where}'labels' must be an object`);
  const labels: Record<string, unknown> = { ...(e.labels as Record<string, unknown> | undefined) };
  for (const [k, v] of Object.entries(e)) if (!MANIFEST_FIELDS.has(k)) labels[k] = v;
  const full = resolve(base, path);
  const stats = statOf(full, where);
  if (!stats.isFile()) throw new InputError(`${where}${full} is not a file`);
  return job(full, stats, {
    binaries: binaries.map((b) => resolve(base, b)),
    sysroot: sysroot === undefined ? undefined : resolve(base, sysroot),
    machine: text(e.machine, 'machine', where),
    cpu: text(e.cpu ?? e.core, 'cpu', where),
    time: time === undefined ? undefined : new Date(time).toISOString(),
    labels,
  }, defaults);
}

/** The jobs `inputs` name, each dump once (the first mention wins). */
export function collectJobs(inputs: string[], defaults: JobDefaults): DumpJob[] {
  const jobs = new Map<string, DumpJob>();
  const add = (j: DumpJob) => {
    if (!jobs.has(j.key)) jobs.set(j.key, j);
  };
  for (const input of inputs) {
    const stats = statOf(input, '');
    if (stats.isDirectory()) {
      const found: string[] = [];
      walk(input, found);
      for (const path of found) add(job(path, statSync(path), {}, defaults));
    } else if (MANIFEST_EXTENSIONS.has(extname(input).toLowerCase())) {
      const lines = readFileSync(input, 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (line.trim()) add(manifestJob(line, `${input} line ${i + 1}: `, dirname(resolve(input)), defaults));
      });
    } else {
      add(job(input, stats, {}, defaults));
    }
  }
  return [...jobs.values()];
}
