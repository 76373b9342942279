/**
 * `npm test`'s first step: the system packages the tests use
 * (test/helpers/system.ts). As root on Debian with apt-get, unless
 * FAULTLINE_NO_INSTALL=1, it installs the missing ones (lab/toolchain.ts:
 * one `apt-get update`, then the packages); otherwise, or when apt-get
 * fails, it prints one line naming them, and the tests that need them skip.
 * Then it builds the native recorder and `faultline record`'s helper if
 * `npm install` could not (no C compiler then), and dist/ again when a
 * source changed since it was built (scripts/build.ts), so the tests that
 * start bin/faultline.js run the built JavaScript of the sources as they are
 * (bin would fall back to tsx otherwise). It never fails the test run.
 */
import { existsSync } from 'node:fs';
import { locateUnicorn } from '../emu/library.ts';
import { canInstallPackages, installPackages } from '../lab/toolchain.ts';
import { lacks, missingPackages, TEST_PACKAGES } from '../test/helpers/system.ts';
import { buildNativeRecorder, nativeRecorderStale } from './native-recorder.ts';
import { buildStepper, STEPPER_PATH } from '../src/record/stepper-build.ts';
import { buildDist } from './build.ts';
import { distIsFresh } from '../bin/dist-fresh.js';

function say(line: string): void {
  process.stderr.write(`faultline: ${line}\n`);
}

let missing = missingPackages(TEST_PACKAGES);
const tried = missing.length > 0 && canInstallPackages();
if (tried) {
  installPackages(missing, say);
  missing = missingPackages(TEST_PACKAGES);
}
if (missing.length > 0) {
  const list = missing.join(' ');
  say(`${tried ? 'apt-get could not install' : 'missing'} ${list}: the tests that need them are skipped (apt-get install ${list})`);
}

const unicorn = locateUnicorn();
// Built again when emu/native/recorder.c is newer than the library (a checkout that added functions to it).
if (unicorn && nativeRecorderStale() && !lacks('gcc')) buildNativeRecorder(unicorn.path, say);
if (process.platform === 'linux' && process.arch === 'x64' && !existsSync(STEPPER_PATH) && !lacks('gcc')) buildStepper(say);
if (!distIsFresh()) buildDist(say);
