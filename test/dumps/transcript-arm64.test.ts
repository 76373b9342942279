/**
 * ARM64 cdb sessions written the way WinDbg prints them: the register block
 * four a line (x0…x28, fp, lr, sp, then pc and psr with its NZCV letters
 * and exception level), listings that show each instruction as its 32-bit
 * word, and `dps`/`dq` with 64-bit values. The session below is lab/programs/
 * bugs.c (`null-vtable`) crashed under qemu-aarch64, as the lab writer
 * prints it; every expected value is what the text shows.
 */
import { describe, expect, it } from 'vitest';
import { loadTranscript } from '../../src/dumps/transcript/loader.ts';

const SESSION = `0:000> .exr -1
ExceptionAddress: 0000005500000da4 (bugs_arm64!draw+0x0000000000000004)
   ExceptionCode: c0000005 (Access violation)
  ExceptionFlags: 00000000
NumberParameters: 2
   Parameter[0]: 0000000000000000
   Parameter[1]: 0000000000000000
Attempt to read from address 0000000000000000
0:000> .ecxr
 x0=00000055000212a0   x1=0000000000000003   x2=0000000000000000   x3=0000000000000018
 x4=00000055000010be   x5=00000055000212a6   x6=000000006f2d6f6e   x7=0000000000000004
 x8=0000000073706f2d   x9=0000000000000000  x10=0000000000000000  x11=0000000000000000
x12=0000000000000038  x13=0000000002bc3100  x14=0000005502863000  x15=0000000000000003
x16=00000055029163d0  x17=0000005500020048  x18=000000000019c000  x19=0000005502821a15
x20=0000000000000000  x21=000000550001fdb8  x22=0000005500000900  x23=0000005502821770
x24=0000005502861b90  x25=0000000000000000  x26=0000005502862028  x27=000000550001fdb8
x28=0000000000000000   fp=00000055028215c0   lr=0000005500000a84   sp=00000055028215c0
 pc=0000005500000da4  psr=80000000 N--- EL0
bugs_arm64!draw+0x4:
00000055\`00000da4 f9400042 ldr         x2,[x2]
0:000> lm
start             end                 module name
00000055\`00000000 00000055\`00021000   bugs_arm64 (deferred)
00000055\`02822000 00000055\`02864000   ld_linux_aarch64_so (deferred)
00000055\`02880000 00000055\`02a2f000   libc_so    (deferred)
0:000> u @pc
bugs_arm64!draw+0x4:
00000055\`00000da4 f9400042 ldr         x2,[x2]
00000055\`00000da8 aa0203f0 mov         x16,x2
00000055\`00000dac d61f0200 br          x16
bugs_arm64!bug_uaf_perturb:
00000055\`00000db0 a9be7bfd stp         fp,lr,[sp,#-0x20]!
0:000> ub 00000055\`00000a84 L3
bugs_arm64!main+0x178:
00000055\`00000a78 93407c01 sxtw        x1,w0
00000055\`00000a7c 17fffff4 b           bugs_arm64!main+0x14c (00000055\`00000a4c)
00000055\`00000a80 940000f8 bl          bugs_arm64!bug_null_vtable (00000055\`00000e60)
0:000> dps @sp L2
00000055\`028215c0  00000055\`028215e0
00000055\`028215c8  00000055\`028a7780 libc_so!__libc_init_first+0x80
0:000> dq @x0 L4
00000055\`000212a0  00007370\`6f2d6f6e 00000000\`00000000
00000055\`000212b0  00000055\`00000d00 00000000\`00000000
`;

const le = (value: bigint, size: number): Uint8Array => Uint8Array.from({ length: size }, (_, i) => Number((value >> BigInt(8 * i)) & 0xffn));

describe('an ARM64 cdb session (.exr, .ecxr, lm, u, ub, dps, dq)', () => {
  const dump = loadTranscript('arm64.txt', SESSION);
  const [context] = dump.threads[0]!.contexts;

  it('is arm64, from the register block', () => {
    expect(dump.arch).toBe('arm64');
    expect(dump.fault).toMatchObject({ kind: 'exception', code: 0xc0000005n, address: 0x5500000da4n, parameters: [0n, 0n] });
  });

  it('reads x0..x28, fp as x29, lr as x30, sp, pc and the NZCV bits of psr', () => {
    expect(context).toMatchObject({ kind: 'context', label: '.ecxr' });
    expect(context!.registers).toEqual({
      x0: 0x55000212a0n, x1: 3n, x2: 0n, x3: 0x18n,
      x4: 0x55000010ben, x5: 0x55000212a6n, x6: 0x6f2d6f6en, x7: 4n,
      x8: 0x73706f2dn, x9: 0n, x10: 0n, x11: 0n,
      x12: 0x38n, x13: 0x2bc3100n, x14: 0x5502863000n, x15: 3n,
      x16: 0x55029163d0n, x17: 0x5500020048n, x18: 0x19c000n, x19: 0x5502821a15n,
      x20: 0n, x21: 0x550001fdb8n, x22: 0x5500000900n, x23: 0x5502821770n,
      x24: 0x5502861b90n, x25: 0n, x26: 0x5502862028n, x27: 0x550001fdb8n,
      x28: 0n, x29: 0x55028215c0n, x30: 0x5500000a84n, sp: 0x55028215c0n,
      pc: 0x5500000da4n, nzcv: 0x80000000n,
    });
    expect(dump.notes.filter((n) => n.level === 'warning')).toEqual([]);
  });

  it('stores each listed instruction word little-endian, as it lies in memory', () => {
    // f9400042 (ldr x2,[x2]) is 42 00 40 f9 in memory.
    expect(dump.memory.read(0x5500000da4n, 4)).toEqual(Uint8Array.of(0x42, 0x00, 0x40, 0xf9));
    expect(dump.memory.read(0x5500000da4n, 16)).toEqual(Uint8Array.of(0x42, 0x00, 0x40, 0xf9, 0xf0, 0x03, 0x02, 0xaa, 0x00, 0x02, 0x1f, 0xd6, 0xfd, 0x7b, 0xbe, 0xa9));
    expect(dump.memory.read(0x5500000a80n, 4)).toEqual(le(0x940000f8n, 4));
    expect(dump.memory.provenanceOf(0x5500000da4n)).toEqual({ source: '.ecxr', line: 20 });
    expect(dump.memory.ranges().find((r) => r.start === 0x5500000a78n)?.kind).toBe('code');
  });

  it('reads dps and dq as 64-bit little-endian values, as on x64', () => {
    expect(dump.memory.read(0x55028215c8n, 8)).toEqual(le(0x55028a7780n, 8));
    expect(dump.memory.read(0x55000212a0n, 32)).toEqual(Uint8Array.of(...le(0x73706f2d6f6en, 8), ...le(0n, 8), ...le(0x5500000d00n, 8), ...le(0n, 8)));
  });

  it('names addresses from the listing headers, references, dps and lm', () => {
    expect(dump.symbols.format(0x5500000da4n)).toBe('bugs_arm64!draw+0x4');
    expect(dump.symbols.resolve('bugs_arm64!bug_null_vtable')).toBe(0x5500000e60n);
    expect(dump.symbols.format(0x55028a7780n)).toBe('libc_so!__libc_init_first+0x80');
    expect(dump.symbols.format(0x5502830000n)).toBe('ld_linux_aarch64_so+0xe000');
    expect(dump.modules.map((m) => [m.name, m.base, m.size])).toEqual([
      ['bugs_arm64', 0x5500000000n, 0x21000n], ['ld_linux_aarch64_so', 0x5502822000n, 0x42000n], ['libc_so', 0x5502880000n, 0x1af000n],
    ]);
  });
});

describe('ARM64 details', () => {
  it('warns when the NZCV letters disagree with psr, keeping psr', () => {
    const text = SESSION.replace('psr=80000000 N--- EL0', 'psr=80000000 -Z-- EL0');
    const dump = loadTranscript('letters.txt', text);
    expect(dump.threads[0]!.contexts[0]!.registers.nzcv).toBe(0x80000000n);
    expect(dump.notes.filter((n) => n.level === 'warning').map((n) => n.message)).toEqual(['`.ecxr` shows nzcv=80000000 but its flag words say 40000000 (bits f0000000); keeping nzcv']);
  });

  it('reads `cpsr=` as WinDbg names it in some versions, and single-register `r` output', () => {
    const dump = loadTranscript('cpsr.txt', ['0:000> r pc, cpsr', ' pc=00007ff7a094a8a8  cpsr=60000000 -ZC- EL0', '0:000> r x0', 'x0=0000000000000078'].join('\n'));
    expect(dump.arch).toBe('arm64');
    expect(dump.threads[0]!.contexts.map((c) => c.registers)).toEqual([{ pc: 0x7ff7a094a8a8n, nzcv: 0x60000000n }, { x0: 0x78n }]);
  });

  it('takes a session with only ARM64 listings for arm64, by their operands', () => {
    const dump = loadTranscript('listing.txt', ['0:000> u 00007ff7`a094a8a0 L3', '00007ff7`a094a8a0 a9bf7bfd stp         fp,lr,[sp,#-0x10]!', '00007ff7`a094a8a4 910003fd mov         fp,sp', '00007ff7`a094a8a8 d43e0000 brk         #0xF000'].join('\n'));
    expect(dump.arch).toBe('arm64');
    expect(dump.memory.read(0x7ff7a094a8a8n, 4)).toEqual(Uint8Array.of(0x00, 0x00, 0x3e, 0xd4));
  });

  it('takes the machine a prompt names when the listing alone cannot tell', () => {
    const dump = loadTranscript('prompt.txt', ['0:000:ARM64> u 00007ff7`a094a8c0 L1', '00007ff7`a094a8c0 d65f03c0 ret'].join('\n'));
    expect(dump.arch).toBe('arm64');
    expect(dump.memory.read(0x7ff7a094a8c0n, 4)).toEqual(Uint8Array.of(0xc0, 0x03, 0x5f, 0xd6));
  });

  it('keeps x64 bytes in printed order, a 4-byte instruction included', () => {
    const dump = loadTranscript('x64.txt', ['0:000> u 00007ff6`2caf2535 L2', '00007ff6`2caf2535 4883ec20        sub     rsp,20h', '00007ff6`2caf2539 4883c448        add     rsp,48h'].join('\n'));
    expect(dump.arch).toBe('x64');
    expect(dump.memory.read(0x7ff62caf2535n, 8)).toEqual(Uint8Array.of(0x48, 0x83, 0xec, 0x20, 0x48, 0x83, 0xc4, 0x48));
  });

  it('rejects a block that mixes ARM64 and x64 names, with its line', () => {
    expect(() => loadTranscript('mixed.txt', '0:000> r\n x0=0000000000000001  rax=0000000000000002\n')).toThrow(/arm64 \(x0\) and x64 \(rax\)/);
  });
});
