/**
 * Builds the native trace recorder (emu/native/recorder.c) into
 * `build/native/librecorder.so` (NATIVE_RECORDER_PATH) with the system C compiler, linked against
 * the Unicorn at `unicornPath`. `npm install` runs it (scripts/postinstall.ts),
 * and so does `npm test`'s setup when a compiler arrived after the install.
 * Never throws: what happened goes to `say`.
 *
 * @example
 * ```ts
 * buildNativeRecorder('/usr/lib/x86_64-linux-gnu/libunicorn.so.2', (line) => console.error(line));
 * ```
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NATIVE_RECORDER_PATH } from '../emu/native.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** True when the recorder library is missing or older than its source. */
export function nativeRecorderStale(): boolean {
  if (!existsSync(NATIVE_RECORDER_PATH)) return true;
  return statSync(join(root, 'emu', 'native', 'recorder.c')).mtimeMs > statSync(NATIVE_RECORDER_PATH).mtimeMs;
}

/** Builds the recorder; false (and a line to `say`) when there is no compiler or the build fails. */
export function buildNativeRecorder(unicornPath: string, say: (line: string) => void): boolean {
  const source = join(root, 'emu', 'native', 'recorder.c');
  const compiler = ['cc', 'gcc', 'clang'].find((cc) => spawnSync(cc, ['--version'], { stdio: 'ignore' }).status === 0);
  if (!compiler) {
    say('no C compiler found: tracing uses JavaScript hooks (slower); install gcc and re-run npm install for the native recorder');
    return false;
  }
  mkdirSync(dirname(NATIVE_RECORDER_PATH), { recursive: true });
  const tmp = `${NATIVE_RECORDER_PATH}.tmp-${process.pid}`;
  try {
    execFileSync(compiler, ['-O2', '-shared', '-fPIC', '-pthread', '-o', tmp, source, `-L${dirname(unicornPath)}`, `-l:${unicornPath.split('/').pop()}`], { stdio: 'pipe' });
    renameSync(tmp, NATIVE_RECORDER_PATH);
    say(`built the native recorder (${NATIVE_RECORDER_PATH})`);
    return true;
  } catch (error) {
    say(`could not build the native recorder, tracing uses JavaScript hooks: ${String((error as { stderr?: Buffer }).stderr ?? error).split('\n')[0]}`);
    return false;
  }
}
