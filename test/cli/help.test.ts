import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.ts';

describe('--help and --version', () => {
  for (const command of [[], ['trace'], ['show'], ['info'], ['explain'], ['check'], ['demo'], ['report'], ['record'], ['diff'], ['replay-check'], ['decode-check'], ['batch'], ['fleet', 'report'], ['worker']]) {
    it(`faultline ${[...command, '--help'].join(' ')}`, async () => {
      const { code, out } = await runCli(...command, '--help');
      expect(code).toBe(0);
      expect(out).toMatchSnapshot();
    });
  }

  it('--version prints the package version', async () => {
    const { code, out } = await runCli('--version');
    expect(code).toBe(0);
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
