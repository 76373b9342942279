/**
 * `faultline trace` on raw images in the three architectures, each output
 * format, `--out` + `show`, and bad input: one line, exit code 2.
 */
import { mkdtempSync, writeFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assemble } from '../helpers/assemble.ts';
import { lacks } from '../helpers/system.ts';
import { runCli } from './run-cli.ts';

let dir: string;
const file = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'faultline-cli-'));
  writeFileSync(file('data.bin'), Uint8Array.of(0x10, 0x20, 0x30, 0x40));
  if (!lacks('binutils')) {
    writeFileSync(file('x86.bin'), assemble('x86', 'mov eax, 5\npush eax\nmov ecx, [0x402000]\nadd eax, ecx\npop edx\nint3'));
    writeFileSync(file('x64.bin'), assemble('x64', 'mov rax, 0x1122334455667788\npush rax\npop rbx\nint3'));
  }
  if (!lacks('binutils-aarch64-linux-gnu')) {
    writeFileSync(file('arm64.bin'), assemble('arm64', 'mov x0, #7\nadd x1, x0, x0\nstr x1, [sp, #-16]!\nbrk #0'));
  }
  writeFileSync(file('state.json'), JSON.stringify({ arch: 'x86', registers: { esp: '0x7000', ebx: '0x11' } }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(lacks('binutils'))('trace', () => {
  it('x86: text like WinDbg, with changed registers and memory', async () => {
    const { code, out, err } = await runCli('trace', '--arch', 'x86', '--image', `${file('x86.bin')}@0x401000`, '--image', `${file('data.bin')}@0x402000`,
      '--regs', 'esp=0x7000', '--from', '0x401000', '--count', '10');
    expect(code).toBe(0);
    expect(out).toMatchSnapshot();
    expect(err).toBe('trapped: int 3 (vector 3), pc 00401010\n');
  });

  it('x86: JSON Lines and Tenet', async () => {
    const args = ['trace', '--arch', 'x86', '--image', `${file('x86.bin')}@0x401000`, '--image', `${file('data.bin')}@0x402000`, '--state', file('state.json'), '--from', '401000', '--until', '40100f'];
    const jsonl = await runCli(...args, '--format', 'jsonl');
    expect(jsonl.code).toBe(0);
    const lines = jsonl.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.pc).map((l) => l.pc)).toEqual(['0x401000', '0x401005', '0x401006', '0x40100c', '0x40100e']);
    const tenet = await runCli(...args, '--format', 'tenet');
    expect(tenet.code).toBe(0);
    expect(tenet.out).toMatchSnapshot();
  });

  it.skipIf(lacks('binutils-aarch64-linux-gnu'))('x64 and arm64', async () => {
    const x64 = await runCli('trace', '--arch', 'x64', '--image', `${file('x64.bin')}@0x140001000`, '--regs', 'rsp=0x7ff000', '--from', '0x140001000', '--count', '5');
    expect(x64.code).toBe(0);
    expect(x64.out).toContain('00000001`4000100a 50              push    rax');
    expect(x64.out).toContain('rbx=1122334455667788');
    const arm = await runCli('trace', '--arch', 'arm64', '--image', `${file('arm64.bin')}@0x400000`, '--regs', 'sp=0x7ff000', '--from', '400000', '--count', '5');
    expect(arm.code).toBe(0);
    expect(arm.out).toMatchSnapshot();
    expect(arm.err).toMatch(/^trapped: brk/);
  });

  it('--out writes a trace that show prints the same way', async () => {
    const out = file('run.fltrace');
    const args = ['trace', '--arch', 'x86', '--image', `${file('x86.bin')}@0x401000`, '--image', `${file('data.bin')}@0x402000`, '--regs', 'esp=0x7000', '--from', '0x401000', '--count', '10'];
    const direct = await runCli(...args);
    const saved = await runCli(...args, '--out', out);
    expect(saved.code).toBe(0);
    expect(saved.out).toBe('');
    expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
    const shown = await runCli('show', out);
    expect(shown.code).toBe(0);
    expect(shown.out).toBe(direct.out);
  });
});

describe.skipIf(lacks('binutils'))('show on an interrupted trace', () => {
  it('prints the valid prefix and says the trace was cut', async () => {
    const { readFileSync } = await import('node:fs');
    const out = file('cut.fltrace');
    await runCli('trace', '--arch', 'x86', '--image', `${file('x86.bin')}@0x401000`, '--image', `${file('data.bin')}@0x402000`, '--regs', 'esp=0x7000', '--from', '0x401000', '--count', '10', '--out', out);
    const whole = readFileSync(out);
    writeFileSync(out, whole.subarray(0, whole.length - 3));
    const shown = await runCli('show', out);
    expect(shown.code).toBe(0);
    expect(shown.out).toContain('00401000 b805000000      mov     eax,5');
    expect(shown.err).toMatch(/ends without its end record \(an interrupted run\)/);
  });
});

describe('bad input: one line naming the problem, exit code 2', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['an unknown register', ['--regs', 'exx=1'], /^faultline: Unknown register 'exx' for x86\n$/],
    ['a bad address', ['--from', '0xZZ'], /^faultline: Bad --from '0xZZ': expected a hex address/],
    ['a missing image', ['--image', '/nonexistent/code.bin@0x1000'], /^faultline: Cannot open image \/nonexistent\/code.bin: ENOENT\n$/],
    ['overlapping images', ['--image', 'OVERLAP'], /^faultline: Images overlap: .*x86.bin covers 00401000\.\.00401010 and .*x86.bin starts at 00401008\n$/],
    ['an unknown architecture', ['--arch', 'mips'], /^faultline: option '--arch <arch>' argument 'mips' is invalid/],
    ['no end condition', ['--count', 'DROP'], /^faultline: trace needs --until ADDR or --count N\n$/],
  ];
  for (const [what, change, expected] of cases) {
    it.skipIf(lacks('binutils'))(what, async () => {
      const args = ['trace', '--arch', 'x86', '--image', `${file('x86.bin')}@0x401000`, '--from', '0x401000', '--count', '5'];
      for (let i = 0; i < change.length; i += 2) {
        const flag = change[i]!;
        const value = change[i + 1]!;
        const at = args.indexOf(flag);
        if (value === 'OVERLAP') args.push('--image', `${file('x86.bin')}@0x401008`);
        else if (value === 'DROP') args.splice(at, 2);
        else if (at >= 0) args[at + 1] = value;
        else args.push(flag, value);
      }
      const { code, out, err } = await runCli(...args);
      expect(code).toBe(2);
      expect(out).toBe('');
      expect(err).toMatch(expected);
      expect(err.trim().split('\n')).toHaveLength(1);
    });
  }

  it('show on a file that is not a trace', async () => {
    writeFileSync(file('garbage.fltrace'), 'not a trace at all');
    const { code, err } = await runCli('show', file('garbage.fltrace'));
    expect(code).toBe(2);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(existsSync(file('garbage.fltrace'))).toBe(true);
  });
});
