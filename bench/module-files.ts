/**
 * What checking that a module file is the crashed build costs when a core
 * is opened: lldb's linux-x86_64.core opened bare and with its executable
 * (build id read from the core's first page and from the file, then
 * compared), and the thread_crash core bare and with `--sysroot /` (each
 * library of this machine tried and refused). Each case is opened and its
 * memory map listed `ROUNDS` times in this process; the figures are the
 * mean per open and the ratio to the bare open.
 *
 * @example
 * ```sh
 * node --import tsx bench/module-files.ts
 * ```
 */
import { fileURLToPath } from 'node:url';
import { openElfCore, type ElfCoreOptions } from '../src/dumps/elf/open-core.ts';

const ROUNDS = 200;
const LLDB = fileURLToPath(new URL('../test/fixtures/dumps/lldb/elf-core/', import.meta.url));

/** Mean milliseconds to open `core` with `options` and list its memory. */
function meanOpenMs(core: string, options: ElfCoreOptions): number {
  const once = (): void => {
    const dump = openElfCore(core, options);
    dump.memory.ranges();
    dump.close();
  };
  for (let i = 0; i < 10; i++) once();
  const start = process.hrtime.bigint();
  for (let i = 0; i < ROUNDS; i++) once();
  return Number(process.hrtime.bigint() - start) / 1e6 / ROUNDS;
}

const cases = [
  { name: 'linux-x86_64.core', core: `${LLDB}linux-x86_64.core`, checked: { binaries: [`${LLDB}linux-x86_64.out`] }, how: '--binary linux-x86_64.out (build id matched)' },
  { name: 'thread_crash/linux-x86_64.core', core: `${LLDB}thread_crash/linux-x86_64.core`, checked: { sysroot: '/' }, how: '--sysroot / (this machine\'s libraries tried, refused)' },
];
for (const c of cases) {
  const bare = meanOpenMs(c.core, {});
  const checked = meanOpenMs(c.core, c.checked);
  console.log(`${c.name}: bare ${bare.toFixed(3)} ms, ${c.how} ${checked.toFixed(3)} ms, ratio ${(checked / bare).toFixed(2)}×`);
}
