// Vitest runs each file in its own process: this one forces the JavaScript checks.
process.env.FAULTLINE_NO_NATIVE = '1';
const { afterEach, describe } = await import('vitest');
const { Emulator } = await import('../../emu/emulator.ts');
const { partialPageCases } = await import('./partial-page-cases.ts');

const open: Array<ReturnType<typeof Emulator.open>> = [];
afterEach(() => {
  while (open.length) open.pop()!.dispose();
});

describe('partly known pages (JavaScript checks)', () =>
  partialPageCases((arch) => {
    const emu = Emulator.open(arch);
    open.push(emu);
    return emu;
  }));
