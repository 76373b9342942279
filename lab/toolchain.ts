/**
 * What each lab architecture needs on this machine: a compiler, a way to run
 * the program (natively, or under qemu-user when the kernel cannot run it),
 * and a gdb that can drive it. Missing pieces are reported as the Debian
 * packages that provide them, and installed with apt-get when allowed.
 *
 * A kernel without IA32 emulation refuses i386 programs ("Exec format
 * error"); that is found by executing a 100-byte i386 program, not assumed.
 *
 * @example
 * ```ts
 * const tc = toolchainFor('x86'); // { cc: 'gcc', ccFlags: ['-m32'], runner: 'qemu', qemu: 'qemu-i386', gdb: 'gdb-multiarch', … }
 * if ('missing' in tc) console.error(`install ${tc.missing.join(' ')}`);
 * ```
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type LabArch = 'x64' | 'x86' | 'arm64';
export const LAB_ARCHES: readonly LabArch[] = ['x64', 'x86', 'arm64'];

export interface Toolchain {
  arch: LabArch;
  /** C compiler and the flags that select the architecture. */
  cc: string;
  ccFlags: string[];
  /** `native`: the kernel runs the program; `qemu`: qemu-user does, and writes the guest's core itself. */
  runner: 'native' | 'qemu';
  qemu?: string;
  /** Arguments qemu needs before the program (the target's library root). */
  qemuArgs: string[];
  /** The gdb that drives the program (and reads its core). */
  gdb: string;
  /** For gdb: where the target's shared libraries live (`set sysroot`). */
  sysroot?: string;
}

export interface MissingTools {
  arch: LabArch;
  /** Debian packages that provide what is missing. */
  missing: string[];
}

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** True when `gcc -m32` finds a 32-bit C library to link against. */
function hasMultilib(): boolean {
  if (!hasCommand('gcc')) return false;
  const r = spawnSync('gcc', ['-m32', '-print-file-name=libc.so'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim().startsWith('/');
}

/**
 * The smallest i386 program: exit(0) through int 0x80. An ELF32 header, one
 * PT_LOAD of the whole file at 0x08048000, and seven bytes of code.
 */
function tinyI386Program(): Uint8Array {
  const base = 0x08048000;
  const code = [0xb8, 0x01, 0x00, 0x00, 0x00, 0x31, 0xdb, 0xcd, 0x80]; // mov eax,1; xor ebx,ebx; int 0x80
  const headerSize = 52;
  const phSize = 32;
  const entry = base + headerSize + phSize;
  const size = headerSize + phSize + code.length;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]); // ELF, 32-bit, little endian, version 1
  view.setUint16(0x10, 2, true); // ET_EXEC
  view.setUint16(0x12, 3, true); // EM_386
  view.setUint32(0x14, 1, true);
  view.setUint32(0x18, entry, true);
  view.setUint32(0x1c, headerSize, true); // e_phoff
  view.setUint16(0x28, headerSize, true); // e_ehsize
  view.setUint16(0x2a, phSize, true);
  view.setUint16(0x2c, 1, true); // e_phnum
  const ph = headerSize;
  view.setUint32(ph + 0x00, 1, true); // PT_LOAD
  view.setUint32(ph + 0x04, 0, true); // p_offset
  view.setUint32(ph + 0x08, base, true);
  view.setUint32(ph + 0x0c, base, true);
  view.setUint32(ph + 0x10, size, true);
  view.setUint32(ph + 0x14, size, true);
  view.setUint32(ph + 0x18, 5, true); // R+X
  view.setUint32(ph + 0x1c, 0x1000, true);
  bytes.set(code, headerSize + phSize);
  return bytes;
}

let i386Cache: boolean | undefined;

/** True when this kernel executes i386 programs (IA32 emulation present). */
export function kernelRunsI386(): boolean {
  if (i386Cache !== undefined) return i386Cache;
  const dir = mkdtempSync(join(tmpdir(), 'faultline-i386-'));
  try {
    const path = join(dir, 'exit0');
    writeFileSync(path, tinyI386Program());
    chmodSync(path, 0o755);
    const r = spawnSync(path, [], { stdio: 'ignore', timeout: 5000 });
    i386Cache = r.error === undefined && r.status === 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return i386Cache;
}

const AARCH64_ROOT = '/usr/aarch64-linux-gnu';

/** The toolchain for `arch`, or the packages it lacks. */
export function toolchainFor(arch: LabArch): Toolchain | MissingTools {
  const missing = new Set<string>();
  const need = (ok: boolean, pkg: string) => {
    if (!ok) missing.add(pkg);
  };
  if (arch === 'x64') {
    need(hasCommand('gcc'), 'gcc');
    need(hasCommand('gdb'), 'gdb');
    if (missing.size) return { arch, missing: [...missing] };
    return { arch, cc: 'gcc', ccFlags: [], runner: 'native', qemuArgs: [], gdb: 'gdb' };
  }
  if (arch === 'x86') {
    need(hasCommand('gcc'), 'gcc');
    need(hasMultilib(), 'gcc-multilib');
    const native = kernelRunsI386();
    if (native) need(hasCommand('gdb'), 'gdb');
    else {
      need(hasCommand('qemu-i386'), 'qemu-user');
      need(hasCommand('gdb-multiarch'), 'gdb-multiarch');
    }
    if (missing.size) return { arch, missing: [...missing] };
    return native
      ? { arch, cc: 'gcc', ccFlags: ['-m32'], runner: 'native', qemuArgs: [], gdb: 'gdb' }
      : { arch, cc: 'gcc', ccFlags: ['-m32'], runner: 'qemu', qemu: 'qemu-i386', qemuArgs: [], gdb: 'gdb-multiarch' };
  }
  need(hasCommand('aarch64-linux-gnu-gcc') && existsSync(join(AARCH64_ROOT, 'lib')), 'gcc-aarch64-linux-gnu');
  need(hasCommand('qemu-aarch64'), 'qemu-user');
  need(hasCommand('gdb-multiarch'), 'gdb-multiarch');
  if (missing.size) return { arch, missing: [...missing] };
  return { arch, cc: 'aarch64-linux-gnu-gcc', ccFlags: [], runner: 'qemu', qemu: 'qemu-aarch64', qemuArgs: ['-L', AARCH64_ROOT], gdb: 'gdb-multiarch', sysroot: AARCH64_ROOT };
}

/**
 * Packages apt must install alone before the others: its resolver may refuse
 * `gcc-aarch64-linux-gnu` beside other packages until this is in place.
 */
const INSTALL_FIRST: Record<string, string> = { 'gcc-aarch64-linux-gnu': 'gcc-12-aarch64-linux-gnu' };

/** True when this process may install Debian packages (root, with apt-get). */
export function canInstallPackages(): boolean {
  return process.getuid?.() === 0 && hasCommand('apt-get') && process.env.FAULTLINE_NO_INSTALL !== '1';
}

/**
 * Installs `packages` with apt-get (one `apt-get update` first). Returns the
 * packages that still failed; progress goes to `log`.
 */
export function installPackages(packages: string[], log: (line: string) => void = () => {}): string[] {
  if (packages.length === 0) return [];
  if (!canInstallPackages()) return packages;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args: string[]) => spawnSync('apt-get', args, { env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 900_000 });
  log(`installing ${packages.join(' ')} with apt-get`);
  apt(['update', '-q']);
  const first = packages.map((p) => INSTALL_FIRST[p]).filter((p): p is string => p !== undefined);
  if (first.length) apt(['install', '-y', '-q', ...first]);
  const r = apt(['install', '-y', '-q', ...packages]);
  if (r.status === 0) return [];
  // One by one, so a package apt cannot resolve does not hold back the rest.
  return packages.filter((p) => apt(['install', '-y', '-q', p]).status !== 0);
}
