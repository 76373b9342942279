/**
 * The single-step recorder's native helper (src/record/native/stepper.c),
 * built with the system C compiler into `build/native/faultline-stepper`
 * (STEPPER_PATH): by `npm install` (scripts/postinstall.ts), by `npm test`'s
 * setup when a compiler arrived later, and by `faultline record` itself
 * when it finds no helper. Never throws: what happened goes to `say`.
 *
 * @example
 * ```ts
 * if (!existsSync(STEPPER_PATH)) buildStepper((line) => console.error(line));
 * ```
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PROJECT_ROOT as root } from '../../emu/project-root.ts';

/** Where the helper is built. */
export const STEPPER_PATH = join(root, 'build', 'native', 'faultline-stepper');
/** Its source. */
export const STEPPER_SOURCE = join(root, 'src', 'record', 'native', 'stepper.c');

/** Builds the helper; false (and a line to `say`) when there is no compiler or the build fails. */
export function buildStepper(say: (line: string) => void): boolean {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    say('faultline record needs Linux on x86-64: the single-step helper was not built');
    return false;
  }
  const compiler = ['cc', 'gcc', 'clang'].find((cc) => spawnSync(cc, ['--version'], { stdio: 'ignore' }).status === 0);
  if (!compiler) {
    say('no C compiler found: faultline record needs one to build its helper (apt-get install gcc, then npm install)');
    return false;
  }
  mkdirSync(dirname(STEPPER_PATH), { recursive: true });
  const tmp = `${STEPPER_PATH}.tmp-${process.pid}`;
  try {
    execFileSync(compiler, ['-O2', '-o', tmp, STEPPER_SOURCE], { stdio: 'pipe' });
    renameSync(tmp, STEPPER_PATH);
    say(`built the single-step helper (${STEPPER_PATH})`);
    return true;
  } catch (error) {
    say(`could not build the single-step helper: ${String((error as { stderr?: Buffer }).stderr ?? error).split('\n')[0]}`);
    return false;
  }
}
