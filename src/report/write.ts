/**
 * Writing the HTML report: the page and, when the report holds a replay
 * trace, its Tenet and drcov files beside it. Each file is written whole
 * or not at all (a temporary file in the same directory, then a rename),
 * the page last, so a page never links to a file that is not there.
 *
 * @example
 * ```ts
 * const written = writeHtmlReport(document, 'crash.html'); // ['crash.tenet.log', 'crash.drcov', 'crash.html']
 * ```
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Arch } from '../../emu/registers.ts';
import type { ExplainDocument } from '../analysis/window-trace.ts';
import { InputError } from '../errors.ts';
import { renderHtml } from './html.ts';
import { windowDrcov, windowTenet } from './window-files.ts';

/** Writes `data` to `path` whole or not at all. */
export function writeWhole(path: string, data: string | Uint8Array): void {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.partial`);
  let fd: number | undefined;
  try {
    fd = openSync(temporary, 'wx');
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temporary, path);
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(temporary);
    } catch {
      // Never created.
    }
    throw new InputError(`Cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** The names of the files beside `html`: `crash.html` → `crash.tenet.log`, `crash.drcov`. */
export function companionNames(html: string): { tenet: string; drcov: string } {
  const stem = html.replace(/\.html?$/i, '');
  return { tenet: `${stem}.tenet.log`, drcov: `${stem}.drcov` };
}

/** Writes the page for `document` to `path`, and the trace files it links; returns the paths written. */
export function writeHtmlReport(document: ExplainDocument, path: string): string[] {
  const written: string[] = [];
  const trace = document.trace;
  let links: { tenet: string; drcov: string } | undefined;
  if (trace && trace.steps.length > 0) {
    const files = companionNames(path);
    writeWhole(files.tenet, windowTenet(document.dump.arch as Arch, trace));
    writeWhole(files.drcov, windowDrcov(trace));
    written.push(files.tenet, files.drcov);
    links = { tenet: basename(files.tenet), drcov: basename(files.drcov) };
  }
  writeWhole(path, renderHtml(document, { links }));
  written.push(path);
  return written;
}
