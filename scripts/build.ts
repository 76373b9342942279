/**
 * `npm run build` (and a step of `npm install` and `npm test`): compiles
 * src/, emu/ and traces/ with tsc (tsconfig.build.json) into dist/, which
 * bin/faultline.js runs; then writes dist/sources.json, naming the sources
 * and when the build started, so bin can tell a stale dist from a fresh one
 * (bin/dist-fresh.js). A failed build leaves no manifest: bin then runs the
 * sources through tsx. Never throws: what happened goes to `say`.
 *
 * @example
 * ```ts
 * if (!distIsFresh()) buildDist((line) => console.error(line));
 * ```
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MANIFEST_PATH, ROOT, distIsFresh } from '../bin/dist-fresh.js';

/** The directories compiled (tsconfig.build.json's include). */
const SOURCE_DIRS = ['src', 'emu', 'traces'];

/** Every TypeScript source file tsc compiles, relative to the root, tests left out. */
function sourceFiles(): string[] {
  const files: string[] = [];
  for (const dir of SOURCE_DIRS) {
    for (const entry of readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })) {
      if (entry.endsWith('.ts') && !entry.endsWith('.test.ts')) files.push(`${dir}/${entry}`);
    }
  }
  return files.sort();
}

/** Builds dist/; false (and a line to `say`) when TypeScript is not installed or tsc fails. */
export function buildDist(say: (line: string) => void): boolean {
  let tsc: string;
  try {
    tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    say('TypeScript is not installed (an install without dev dependencies): faultline runs its sources through tsx, slower to start');
    return false;
  }
  const startedAt = Date.now();
  const files = sourceFiles();
  rmSync(join(ROOT, 'dist'), { recursive: true, force: true });
  const result = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) {
    const first = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n')[0] ?? '';
    say(`building dist/ failed (${first || `tsc exited with ${result.status ?? result.signal}`}): faultline runs its sources through tsx`);
    return false;
  }
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  writeFileSync(join(ROOT, MANIFEST_PATH), `${JSON.stringify({ startedAt, files }, null, 1)}\n`);
  say(`built dist/ from ${files.length} source files`);
  return true;
}

function say(line: string): void {
  process.stderr.write(`faultline: ${line}\n`);
}

// `npm run build`, `node --import tsx scripts/build.ts [--if-stale]`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes('--if-stale') && distIsFresh()) process.exit(0);
  process.exitCode = buildDist(say) ? 0 : 1;
}
