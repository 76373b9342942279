import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { distIsFresh } from '../../bin/dist-fresh.js';

// A project in a temporary directory: two sources, built at BUILT (seconds); a source's mtime decides.
const BUILT = 1_700_000_000;
let root: string;

function source(path: string, mtime: number): void {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), 'export {};\n');
  utimesSync(join(root, path), mtime, mtime);
}

function manifest(files: string[]): void {
  mkdirSync(join(root, 'dist'), { recursive: true });
  writeFileSync(join(root, 'dist', 'sources.json'), JSON.stringify({ startedAt: BUILT * 1000, files }));
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'faultline-dist-'));
  source('src/a.ts', BUILT - 60);
  source('emu/b.ts', BUILT - 60);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('whether bin may run dist/', () => {
  it('yes when every source the build compiled is older than the build', () => {
    manifest(['src/a.ts', 'emu/b.ts']);
    expect(distIsFresh(root)).toBe(true);
  });

  it('no when a source changed after the build started', () => {
    manifest(['src/a.ts', 'emu/b.ts']);
    utimesSync(join(root, 'emu/b.ts'), BUILT + 1, BUILT + 1);
    expect(distIsFresh(root)).toBe(false);
  });

  it('no when a source the build compiled is gone', () => {
    manifest(['src/a.ts', 'emu/b.ts']);
    rmSync(join(root, 'src/a.ts'));
    expect(distIsFresh(root)).toBe(false);
  });

  it('no without a manifest (never built, or the build failed) or with a damaged one', () => {
    expect(distIsFresh(root)).toBe(false);
    mkdirSync(join(root, 'dist'));
    writeFileSync(join(root, 'dist', 'sources.json'), '{"files": ');
    expect(distIsFresh(root)).toBe(false);
    writeFileSync(join(root, 'dist', 'sources.json'), '{"files": []}');
    expect(distIsFresh(root)).toBe(false);
  });
});
