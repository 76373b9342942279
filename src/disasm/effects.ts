/**
 * Which registers an instruction reads and writes, explicit and implicit
 * (`push` writes rsp, `cmp` writes the flags, `stp … [sp,#-16]!` writes sp),
 * from Capstone's `cs_regs_access`, as faultline's register names: x86-64
 * sub-registers (eax, ax, al) name their full register, AArch64 w-registers
 * their x-register, the flags `efl` or `nzcv`.
 *
 * Capstone's AArch64 tables are coarser than its x86 ones (a store may list
 * the registers it stores as written); callers treat the lists as "may
 * read" and "may write".
 *
 * @example
 * ```ts
 * const effects = await createEffects('x64');
 * effects.of(Uint8Array.of(0x50), 0x1000n); // { read: ['rsp', 'rax'], written: ['rsp'] }
 * ```
 */
import { Capstone, Const } from 'capstone-wasm';
import type { Arch, RegisterName } from '../../emu/registers.ts';
import { capstoneModule, loadCapstoneOnce } from './disassembler.ts';

export interface InstructionEffects {
  read: RegisterName[];
  written: RegisterName[];
}

export interface Effects {
  /** The registers the instruction at the start of `bytes` reads and writes, or undefined when it does not decode. */
  of(bytes: Uint8Array, address: bigint): InstructionEffects | undefined;
  close(): void;
}

const X64_FULL: Record<string, RegisterName> = {};
for (const [full, names] of Object.entries({
  rax: ['eax', 'ax', 'al', 'ah'], rbx: ['ebx', 'bx', 'bl', 'bh'], rcx: ['ecx', 'cx', 'cl', 'ch'], rdx: ['edx', 'dx', 'dl', 'dh'],
  rsi: ['esi', 'si', 'sil'], rdi: ['edi', 'di', 'dil'], rbp: ['ebp', 'bp', 'bpl'], rsp: ['esp', 'sp', 'spl'],
})) {
  X64_FULL[full] = full as RegisterName;
  for (const n of names) X64_FULL[n] = full as RegisterName;
}
for (let i = 8; i < 16; i++) for (const suffix of ['', 'd', 'w', 'b']) X64_FULL[`r${i}${suffix}`] = `r${i}` as RegisterName;
X64_FULL.rflags = 'efl';
X64_FULL.eflags = 'efl';
X64_FULL.rip = 'rip';

const X86_FULL: Record<string, RegisterName> = {
  eax: 'eax', ax: 'eax', al: 'eax', ah: 'eax', ebx: 'ebx', bx: 'ebx', bl: 'ebx', bh: 'ebx', ecx: 'ecx', cx: 'ecx', cl: 'ecx', ch: 'ecx',
  edx: 'edx', dx: 'edx', dl: 'edx', dh: 'edx', esi: 'esi', si: 'esi', edi: 'edi', di: 'edi', ebp: 'ebp', bp: 'ebp', esp: 'esp', sp: 'esp',
  eflags: 'efl', eip: 'eip',
};

function arm64Name(name: string): RegisterName | undefined {
  if (name === 'fp' || name === 'x29' || name === 'w29') return 'x29';
  if (name === 'lr' || name === 'x30' || name === 'w30') return 'x30';
  if (name === 'sp' || name === 'wsp') return 'sp';
  if (name === 'nzcv') return 'nzcv';
  const m = /^[xw](\d+)$/.exec(name);
  return m && Number(m[1]) <= 28 ? (`x${m[1]}` as RegisterName) : undefined;
}

function nameOf(arch: Arch, name: string): RegisterName | undefined {
  if (arch === 'arm64') return arm64Name(name);
  return (arch === 'x64' ? X64_FULL : X86_FULL)[name];
}

/** Register effects for `arch`; the Capstone module is loaded on first use. */
export async function createEffects(arch: Arch): Promise<Effects> {
  await loadCapstoneOnce();
  if (!capstoneModule.getValue || !capstoneModule.HEAPU8) {
    throw new Error('capstone-wasm was loaded before faultline loaded it (its module object is empty): load faultline\'s disassembler first');
  }
  const capstone = arch === 'arm64' ? new Capstone(Const.CS_ARCH_ARM64, Const.CS_MODE_ARM) : new Capstone(Const.CS_ARCH_X86, arch === 'x64' ? Const.CS_MODE_64 : Const.CS_MODE_32);
  capstone.setOption(Const.CS_OPT_DETAIL, Const.CS_OPT_ON);
  const heap = () => capstoneModule.HEAPU8!;
  const getValue = capstoneModule.getValue;
  // Scratch space in wasm memory, allocated once: the insn pointer, two register arrays and their counts.
  const insnPointer = Capstone.call('malloc', 4);
  const readRegs = Capstone.call('malloc', 128);
  const writtenRegs = Capstone.call('malloc', 128);
  const counts = Capstone.call('malloc', 4);
  const cache = new Map<string, InstructionEffects | undefined>();
  const names = (pointer: number, count: number): RegisterName[] => {
    const out = new Set<RegisterName>();
    for (let i = 0; i < count; i++) {
      const name = nameOf(arch, capstone.getRegName(getValue(pointer + 2 * i, 'i16') & 0xffff));
      if (name) out.add(name);
    }
    return [...out];
  };
  let closed = false;
  return {
    of(bytes, address) {
      if (closed) throw new Error('effects used after close()');
      const key = Buffer.from(bytes.subarray(0, 16)).toString('hex');
      if (cache.has(key)) return cache.get(key);
      let effects: InstructionEffects | undefined;
      const n = bytes.length ? Capstone.call('cs_disasm', capstone.handle, bytes, bytes.length, address, 1, insnPointer) : 0;
      if (n > 0) {
        const insn = getValue(insnPointer, '*');
        if (Capstone.call('cs_regs_access', capstone.handle, insn, readRegs, counts, writtenRegs, counts + 1) === 0) {
          effects = { read: names(readRegs, heap()[counts]!), written: names(writtenRegs, heap()[counts + 1]!) };
        }
        Capstone.call('cs_free', insn, 1);
      }
      // Register effects do not depend on the address for the instructions that matter here.
      cache.set(key, effects);
      return effects;
    },
    close() {
      if (closed) return;
      closed = true;
      for (const p of [insnPointer, readRegs, writtenRegs, counts]) Capstone.call('free', p);
      capstone.close();
    },
  };
}
