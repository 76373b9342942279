/**
 * Temporary files for minidump tests: one directory per test file, removed
 * after it.
 *
 * @example
 * ```ts
 * const temp = tempFiles();
 * const path = temp.write('x.dmp', bytes);
 * ```
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

export function tempFiles(): { dir: string; write(name: string, bytes: Uint8Array): string } {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-minidump-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    write(name, bytes) {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      return path;
    },
  };
}

/** A fixture under test/fixtures/dumps. */
export function fixture(relative: string): string {
  return new URL(`../../fixtures/dumps/${relative}`, import.meta.url).pathname;
}
