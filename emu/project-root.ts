/**
 * The directory holding faultline's package.json, whether the code runs from
 * its TypeScript sources (this file is emu/project-root.ts) or built into
 * dist/ (dist/emu/project-root.js): what lives beside the sources (build/,
 * package.json, the C sources) is found from here.
 *
 * @example
 * ```ts
 * join(PROJECT_ROOT, 'build', 'native', 'librecorder.so');
 * ```
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const above = dirname(dirname(fileURLToPath(import.meta.url)));

export const PROJECT_ROOT = existsSync(join(above, 'package.json')) || basename(above) !== 'dist' ? above : dirname(above);
