/**
 * `lm` in the forms WinDbg prints it, each read into modules (start, end,
 * name, and the image's path where one is shown): the DML link line above
 * the header, flag columns and symbol states, `lmv` details, a symbol path
 * wrapped onto a line of its own, `lmf` paths, and `lm m` with nothing after
 * the name. Lines are shaped after public sessions.
 */
import { describe, expect, it } from 'vitest';
import { loadTranscript } from '../../src/dumps/transcript/loader.ts';

const modulesOf = (lines: string[]) => {
  const dump = loadTranscript('lm.txt', lines.join('\n'));
  return { modules: dump.modules.map((m) => ({ name: m.name, base: m.base, size: m.size, path: m.path })), notes: dump.notes };
};

describe('lm forms', () => {
  it('lm with symbol states, a flag column and deferred modules', () => {
    const { modules, notes } = modulesOf([
      '0:000> lm',
      'start             end                 module name',
      '00007ff6`a2cb0000 00007ff6`a2cd6000   HelloWorld C (private pdb symbols)  C:\\ProgramData\\Dbg\\sym\\HelloWorld.pdb\\B9C97404AB58457C8C397E86E75C7798a\\HelloWorld.pdb',
      '00007ffb`87890000 00007ffb`87aaf000   ucrtbased   (deferred)             ',
      '00007ffb`cbba0000 00007ffb`cbe96000   KERNELBASE   (pdb symbols)          C:\\ProgramData\\Dbg\\sym\\kernelbase.pdb\\DFC28314D88FE97BC24F88F5A77E9F731\\kernelbase.pdb',
      '',
      'Unloaded modules:',
      '00007ffb`c0000000 00007ffb`c0010000   gone.dll',
    ]);
    // The paths shown are PDBs, not images: no module path from them.
    expect(modules).toEqual([
      { name: 'HelloWorld', base: 0x7ff6a2cb0000n, size: 0x26000n, path: undefined },
      { name: 'ucrtbased', base: 0x7ffb87890000n, size: 0x21f000n, path: undefined },
      { name: 'KERNELBASE', base: 0x7ffbcbba0000n, size: 0x2f6000n, path: undefined },
    ]);
    expect(notes).toEqual([]);
  });

  it('lmvm with the DML link line and the details under the module', () => {
    const { modules, notes } = modulesOf([
      '0:000> lmvm Flash',
      'Browse full module list',
      'start             end                 module name',
      '00007ffa`069a0000 00007ffa`08631000   Flash      (export symbols)       C:\\Windows\\System32\\Macromed\\Flash\\Flash.ocx',
      '    Loaded symbol image file: C:\\Windows\\System32\\Macromed\\Flash\\Flash.ocx',
      '    Image path: C:\\Windows\\System32\\Macromed\\Flash\\Flash.ocx',
      '    Image name: Flash.ocx',
      '    Browse all global symbols  functions  data',
      '    Timestamp:        Sun Apr 29 13:52:53 2018 (5AE55DB5)',
      '    CheckSum:         01B95981',
      '    ImageSize:        01C91000',
      '    File version:     29.0.0.171',
      '    Translations:     0409.04b0',
    ]);
    expect(modules).toEqual([{ name: 'Flash', base: 0x7ffa069a0000n, size: 0x1c91000n, path: 'C:\\Windows\\System32\\Macromed\\Flash\\Flash.ocx' }]);
    expect(notes).toEqual([]);
  });

  it('lmv of an ELF module, named the WinDbg way, with its image path', () => {
    const { modules } = modulesOf([
      '0:000> lmv m libc_so',
      'start             end                 module name',
      '00007f21`cf652000 00007f21`cf827000   libc_so    (deferred)',
      '    Image path: /usr/lib/x86_64-linux-gnu/libc.so.6',
      '    Image name: libc.so.6',
    ]);
    expect(modules).toEqual([{ name: 'libc_so', base: 0x7f21cf652000n, size: 0x1d5000n, path: '/usr/lib/x86_64-linux-gnu/libc.so.6' }]);
  });

  it('lm m with nothing after the name, and a symbol path wrapped onto its own line', () => {
    const { modules, notes } = modulesOf([
      '1: kd> lm m uaf_poc_raw',
      'start             end                 module name',
      '00007ff6`c4ac0000 00007ff6`c4b50000   uaf_poc_raw C (private pdb symbols)',
      '    C:\\ProgramData\\Dbg\\sym\\uaf_poc_raw.pdb\\98FF55704CE746D088177DD919A625DF1\\uaf_poc_raw.pdb',
      '1: kd> lm m UpdatePolicy',
      'start end module name',
      '00007ffe`02ee0000 00007ffe`02f1d000 UpdatePolicy',
    ]);
    expect(modules.map((m) => [m.name, m.base, m.size])).toEqual([['uaf_poc_raw', 0x7ff6c4ac0000n, 0x90000n], ['UpdatePolicy', 0x7ffe02ee0000n, 0x3d000n]]);
    expect(notes).toEqual([]);
  });

  it('lmf, whose last column is the image path', () => {
    const { modules } = modulesOf([
      '1: kd> lmf',
      'start    end        module name',
      '804d7000 806cd280   nt       \\WINDOWS\\system32\\ntkrnlpa.exe',
      '806ce000 806ee380   hal      \\WINDOWS\\system32\\hal.dll',
    ]);
    expect(modules.map((m) => [m.name, m.path])).toEqual([['nt', '\\WINDOWS\\system32\\ntkrnlpa.exe'], ['hal', '\\WINDOWS\\system32\\hal.dll']]);
  });
});
