/**
 * `npm install`'s last step: find Unicorn 2; on Debian/Ubuntu as root,
 * install `libunicorn2` when it is missing; otherwise print exactly what to
 * install. Then build the native recorder (emu/native/recorder.c) when a C
 * compiler is present. Never fails the install: faultline prints the same
 * hint at run time.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { locateUnicorn, unicornInstallHint } from '../emu/library.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

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

function buildRecorder(unicornPath: string): void {
  const source = join(root, 'emu', 'native', 'recorder.c');
  const outDir = join(root, 'build', 'native');
  const out = join(outDir, 'librecorder.so');
  const compiler = ['cc', 'gcc', 'clang'].find((cc) => spawnSync(cc, ['--version'], { stdio: 'ignore' }).status === 0);
  if (!compiler) {
    say('no C compiler found: tracing uses JavaScript hooks (slower); install gcc and re-run npm install for the native recorder');
    return;
  }
  mkdirSync(outDir, { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    execFileSync(compiler, ['-O2', '-shared', '-fPIC', '-o', tmp, source, `-L${dirname(unicornPath)}`, `-l:${unicornPath.split('/').pop()}`], { stdio: 'pipe' });
    renameSync(tmp, out);
    say(`built the native recorder (${out})`);
  } catch (error) {
    say(`could not build the native recorder, tracing uses JavaScript hooks: ${String((error as { stderr?: Buffer }).stderr ?? error).split('\n')[0]}`);
  }
}

const path = ensureUnicorn();
if (path) buildRecorder(path);
