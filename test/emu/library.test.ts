import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { locateUnicorn, unicornInstallHint } from '../../emu/library.ts';

describe('finding Unicorn', () => {
  it('honours UNICORN_LIB, and says what is wrong when it names no file', () => {
    expect(locateUnicorn({ UNICORN_LIB: '/nonexistent/libunicorn.so.2' })).toBeUndefined();
    expect(unicornInstallHint({ UNICORN_LIB: '/nonexistent/libunicorn.so.2' })).toBe(
      'UNICORN_LIB names /nonexistent/libunicorn.so.2, which does not exist; point it at libunicorn.so.2 or unset it',
    );
  });

  it('finds the installed libunicorn.so.2 in the standard directories', () => {
    expect(locateUnicorn({})).toMatchObject({ how: 'standard path', path: expect.stringMatching(/libunicorn\.so(\.2)?$/) });
  });

  it('the CLI prints the hint as one line instead of crashing when Unicorn cannot be loaded', () => {
    const bin = new URL('../../bin/faultline.js', import.meta.url).pathname;
    let status = 0;
    let stderr = '';
    try {
      execFileSync(bin, ['demo'], { env: { ...process.env, UNICORN_LIB: '/nonexistent/libunicorn.so.2' }, stdio: 'pipe' });
    } catch (error) {
      status = (error as { status: number }).status;
      stderr = String((error as { stderr: Buffer }).stderr);
    }
    expect(status).toBe(1);
    expect(stderr).toBe('faultline: UNICORN_LIB names /nonexistent/libunicorn.so.2, which does not exist; point it at libunicorn.so.2 or unset it\n');
  });
});
