/**
 * fs and gs bases on 32-bit x86. In protected mode a segment's base comes
 * from its descriptor, so Unicorn ignores a written FS_BASE: kernel code
 * that reads `fs:[124h]` (the current thread) would read from address 0x124.
 * This builds a small GDT in a page of the null region (0xe000, which neither
 * Windows nor Linux maps) with flat code and data descriptors and one for
 * each base, and loads the selectors WinDbg shows for them.
 *
 * @example
 * ```ts
 * const segments = new X86Segments(emu);
 * segments.setBase('fs', 0xffdff000n); // mov eax, fs:[124h] now reads ffdff124
 * ```
 */
import { unicorn } from './ffi.ts';
import type { Emulator } from './emulator.ts';

/** Where the GDT lives: a page in the null region no OS maps. */
export const GDT_ADDRESS = 0xe000n;
const GDTR_ID = 243; // UC_X86_REG_GDTR
const SELECTOR_IDS = { ss: 49, ds: 17, es: 28, fs: 32, gs: 33 } as const;

// Entries: 1 = flat ring-0 code (0x08), 2 = flat ring-0 data (0x10), 6 = fs (0x30), 7 = gs (0x38).
const FS_INDEX = 6;
const GS_INDEX = 7;

/** An 8-byte segment descriptor: 32-bit, 4 KiB granularity, present, DPL 0. */
function descriptor(base: bigint, code: boolean): Uint8Array {
  const d = new Uint8Array(8);
  const limit = 0xfffff;
  const b = Number(base & 0xffff_ffffn);
  d[0] = limit & 0xff;
  d[1] = (limit >> 8) & 0xff;
  d[2] = b & 0xff;
  d[3] = (b >>> 8) & 0xff;
  d[4] = (b >>> 16) & 0xff;
  d[5] = code ? 0x9b : 0x93; // present, ring 0, code execute/read or data read/write, accessed
  d[6] = 0xc0 | ((limit >> 16) & 0x0f); // 4 KiB granularity, 32-bit
  d[7] = (b >>> 24) & 0xff;
  return d;
}

export class X86Segments {
  private readonly bases = { fs: 0n, gs: 0n };
  private installed = false;

  constructor(private readonly emu: Emulator) {}

  private selector(register: keyof typeof SELECTOR_IDS, value: number): void {
    const buffer = Buffer.alloc(8);
    buffer.writeUInt32LE(value);
    this.emu.check(unicorn().uc_reg_write(this.emu.engine, SELECTOR_IDS[register], buffer), `uc_reg_write(${register}=${value.toString(16)})`);
  }

  private install(): void {
    this.emu.map(GDT_ADDRESS, 0x1000);
    const gdt = new Uint8Array(8 * 8);
    gdt.set(descriptor(0n, true), 8 * 1);
    gdt.set(descriptor(0n, false), 8 * 2);
    this.emu.write(GDT_ADDRESS, gdt);
    // uc_x86_mmr: selector u16 @0, base u64 @8, limit u32 @16, flags u32 @20.
    const gdtr = Buffer.alloc(24);
    gdtr.writeBigUInt64LE(GDT_ADDRESS, 8);
    gdtr.writeUInt32LE(gdt.length - 1, 16);
    this.emu.check(unicorn().uc_reg_write(this.emu.engine, GDTR_ID, gdtr), 'uc_reg_write(gdtr)');
    this.selector('ss', 0x10);
    this.selector('ds', 0x10);
    this.selector('es', 0x10);
    this.installed = true;
  }

  /** Gives fs or gs the base `value` (the selector is reloaded so the CPU picks it up). */
  setBase(register: 'fs' | 'gs', value: bigint): void {
    if (!this.installed) this.install();
    this.bases[register] = value & 0xffff_ffffn;
    const index = register === 'fs' ? FS_INDEX : GS_INDEX;
    this.emu.write(GDT_ADDRESS + BigInt(8 * index), descriptor(this.bases[register], false));
    this.selector(register, index * 8);
  }

  base(register: 'fs' | 'gs'): bigint {
    return this.bases[register];
  }
}
