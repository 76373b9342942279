/**
 * `npm install`'s last step: find Unicorn 2; on Debian/Ubuntu as root,
 * install `libunicorn2` when it is missing; otherwise print exactly what to
 * install. Then build the native recorder (scripts/native-recorder.ts) when
 * a C compiler is present, and `faultline record`'s single-step helper
 * (src/record/stepper-build.ts), and the JavaScript in dist/ that
 * bin/faultline.js runs (scripts/build.ts). Never fails the install: faultline prints the same
 * hint at run time.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { locateUnicorn, unicornInstallHint } from '../emu/library.ts';
import { buildNativeRecorder } from './native-recorder.ts';
import { buildStepper } from '../src/record/stepper-build.ts';
import { buildDist } from './build.ts';

function say(line: string): void {
  process.stderr.write(`faultline: ${line}\n`);
}

function canAptInstall(): boolean {
  return process.platform === 'linux' && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get') && !process.env.FAULTLINE_NO_APT;
}

function ensureUnicorn(): string | undefined {
  let found = locateUnicorn();
  if (!found && canAptInstall()) {
    say('Unicorn 2 not found; installing libunicorn2 with apt-get');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let result = spawnSync('apt-get', ['install', '-y', '-q', 'libunicorn2'], { stdio: 'inherit', env });
    if (result.status !== 0) {
      spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
      result = spawnSync('apt-get', ['install', '-y', '-q', 'libunicorn2'], { stdio: 'inherit', env });
    }
    found = locateUnicorn();
  }
  if (!found) {
    say(unicornInstallHint());
    return undefined;
  }
  say(`using Unicorn at ${found.path} (${found.how})`);
  return found.path;
}

// The built JavaScript bin/faultline.js runs (scripts/build.ts); without it, bin runs the sources through tsx.
buildDist(say);
const path = ensureUnicorn();
if (path) buildNativeRecorder(path, say);
if (process.platform === 'linux' && process.arch === 'x64') buildStepper(say);
