/**
 * Kernel dumps built by the independent builder (test/helpers/
 * kernel-dump-builder.ts), every DumpType × {x86, x86 PAE, x64}, read back:
 * header facts, the bugcheck and the trap frame it names, memory through
 * the page walk (rights, large pages, absent entries, the self-map), the
 * module list and export names, and `info --json`. Malformed headers, runs
 * past the end and looping page tables are one line and exit 2.
 */
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { va } from '../../../src/dumps/kernel/address.ts';
import { openKernelDump, type KernelDump } from '../../../src/dumps/kernel/open-kernel-dump.ts';
import { runCli } from '../../cli/run-cli.ts';
import { trapFrameBytes, writeKernelDump, type KernelArch, type KernelDumpSpec } from '../../helpers/kernel-dump-builder.ts';

const dir = mkdtempSync(join(tmpdir(), 'faultline-kernel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ARCHES: KernelArch[] = ['x86', 'x86-pae', 'x64'];
const TYPES = [1, 2, 4, 5, 6] as const;
const TYPE_NAMES = { 1: 'full', 2: 'kernel', 4: 'triage', 5: 'bitmap full', 6: 'bitmap kernel' };
const MACHINE = { x86: 'x86', 'x86-pae': 'x86 (PAE)', x64: 'x64' };

/** Addresses of one crash per architecture: code, stack, the trap frame inside the stack, a large page. */
function layout(arch: KernelArch) {
  const is64 = arch === 'x64';
  const code = is64 ? 0xfffff800_01234000n : 0x80834000n;
  const stack = is64 ? 0xfffff880_00a00000n : 0xf78ae000n;
  return {
    is64, code, stack, trap: stack + 0x800n,
    large: is64 ? 0xfffff800_40000000n : 0x84000000n,
    largeSize: arch === 'x86' ? 0x400000n : 0x200000n,
    pc: is64 ? 'rip' : 'eip', sp: is64 ? 'rsp' : 'esp',
    missing: is64 ? 0xfffff800_01236000n : 0x80836000n,
  };
}

/** A 0x8E bugcheck whose third parameter is a KTRAP_FRAME on the stack; the header's CONTEXT is inside KeBugCheckEx. */
function spec(arch: KernelArch, dumpType: KernelDumpSpec['dumpType'], extra: Partial<KernelDumpSpec> = {}): KernelDumpSpec {
  const l = layout(arch);
  const trapRegisters: Record<string, bigint> = l.is64
    ? { rax: 0x1111n, rcx: 0x2222n, rdx: 0x3333n, r8: 8n, r9: 9n, r10: 10n, r11: 11n, rbx: 0xbbn, rdi: 0xddn, rsi: 0x55n, rbp: l.stack + 0xf00n, rip: l.code + 0x10n, rsp: l.stack + 0x990n, cs: 0x10n, ss: 0x18n, efl: 0x10282n, ds: 0x2bn, es: 0x2bn, fs: 0x53n, gs: 0x2bn }
    : { eax: 0x1111n, ecx: 0x2222n, edx: 0x3333n, ebx: 0xbbn, esi: 0x55n, edi: 0xddn, ebp: l.stack + 0xf00n, eip: l.code + 0x10n, cs: 8n, efl: 0x282n, ds: 0x23n, es: 0x23n, fs: 0x30n, gs: 0n };
  const stackBytes = new Uint8Array(0x1000);
  stackBytes.set(trapFrameBytes(arch, trapRegisters), 0x800);
  const header: Record<string, bigint> = l.is64
    ? { rip: l.code + 0x100n, rsp: l.stack + 0x700n, rax: 0x8en, cs: 0x10n, ss: 0x18n, efl: 0x246n }
    : { eip: l.code + 0x100n, esp: l.stack + 0x700n, eax: 0x8en, cs: 8n, ss: 0x10n, efl: 0x246n };
  return {
    arch, dumpType, processors: 4, build: l.is64 ? 19041 : 3790,
    bugcheck: { code: 0x8en, parameters: [0xc0000005n, l.code + 0x10n, l.trap, 0n] },
    context: header,
    pages: [
      { va: l.code, bytes: Uint8Array.from([0x55, 0x8b, 0xec, 0x8b, 0x00, 0xcc]), execute: true },
      { va: l.code + 0x1000n, bytes: Uint8Array.from({ length: 0x1000 }, (_, i) => i & 0xff), execute: true },
      { va: l.stack, bytes: stackBytes, write: true },
    ],
    modules: [
      { file: 'ntoskrnl.exe', base: l.code - 0x34000n, size: 0x100000n, exports: [{ name: 'KeBugCheckEx', address: l.code }, { name: 'KiTrap0E', address: l.code + 0x1000n }] },
      { file: 'hal.dll', base: l.code + 0x200000n, size: 0x20000n },
      { file: 'kdcom.dll', base: l.code + 0x300000n, size: 0x8000n },
    ],
    triageStack: { address: l.stack, bytes: stackBytes },
    largePages: dumpType === 4 ? [] : [{ va: l.large, fill: [{ offset: 0x1234, bytes: Uint8Array.from([0xde, 0xad, 0xbe, 0xef]) }, { offset: 0, bytes: Uint8Array.of(1) }, { offset: Number(l.largeSize) - 1, bytes: Uint8Array.of(2) }] }],
    nonPresent: dumpType === 4 ? [] : [{ va: l.missing, entry: 0x0000_0abc_d000n | 0x800n }, { va: l.missing + 0x1000n, entry: 0x400n }],
    ...extra,
  };
}

function build(name: string, s: KernelDumpSpec): string {
  const path = join(dir, name);
  writeKernelDump(path, s);
  return path;
}

describe.each(ARCHES)('%s kernel dumps', (arch) => {
  const l = layout(arch);
  describe.each(TYPES)('DumpType %i', (dumpType) => {
    const path = build(`${arch}-${dumpType}.dmp`, spec(arch, dumpType));
    const dump: KernelDump = openKernelDump(path);
    afterAll(() => dump.close());

    it('reads the header', () => {
      expect(dump).toMatchObject({ format: 'kernel-dump', arch: l.is64 ? 'x64' : 'x86', os: 'windows' });
      expect(dump.machine).toMatchObject({ machine: MACHINE[arch], processors: 4, build: l.is64 ? 19041 : 3790, dumpType: TYPE_NAMES[dumpType] });
      expect(dump.fault).toMatchObject({ kind: 'bugcheck', code: 0x8en, parameters: [0xc0000005n, l.code + 0x10n, l.trap, 0n] });
    });

    it('starts from the trap frame the bugcheck names, then the header context', () => {
      const [trap, header] = dump.threads[0]!.contexts;
      expect(trap).toMatchObject({ kind: 'trap-frame', label: `.trap ${l.trap.toString(16)}`, address: l.trap });
      expect(trap!.registers[l.pc as 'eip']).toBe(l.code + 0x10n);
      expect(trap!.registers.eax ?? trap!.registers.rax).toBe(0x1111n);
      if (l.is64) {
        expect(trap!.registers.rsp).toBe(l.stack + 0x990n);
        expect(trap!.unknown).toEqual(['rbx', 'rsi', 'rdi', 'r12', 'r13', 'r14', 'r15']);
      } else {
        // A kernel-mode trap pushes no esp: it is the frame's HardwareEsp slot; ss is the kernel's, from the header.
        expect(trap!.registers.esp).toBe(l.trap + 0x74n);
        expect(trap!.registers.ss).toBe(0x10n);
        expect(trap!.registers.ebx).toBe(0xbbn);
        expect(trap!.unknown).toBeUndefined();
      }
      expect(header).toMatchObject({ kind: 'context' });
      expect(header!.registers[l.pc as 'eip']).toBe(l.code + 0x100n);
    });

    it('reads memory through the page tables (or the triage blocks)', () => {
      expect(dump.memory.read(l.code, 6)).toEqual(Uint8Array.from([0x55, 0x8b, 0xec, 0x8b, 0x00, 0xcc]));
      expect(dump.memory.read(l.code + 0xffen, 4)).toEqual(Uint8Array.from([0, 0, 0, 1]));
      expect(dump.memory.read(l.code + 0x2000n, 1)).toBeUndefined();
      const partial = dump.memory.readPartial!(l.code + 0x1ffen, 4);
      expect([...partial.known]).toEqual([1, 1, 0, 0]);
      expect(dump.memory.read(0x1000n, 4)).toBeUndefined();
    });

    it('names the modules as WinDbg does, with export symbols', () => {
      expect(dump.modules.map((m) => [m.name, m.base])).toEqual([['nt', l.code - 0x34000n], ['hal', l.code + 0x200000n], ['kdcom', l.code + 0x300000n]]);
      expect(dump.modules[0]!.path).toMatch(/\\ntoskrnl\.exe$/);
      // The module header pages are in the dump (triage: as data blocks), so their exports name code.
      expect(dump.symbols.format(l.code + 0x10n)).toBe('nt!KeBugCheckEx+0x10');
      expect(dump.symbols.format(l.code + 0x1004n)).toBe('nt!KiTrap0E+0x4');
      expect(dump.symbols.format(l.code + 0x200010n)).toBe('hal+0x10');
    });

    if (dumpType !== 4) {
      it('walks the page tables: rights, large pages, absent entries', () => {
        const walker = dump.walker!;
        const code = walker.translate(va(l.code + 5n))!;
        const stack = walker.translate(va(l.stack))!;
        expect(code.pageSize).toBe(0x1000n);
        expect(code.pa & 0xfffn).toBe(5n);
        expect(code.write).toBe(false);
        expect(stack.write).toBe(true);
        // Without PAE there is no NX bit: every page is executable.
        expect(stack.execute).toBe(arch === 'x86');
        expect(code.execute).toBe(true);
        expect(walker.translate(va(l.large + 0x1234n))!.pageSize).toBe(l.largeSize);
        expect(dump.memory.read(l.large + 0x1234n, 4)).toEqual(Uint8Array.from([0xde, 0xad, 0xbe, 0xef]));
        expect(dump.memory.read(l.large + l.largeSize - 1n, 1)).toEqual(Uint8Array.of(2));
        // Transition (bit 11) and prototype (bit 10) PTEs are not present: the memory is absent.
        expect(walker.translate(va(l.missing))).toBeUndefined();
        expect(walker.translate(va(l.missing + 0x1000n))).toBeUndefined();
        expect(dump.memory.read(l.missing, 1)).toBeUndefined();
      });

      it('lists held ranges and mapped regions without the self-map', () => {
        const ranges = dump.memory.ranges();
        expect(ranges.some((r) => r.start === l.code && r.end === l.code + 0x2000n)).toBe(true);
        expect(ranges.some((r) => r.start === l.stack)).toBe(true);
        const selfMap = arch === 'x64' ? [0xfffff680_00000000n, 0xfffff700_00000000n] : [0xc0000000n, 0xc0800000n];
        expect(ranges.some((r) => r.start >= selfMap[0]! && r.start < selfMap[1]!)).toBe(false);
        expect(dump.addressMap!.regions.find((r) => r.start <= l.stack && l.stack < r.end)).toMatchObject({ write: true });
      });

      it('still translates through the self-map entry', () => {
        // The top table seen through itself: x64 PML4 self-entry 0x1ed, x86 PDE 0x300, PAE PD3[3].
        const self = arch === 'x64' ? 0xfffff6fb_7dbed000n : arch === 'x86' ? 0xc0300000n : 0xc0603000n;
        const top = arch === 'x86-pae' ? undefined : dump.header.directoryTableBase;
        const where = dump.walker!.translate(va(self));
        expect(where).toBeDefined();
        if (top !== undefined) expect(where!.pa).toBe(top);
      });
    }

    it('answers info --json with the bugcheck and the machine', async () => {
      const { code, out } = await runCli('info', '--json', path);
      expect(code).toBe(0);
      const info = JSON.parse(out);
      expect(info.bugcheck).toEqual({ code: '0x8e', parameters: ['0xc0000005', `0x${(l.code + 0x10n).toString(16)}`, `0x${l.trap.toString(16)}`, '0x0'] });
      expect(info.machine).toMatchObject({ machine: MACHINE[arch], processors: 4, dumpType: TYPE_NAMES[dumpType] });
      expect(info.fault).toMatchObject({ kind: 'access-violation', pc: `0x${(l.code + 0x10n).toString(16)}`, codePresent: true });
      expect(info.modules.map((m: { name: string }) => m.name)).toEqual(['nt', 'hal', 'kdcom']);
    });
  });
});

describe('a 1 GiB page (x64)', () => {
  it('is walked at the PDPT', () => {
    const l = layout('x64');
    const path = build('x64-huge.dmp', spec('x64', 5, { largePages: [{ va: 0xfffff800_80000000n, huge: true, fill: [{ offset: 0x3fff_fff0, bytes: Uint8Array.of(7, 7) }] }] }));
    const dump = openKernelDump(path);
    expect(dump.walker!.translate(va(0xfffff800_bffffff0n))!.pageSize).toBe(0x4000_0000n);
    expect(dump.memory.read(0xfffff800_bffffff0n, 2)).toEqual(Uint8Array.of(7, 7));
    expect(dump.memory.read(l.code, 1)).toEqual(Uint8Array.of(0x55));
    dump.close();
  });
});

describe('the 0x50, 0x0A and 0xD1 bugchecks find the trap frame on the stack', () => {
  it.each(['x86-pae', 'x64'] as KernelArch[])('%s', (arch) => {
    const l = layout(arch);
    const base = spec(arch, 1);
    const path = build(`${arch}-0x50.dmp`, { ...base, bugcheck: { code: 0x50n, parameters: [0x10n, 0n, l.code + 0x10n, 0n] } });
    const dump = openKernelDump(path);
    expect(dump.threads[0]!.contexts[0]).toMatchObject({ kind: 'trap-frame', address: l.trap });
    dump.close();
  });
});

/** `bytes` with `value` written little-endian at `offset`. */
function patch(path: string, name: string, edits: [number, number | bigint, number][]): string {
  const bytes = new Uint8Array(readFileSync(path));
  const view = new DataView(bytes.buffer);
  for (const [offset, value, size] of edits) {
    if (size === 8) view.setBigUint64(offset, BigInt(value), true);
    else view.setUint32(offset, Number(value), true);
  }
  const out = join(dir, name);
  writeFileSync(out, bytes);
  return out;
}

async function oneLine(path: string, pattern: RegExp): Promise<void> {
  const { code, err, out } = await runCli('info', path);
  expect(out).toBe('');
  expect(code).toBe(2);
  expect(err.trim().split('\n')).toHaveLength(1);
  expect(err).toMatch(pattern);
}

describe('malformed kernel dumps: one line, exit 2', () => {
  const x64 = build('ok-x64-bitmap.dmp', spec('x64', 5));
  const x86 = build('ok-x86-full.dmp', spec('x86', 1));
  const triage = build('ok-x64-triage.dmp', spec('x64', 4));

  it('a wrong ValidDump', () => oneLine(patch(x64, 'valid.dmp', [[4, 0x41414141, 4]]), /Signature 'PAGEAAAA' is not PAGEDUMP or PAGEDU64/));
  it('an unknown DumpType', () => oneLine(patch(x64, 'type.dmp', [[0xf98, 3, 4]]), /DumpType 3 is not one faultline reads/));
  it('an unknown machine', () => oneLine(patch(x86, 'machine.dmp', [[0x20, 0x1c0, 4]]), /MachineImageType 0x1c0/));
  it('an impossible processor count', () => oneLine(patch(x64, 'cpus.dmp', [[0x34, 0xffffff, 4]]), /NumberProcessors 16777215/));
  it('a huge run count', () => oneLine(patch(x86, 'runs.dmp', [[0x64, 0xffffffff, 4]]), /NumberOfRuns 4294967295/));
  it('runs past the end of the file', () => {
    const cut = join(dir, 'cut.dmp');
    writeFileSync(cut, readFileSync(x86));
    truncateSync(cut, 0x3000);
    return oneLine(cut, /PhysicalMemoryBlock\.Run\[0\].*runs past the end of the file/);
  });
  it('a bitmap claiming 2^40 pages', () => oneLine(patch(x64, 'bits.dmp', [[0x2030, 1n << 40n, 8]]), /BMP_HEADER64\.Pages 0x10000000000 needs .* past the end of the file/));
  it('a bitmap header that is not one', () => oneLine(patch(x64, 'sdmp.dmp', [[0x2000, 0x41414141, 4]]), /Signature 'AAAA' is not 'SDMP' or 'FDMP'/));
  it('page data past the end', () => {
    const cut = join(dir, 'cut-bitmap.dmp');
    writeFileSync(cut, readFileSync(x64));
    truncateSync(cut, 0x5000);
    return oneLine(cut, /FirstPage .* past the end of the file/);
  });
  it('a truncated header', () => {
    const cut = join(dir, 'short.dmp');
    writeFileSync(cut, readFileSync(x64).subarray(0, 0x100));
    return oneLine(cut, /DUMP_HEADER64 needs 0x2000 bytes; the file is 256 bytes/);
  });
  it('triage data blocks without end', () => oneLine(patch(triage, 'blocks.dmp', [[0x2000 + 0x7c, 0xfffffff, 4]]), /DataBlocksCount 268435455/));
  it('a triage driver list past the end', () => oneLine(patch(triage, 'drivers.dmp', [[0x2000 + 0x30, 0x7ffffff0, 4]]), /TRIAGE_DUMP\.DriverCount .* past the end of the file/));
  it.each(ARCHES)('looping page tables (%s)', (arch) => oneLine(build(`loop-${arch}.dmp`, spec(arch, 5, { loopingTables: true })), /Page tables loop: the table at physical 0x[0-9a-f]+ is reached again/));

  it('a bitmap whose count disagrees is read with a warning', () => {
    const dump = openKernelDump(patch(x64, 'count.dmp', [[0x2028, 5, 8]]));
    expect(dump.notes.some((n) => n.level === 'warning' && /TotalPresentPages says 5 pages/.test(n.message))).toBe(true);
    dump.close();
  });
});
