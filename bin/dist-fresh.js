/**
 * Whether dist/ (the built JavaScript) was built from the sources as they
 * are now: scripts/build.ts writes dist/sources.json last, naming every
 * source file it compiled and when the build started; a source file changed
 * (or gone) since then makes dist stale, and bin/faultline.js then runs the
 * sources through tsx instead. Plain JavaScript: bin loads it before tsx.
 *
 * @example
 * ```js
 * if (distIsFresh()) await import('../dist/src/cli/main.js');
 * ```
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root directory, with a trailing separator (this file is bin/dist-fresh.js). */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Where the build's manifest is, under a root. */
export const MANIFEST_PATH = 'dist/sources.json';

/**
 * True when `root`'s dist/sources.json exists and no source file it names
 * changed (or went away) after the build started.
 */
export function distIsFresh(root = ROOT) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(root, MANIFEST_PATH), 'utf8'));
  } catch {
    return false;
  }
  if (!Array.isArray(manifest.files) || typeof manifest.startedAt !== 'number') return false;
  for (const file of manifest.files) {
    try {
      if (statSync(join(root, file)).mtimeMs > manifest.startedAt) return false;
    } catch {
      return false;
    }
  }
  return true;
}
