/**
 * Paths that are not regular files, and files too large to be a transcript:
 * one line naming the path, exit 2, at once (a FIFO used to block in open,
 * /dev/zero to be read forever, a directory to be an internal error).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRANSCRIPT_SIZE_LIMIT } from '../../src/dumps/transcript/loader.ts';
import { runCli } from '../cli/run-cli.ts';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'faultline-special-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `faultline info PATH`; expects one line on stderr and exit 2, quickly. */
async function refused(path: string): Promise<string> {
  const started = performance.now();
  const { code, out, err } = await runCli('info', path);
  expect(performance.now() - started).toBeLessThan(3000);
  expect(code).toBe(2);
  expect(out).toBe('');
  expect(err.trimEnd().split('\n')).toHaveLength(1);
  return err.trimEnd();
}

describe('faultline info on a path that is not a regular file', () => {
  it('a directory: "is a directory", naming it', async () => {
    expect(await refused(dir)).toBe(`faultline: ${dir}: Is a directory, not a file`);
  });

  it('a FIFO: refused without opening it (open would block)', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    expect(await refused(fifo)).toBe(`faultline: ${fifo}: Not a regular file (a FIFO)`);
  }, 10_000);

  it.skipIf(!existsSync('/dev/zero'))('/dev/zero: refused (it has no end)', async () => {
    expect(await refused('/dev/zero')).toBe('faultline: /dev/zero: Not a regular file (a character device)');
  }, 10_000);

  it('a transcript past the size limit: refused with its size, nothing read', async () => {
    const path = join(dir, 'huge.txt');
    writeFileSync(path, '1: kd> r\n');
    truncateSync(path, TRANSCRIPT_SIZE_LIMIT + 1); // sparse: no disk used
    const line = await refused(path);
    expect(line).toContain(`${path}: The file is ${TRANSCRIPT_SIZE_LIMIT + 1} bytes`);
    expect(line).toContain('256 MiB');
  });

  it('a file at the limit is still read as a transcript', async () => {
    const path = join(dir, 'small.txt');
    writeFileSync(path, '1: kd> r\neax=00000001 eip=8082e3e1 esp=f78aecac\n');
    const { code } = await runCli('info', path);
    expect(code).toBe(0);
  });
});

describe('other inputs that are files: a FIFO is refused, not opened', () => {
  it('trace --image FIFO@ADDR', async () => {
    const fifo = join(dir, 'image-fifo');
    execFileSync('mkfifo', [fifo]);
    const { code, err } = await runCli('trace', '--arch', 'x86', '--image', `${fifo}@0x1000`, '--from', '0x1000', '--count', '1');
    expect(code).toBe(2);
    expect(err).toBe(`faultline: Cannot open image ${fifo}: Not a regular file (a FIFO)\n`);
  }, 10_000);

  it('report FIFO --html', async () => {
    const fifo = join(dir, 'report-fifo');
    execFileSync('mkfifo', [fifo]);
    const { code, err } = await runCli('report', fifo, '--html', join(dir, 'out.html'));
    expect(code).toBe(2);
    expect(err).toBe(`faultline: ${fifo}: Not a regular file (a FIFO)\n`);
  }, 10_000);

  it('show FIFO', async () => {
    const fifo = join(dir, 'trace-fifo');
    execFileSync('mkfifo', [fifo]);
    const { code, err } = await runCli('show', fifo);
    expect(code).toBe(2);
    expect(err).toBe(`faultline: Cannot read trace ${fifo}: not a regular file\n`);
  }, 10_000);
});
