import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.ts';

const fixture = (name: string) => new URL(`../fixtures/transcripts/${name}`, import.meta.url).pathname;

describe('explain, check, info, demo', () => {
  it('demo explains the bundled IPI transcript', async () => {
    const { code, out } = await runCli('demo');
    expect(code).toBe(0);
    expect(out).toContain('Verdict:   cpu-fault (branch-target), bit 2 (1→0), confidence high');
    expect(out).toContain('expected 8082e3e4, observed 8082e3e0');
    expect(out).toContain('80a5d8f6 call dword ptr [hal!_imp__KiIpiServiceRoutine (80a5b020)]');
  });

  it('explain --json has the documented verdict fields', async () => {
    const { code, out } = await runCli('explain', fixture('ipi-memory-corruption.txt'), '--json');
    expect(code).toBe(0);
    const report = JSON.parse(out);
    expect(report.schema).toBe('faultline/explain/2');
    expect(report.verdict).toMatchObject({ class: 'memory-corruption', location: 'memory', bit: 2, expected: '0x8082e3e4', observed: '0x8082e3e0' });
    expect(typeof report.verdict.confidence).toBe('number');
    for (const c of report.checks) expect(Object.keys(c)).toEqual(expect.arrayContaining(['what', 'status']));
  });

  it('check prints the evidence for a stated hypothesis', async () => {
    const { code, out } = await runCli('check', fixture('ipi-call-target-bitflip.txt'), '--hypothesis', 'bitflip:target@80a5d8f6:2');
    expect(code).toBe(0);
    expect(out).toMatch(/explains\s+bitflip:target@80a5d8f6:2\s+[-\d.]+\s+14 match/);
    expect(out).toContain('stated)');
  });

  it('check rejects a malformed hypothesis with exit code 2', async () => {
    const { code, err } = await runCli('check', fixture('ipi-call-target-bitflip.txt'), '--hypothesis', 'bitflip:target@80a5d8f6:99');
    expect(code).toBe(2);
    expect(err).toBe("faultline: Bad bit '99' in hypothesis 'bitflip:target@80a5d8f6:99': expected 0..31\n");
  });

  it('info lists the fault, the trap frame and where the memory came from', async () => {
    // A path relative to the repository (vitest's working directory) keeps the snapshot machine-independent.
    const { code, out } = await runCli('info', 'test/fixtures/transcripts/ipi-call-target-bitflip.txt');
    expect(code).toBe(0);
    expect(out).toMatchSnapshot();
  });

  it('a file that is not a dump: one line, exit code 2', async () => {
    const { code, err } = await runCli('explain', new URL('../../package.json', import.meta.url).pathname);
    expect(code).toBe(2);
    expect(err.trim().split('\n')).toHaveLength(1);
  });

  it('a missing dump: one line, exit code 2', async () => {
    const { code, err } = await runCli('info', '/nonexistent/crash.dmp');
    expect(code).toBe(2);
    expect(err).toBe('faultline: /nonexistent/crash.dmp: Cannot open the file (ENOENT)\n');
  });
});

describe('bad dumps through the CLI', () => {
  const dumps = ['breakpad/ascii_read_av.dmp', 'lldb/elf-core/linux-x86_64.core'];
  for (const name of dumps) {
    it(`${name} cut short: one line naming the file, exit code 2`, async () => {
      const { mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
      const { join } = await import('node:path');
      const { tmpdir } = await import('node:os');
      const bytes = readFileSync(new URL(`../fixtures/dumps/${name}`, import.meta.url));
      const dir = mkdtempSync(join(tmpdir(), 'faultline-cut-'));
      try {
        for (const length of [7, 64, 300, Math.floor(bytes.length / 2)]) {
          const path = join(dir, `cut-${length}`);
          writeFileSync(path, bytes.subarray(0, length));
          for (const command of ['info', 'explain']) {
            const { code, out, err } = await runCli(command, path);
            expect(code, `${command} ${path}: ${err}`).toBe(2);
            expect(out).toBe('');
            expect(err.startsWith(`faultline: ${path}`)).toBe(true);
            expect(err.trim().split('\n')).toHaveLength(1);
          }
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
