/**
 * What this machine has for the tests that run system tools, as the Debian
 * packages that provide them. A test that needs a tool skips when its
 * package is missing (`npm test`'s setup step, scripts/test-setup.ts,
 * installs them when it can and names them in one line when it cannot).
 *
 * Each package is checked by what the tests use, not by dpkg: `gcc-multilib`
 * is present when `gcc -m32` finds a 32-bit C library, whichever package
 * brought it. `FAULTLINE_TEST_MISSING` ("gdb zstd", spaces or commas) names
 * packages to treat as missing, to see what skips without them.
 *
 * @example
 * ```ts
 * describe.skipIf(lacks('zstd'))('zstd cores', () => { … });
 * it.skipIf(toolchainMissing('x86').length > 0)('an x86 core', async () => { … });
 * missingPackages(TEST_PACKAGES); // e.g. ['gcc-multilib', 'lz4']
 * ```
 */
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { toolchainFor, type LabArch, type Toolchain } from '../../lab/toolchain.ts';

/** Every Debian package a test uses. */
export const TEST_PACKAGES = [
  'gcc', 'binutils', 'gcc-multilib', 'binutils-aarch64-linux-gnu', 'gcc-aarch64-linux-gnu',
  'gdb', 'gdb-multiarch', 'qemu-user', 'zstd', 'xz-utils', 'lz4', 'chromium', 'redis-server', 'postgresql',
] as const;
export type TestPackage = (typeof TEST_PACKAGES)[number];

/** True when `name` is an executable file in a directory of PATH. */
function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir || '.', name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Where Debian's `postgresql` keeps initdb and postgres (/usr/lib/postgresql/VERSION/bin, not on PATH): the
 * newest version's, or undefined.
 */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  return versions.map((v) => join(root, v, 'bin')).find((bin) => existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres')));
}

/** What the lab's toolchain check says `arch` lacks (it knows a 32-bit libc and a cross root, not only commands). */
function labMissing(arch: LabArch): string[] {
  const toolchain = toolchainFor(arch);
  return 'missing' in toolchain ? toolchain.missing : [];
}

const PRESENT: Record<TestPackage, () => boolean> = {
  gcc: () => onPath('gcc'),
  binutils: () => onPath('as') && onPath('objcopy'),
  'gcc-multilib': () => !labMissing('x86').includes('gcc-multilib'),
  'binutils-aarch64-linux-gnu': () => onPath('aarch64-linux-gnu-as') && onPath('aarch64-linux-gnu-objcopy'),
  'gcc-aarch64-linux-gnu': () => !labMissing('arm64').includes('gcc-aarch64-linux-gnu'),
  gdb: () => onPath('gdb'),
  'gdb-multiarch': () => onPath('gdb-multiarch'),
  'qemu-user': () => onPath('qemu-i386') && onPath('qemu-aarch64'),
  zstd: () => onPath('zstd'),
  'xz-utils': () => onPath('xz'),
  lz4: () => onPath('lz4'),
  // The HTML report tests drive it through playwright-core (test/report/html.test.ts).
  chromium: () => onPath('chromium'),
  // The queue tests start their own server on a free loopback port (test/fleet/queue.test.ts).
  'redis-server': () => onPath('redis-server'),
  // The PostgreSQL store test starts its own server in a temporary directory (test/fleet/postgres.test.ts).
  postgresql: () => postgresBinDir() !== undefined,
};

/** The packages FAULTLINE_TEST_MISSING names. */
function pretendMissing(): Set<string> {
  return new Set((process.env.FAULTLINE_TEST_MISSING ?? '').split(/[\s,]+/).filter(Boolean));
}

/** The packages among `packages` this machine lacks, checked now. */
export function missingPackages(packages: readonly TestPackage[]): TestPackage[] {
  const pretend = pretendMissing();
  return packages.filter((p) => pretend.has(p) || !PRESENT[p]());
}

/** True when any of `packages` is missing: for `describe.skipIf` and `it.skipIf`. */
export function lacks(...packages: TestPackage[]): boolean {
  return missingPackages(packages).length > 0;
}

/** The packages a working lab toolchain uses. */
function packagesOf(toolchain: Toolchain): TestPackage[] {
  return [
    toolchain.cc === 'gcc' ? 'gcc' : 'gcc-aarch64-linux-gnu',
    ...(toolchain.ccFlags.includes('-m32') ? ['gcc-multilib' as const] : []),
    ...(toolchain.runner === 'qemu' ? ['qemu-user' as const] : []),
    toolchain.gdb === 'gdb' ? 'gdb' : 'gdb-multiarch',
  ];
}

/**
 * The packages the lab toolchain for `arch` lacks: what builds, runs and
 * debugs its programs here (x86 takes qemu-user and gdb-multiarch when the
 * kernel cannot run i386 programs).
 */
export function toolchainMissing(arch: LabArch): string[] {
  const toolchain = toolchainFor(arch);
  return 'missing' in toolchain ? toolchain.missing : missingPackages(packagesOf(toolchain));
}
