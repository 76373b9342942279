/**
 * Finding libunicorn.so.2 (Unicorn 2): `UNICORN_LIB` first, then the standard
 * library directories. Used at run time by the FFI layer and at install time
 * by scripts/postinstall.ts, so both agree on what "found" means.
 *
 * @example
 * ```ts
 * const found = locateUnicorn(); // { path: '/usr/lib/x86_64-linux-gnu/libunicorn.so.2', how: 'standard path' }
 * ```
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface UnicornLocation {
  path: string;
  how: 'UNICORN_LIB' | 'standard path';
}

const FILE_NAMES: Record<string, string[]> = {
  linux: ['libunicorn.so.2', 'libunicorn.so'],
  darwin: ['libunicorn.2.dylib', 'libunicorn.dylib'],
  win32: ['unicorn.dll'],
};

const STANDARD_DIRS = [
  '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib/i386-linux-gnu',
  '/usr/lib64', '/usr/lib', '/usr/local/lib', '/usr/local/lib64',
  '/opt/homebrew/lib', '/usr/local/opt/unicorn/lib',
];

/** The Unicorn library to load, or undefined when none is found. */
export function locateUnicorn(env: NodeJS.ProcessEnv = process.env): UnicornLocation | undefined {
  const fromEnv = env.UNICORN_LIB;
  if (fromEnv) return existsSync(fromEnv) ? { path: fromEnv, how: 'UNICORN_LIB' } : undefined;
  const names = FILE_NAMES[process.platform] ?? FILE_NAMES.linux!;
  const extraDirs = (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  for (const dir of [...extraDirs, ...STANDARD_DIRS]) {
    for (const name of names) {
      const path = join(dir, name);
      if (existsSync(path)) return { path, how: 'standard path' };
    }
  }
  return undefined;
}

/** The one line that tells a user how to install Unicorn 2 on this machine. */
export function unicornInstallHint(env: NodeJS.ProcessEnv = process.env): string {
  if (env.UNICORN_LIB && !existsSync(env.UNICORN_LIB)) {
    return `UNICORN_LIB names ${env.UNICORN_LIB}, which does not exist; point it at libunicorn.so.2 or unset it`;
  }
  if (process.platform === 'darwin') return 'Unicorn 2 is not installed: run `brew install unicorn` (or set UNICORN_LIB to libunicorn.2.dylib)';
  const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  if (/^ID(_LIKE)?=.*(fedora|rhel|centos)/m.test(osRelease)) {
    return 'Unicorn 2 is not installed: run `sudo dnf install unicorn` (or set UNICORN_LIB to libunicorn.so.2)';
  }
  return 'Unicorn 2 is not installed: run `sudo apt-get install libunicorn2` (or set UNICORN_LIB to libunicorn.so.2)';
}
