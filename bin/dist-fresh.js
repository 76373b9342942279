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
import { fileURLToPath } from 'node:url';

/** The project's root directory (this file is bin/dist-fresh.js). */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The manifest of the last successful build. */
export const MANIFEST = fileURLToPath(new URL('../dist/sources.json', import.meta.url));

/** True when dist/sources.json exists and no source file it names changed after the build started. */
export function distIsFresh() {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(MANIFEST, 'utf8'));
  } catch {
    return false;
  }
  if (!Array.isArray(manifest.files) || typeof manifest.startedAt !== 'number') return false;
  for (const file of manifest.files) {
    try {
      if (statSync(ROOT + file).mtimeMs > manifest.startedAt) return false;
    } catch {
      return false;
    }
  }
  return true;
}
