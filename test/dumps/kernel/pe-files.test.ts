/**
 * `--binary` on a kernel dump: a real PE file (Tenet's boombox.exe, MIT,
 * test/fixtures/dumps/tenet) stands in for a module the dump lacks the code
 * of. Expected bytes are read from the file here with offsets from its own
 * section table (.text at rva 0x1000 / file 0x400, .rdata at 0x5000 /
 * 0x3e00, one DIR64 relocation block for page 0x5000).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Dump } from '../../../src/dumps/model.ts';
import { openDump } from '../../../src/dumps/open.ts';
import { runCli } from '../../cli/run-cli.ts';
import { writeKernelDump, type VirtualPage } from '../../helpers/kernel-dump-builder.ts';
import { MinidumpBuilder } from '../minidump/builder.ts';
import { tempFiles } from '../minidump/temp-files.ts';

const PE = new URL('../../fixtures/dumps/tenet/boombox/boombox.exe', import.meta.url).pathname;
const file = new Uint8Array(readFileSync(PE));
const view = new DataView(file.buffer);
const BASE = 0xfffff800_05000000n;
const IMAGE_BASE = view.getBigUint64(view.getUint32(0x3c, true) + 0x18 + 0x18, true);
const dir = mkdtempSync(join(tmpdir(), 'faultline-pe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** boombox.exe's own TimeDateStamp (IMAGE_FILE_HEADER + 4, after 'PE\0\0'). */
const STAMP = view.getUint32(view.getUint32(0x3c, true) + 8, true);

/** A kernel dump with boombox at BASE; its loader entry records `stamp` (the file's by default, 0 for none). */
function dump(name: string, options: { size?: bigint; header?: Uint8Array; text?: Uint8Array; stamp?: number } = {}): string {
  const pages: VirtualPage[] = [];
  if (options.header) pages.push({ va: BASE, bytes: options.header });
  if (options.text) pages.push({ va: BASE + 0x1000n, bytes: options.text, execute: true });
  pages.push({ va: 0xfffff880_00a00000n, bytes: new Uint8Array(16), write: true });
  const path = join(dir, name);
  writeKernelDump(path, {
    arch: 'x64', dumpType: 2,
    bugcheck: { code: 0xd1n, parameters: [0x10n, 2n, 0n, BASE + 0x1010n] },
    context: { rip: BASE + 0x1010n, rsp: 0xfffff880_00a00000n, cs: 0x10n, ss: 0x18n },
    pages,
    modules: [{ file: 'boombox.exe', base: BASE, size: options.size ?? 0xb000n, timeDateStamp: options.stamp ?? STAMP }],
  });
  return path;
}

const close = (d: Dump) => (d as Dump & { close(): void }).close();

describe('a PE module file fills the code a kernel dump lacks', () => {
  it('places headers and read-only sections at the module, relocated', async () => {
    const d = await openDump(dump('plain.dmp'), { binaries: [PE] });
    expect(d.memory.read(BASE + 0x1000n, 32)).toEqual(file.subarray(0x400, 0x420));
    expect(d.memory.provenanceOf(BASE + 0x1000n)).toEqual({ source: PE, offset: 0x400n, file: { path: PE, checkedBy: 'PE stamp' } });
    expect(d.memory.read(BASE, 2)).toEqual(Uint8Array.of(0x4d, 0x5a));
    // .data is writable: a file holds its value at load time, not at the crash.
    expect(d.memory.read(BASE + 0x7000n, 1)).toBeUndefined();
    // The DIR64 relocation at rva 0x51d0 moves by the load delta.
    const raw = view.getBigUint64(0x3e00 + 0x1d0, true);
    const moved = d.memory.read(BASE + 0x51d0n, 8)!;
    expect(new DataView(moved.buffer).getBigUint64(0, true)).toBe(BigInt.asUintN(64, raw + BASE - IMAGE_BASE));
    expect(d.notes.some((n) => /boombox\.exe gives boombox .* \(relocated\)/.test(n.message))).toBe(true);
    close(d);
  });

  it('keeps the dump\'s own bytes where it has them', async () => {
    const text = file.slice(0x400, 0x1400);
    text[0x10] ^= 0x04;
    const d = await openDump(dump('held.dmp', { text, header: file.slice(0, 0x400) }), { binaries: [PE] });
    expect(d.memory.read(BASE + 0x1010n, 1)![0]).toBe(file[0x410]! ^ 0x04);
    expect(d.memory.read(BASE + 0x2000n, 16)).toEqual(file.subarray(0x1400, 0x1410));
    close(d);
  });

  it('is not used when SizeOfImage or TimeDateStamp differ from the module\'s', async () => {
    const small = await openDump(dump('size.dmp', { size: 0xa000n }), { binaries: [PE] });
    expect(small.memory.read(BASE + 0x1000n, 1)).toBeUndefined();
    expect(small.notes.some((n) => /SizeOfImage 0xb000 is not the module's 0xa000; not used/.test(n.message))).toBe(true);
    close(small);
    const header = file.slice(0, 0x400);
    new DataView(header.buffer).setUint32(view.getUint32(0x3c, true) + 8, 0x12345678, true);
    const stamped = await openDump(dump('stamp.dmp', { header }), { binaries: [PE] });
    expect(stamped.memory.read(BASE + 0x1000n, 1)).toBeUndefined();
    expect(stamped.notes.some((n) => /TimeDateStamp 0x5645634a is not the 0x12345678/.test(n.message))).toBe(true);
    close(stamped);
    // The loader entry's stamp counts where the dump lacks the header; with neither stamp nor code, nothing shows the file is the build.
    const listed = await openDump(dump('listed.dmp', { stamp: 0x12345678 }), { binaries: [PE] });
    expect(listed.memory.read(BASE + 0x1000n, 1)).toBeUndefined();
    expect(listed.notes.map((n) => n.message)).toContain(`${PE} is not the boombox the dump ran: its TimeDateStamp 0x${STAMP.toString(16)} is not the 0x12345678 of the module's loader entry; not used`);
    close(listed);
    const unknown = await openDump(dump('unknown.dmp', { stamp: 0 }), { binaries: [PE] });
    expect(unknown.memory.read(BASE + 0x1000n, 1)).toBeUndefined();
    expect(unknown.files).toEqual([{ file: PE, for: 'boombox', used: false,
      message: `${PE} is not the boombox the dump ran: the dump records no TimeDateStamp for the module and holds none of its code to check it against; not used` }]);
    close(unknown);
  });

  it('lets info show the code at the pc', async () => {
    const path = dump('info.dmp');
    const without = JSON.parse((await runCli('info', '--json', path)).out);
    const withFile = JSON.parse((await runCli('info', '--json', '--binary', PE, path)).out);
    expect(without.fault).toMatchObject({ pc: `0x${(BASE + 0x1010n).toString(16)}`, codePresent: false });
    expect(withFile.fault).toMatchObject({ codePresent: true });
  });
});

describe('a PE module file and a Windows minidump: CodeView GUID and age', () => {
  // boombox.exe's debug directory (rva 0x5210, two entries), read by hand with Python's struct: its CODEVIEW entry's
  // 'RSDS' record at file offset 0x53a0 holds these GUID bytes as stored, age 6, and ...\x64\Release\boombox.pdb.
  const GUID = Uint8Array.from(Buffer.from('109f8f2efe06e345bcf254e3485fd6e5', 'hex'));
  const AGE = 6;
  const temp = tempFiles();
  const BASE_UM = 0x7ff6_00000000n;

  function minidump(name: string, pdb: { guid: Uint8Array; age: number }): string {
    const b = new MinidumpBuilder();
    b.systemInfo({ ProcessorArchitecture: 9, PlatformId: 2 });
    b.moduleList([{ base: BASE_UM, size: 0xb000, name: 'C:\\app\\boombox.exe', timestamp: STAMP, pdb: { ...pdb, file: 'boombox.pdb' } }]);
    b.memoryList([{ start: 0x1000n, bytes: new Uint8Array(16) }]);
    return temp.write(name, b.build());
  }

  it('fills the code when the GUID and age are the dump\'s', async () => {
    const d = await openDump(minidump('same.dmp', { guid: GUID, age: AGE }), { binaries: [PE] });
    expect(d.memory.read(BASE_UM + 0x1000n, 32)).toEqual(file.subarray(0x400, 0x420));
    expect(d.memory.provenanceOf(BASE_UM + 0x1000n)).toEqual({ source: PE, offset: 0x400n, file: { path: PE, checkedBy: 'CodeView' } });
    expect(d.files).toEqual([{ file: PE, for: 'boombox', used: true,
      message: `${PE} gives boombox at 0x7ff600000000 its headers, read-only sections (relocated) and exports where the dump lacks them: its CodeView GUID and age 2E8F9F1006FE45E3BCF254E3485FD6E56 are the dump's` }]);
    close(d);
  });

  it('refuses another build: same name, size and stamp, other age', async () => {
    const d = await openDump(minidump('other.dmp', { guid: GUID, age: AGE + 1 }), { binaries: [PE] });
    expect(d.memory.read(BASE_UM + 0x1000n, 1)).toBeUndefined();
    expect(d.files).toEqual([{ file: PE, for: 'boombox', used: false,
      message: `${PE} is not the boombox the dump ran: its CodeView GUID and age 2E8F9F1006FE45E3BCF254E3485FD6E56 ≠ dump's 2E8F9F1006FE45E3BCF254E3485FD6E57; not used` }]);
    close(d);
  });
});
