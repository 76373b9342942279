/**
 * The exhaustive single-bit search of `faultline explain` over a
 * 100-instruction window (issue target: under 2 s). The case is made here:
 * straight-line x86 code with loads, arithmetic and pushes, ending in
 * `call dword ptr [slot]` whose target loses bit 2 and lands on `int 3`
 * filler. The emulator computes the end state, which becomes a WinDbg
 * transcript (`.bugcheck`, `.trap`, `u`, `dps`, `dd`) that explain reads
 * like any other.
 *
 * @example
 * ```ts
 * const m = await measureExplainSearch(); // { instructions: 100, candidates: 28xxx, searchMs: …, verdict: 'cpu-fault' }
 * ```
 */
import { Emulator } from '../emu/emulator.ts';
import { explain } from '../src/analysis/explain.ts';
import { createDisassembler } from '../src/disasm/disassembler.ts';
import { loadTranscript } from '../src/dumps/transcript/loader.ts';
import { assemble } from '../test/helpers/assemble.ts';

const CODE = 0x80a50000n;
const DATA = 0x80a5c000n;
const SLOT = 0x80a5b020n;
const TARGET = 0x8082e3e4n;
const LANDING = 0x8082e3e0n;
const STACK_TOP = 0xf78aecc0n;

/**
 * 96 straight-line instructions then `push 0; push ebp; push esi; call [slot]`:
 * 100 in all. Every register is loaded from known memory before it is used,
 * so the end state follows from the dump alone (as in real code whose
 * inputs are on the stack or in globals).
 */
function windowSource(): string {
  const body: string[] = ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi'].map((r, i) => `mov ${r}, dword ptr [${DATA + BigInt(0x40 + 4 * i)}]`);
  const forms = [
    (k: number) => `mov edx, dword ptr [${DATA + BigInt(4 * (k % 16))}]`,
    () => 'add eax, edx',
    () => 'xor ecx, eax',
    () => 'lea esi, [eax + ecx*2 + 4]',
    () => 'sub edi, esi',
    () => 'rol eax, 3',
    () => 'imul ecx, ecx, 7',
    () => 'mov ebx, ecx',
  ];
  for (let k = 0; body.length < 96; k++) body.push(forms[k % forms.length]!(k));
  return [...body, 'push 0', 'push ebp', 'push esi', `call dword ptr [${SLOT}]`].join('\n');
}

const hex8 = (v: bigint) => (v & 0xffff_ffffn).toString(16).padStart(8, '0');

/** Builds the transcript of a machine that ran the window and lost bit 2 of the call target. */
export async function buildSearchTranscript(): Promise<{ text: string; instructions: number }> {
  const code = assemble('x86', `.org 0\n${windowSource()}`);
  const disassembler = await createDisassembler('x86');
  const emu = Emulator.open('x86');
  const data = Uint8Array.from({ length: 0x60 }, (_, i) => (i * 37 + 11) & 0xff);
  try {
    emu.mapBytes(CODE, code);
    emu.mapBytes(DATA, data);
    emu.map((STACK_TOP & ~0xfffn) - 0x1000n, 0x2000);
    emu.mapBytes(SLOT & ~0xfffn, new Uint8Array(0x1000));
    emu.writeValue(SLOT, 4, TARGET);
    emu.mapBytes(LANDING & ~0xfffn, new Uint8Array(0x1000).fill(0xcc));
    const start = { eax: 0x12345678n, ebx: 0x9abcdef0n, ecx: 0x0badf00dn, edx: 0x11111111n, esi: 0x22222222n, edi: 0x33333333n, ebp: STACK_TOP, esp: STACK_TOP - 0x20n, efl: 0x202n };
    emu.writeRegisters(start);
    const callAt = CODE + BigInt(code.length - 6);
    emu.run({ from: CODE, until: callAt, maxInstructions: 200 });
    emu.run({ count: 1, maxInstructions: 1 });
    emu.writeRegister('eip', LANDING); // the CPU drops bit 2 of 8082e3e4
    const trap = emu.run({ maxInstructions: 10 });
    if (trap.kind !== 'trapped') throw new Error(`The bench case did not trap: ${trap.kind}`);
    const r = emu.readRegisters();
    const lines: string[] = [];
    lines.push('1: kd> .bugcheck', 'Bugcheck code 0000008E', `Arguments 80000003 ${hex8(LANDING)} f78aec38 00000000`);
    lines.push('1: kd> .trap f78aec38', 'ErrCode = 00000000');
    lines.push(`eax=${hex8(r.eax!)} ebx=${hex8(r.ebx!)} ecx=${hex8(r.ecx!)} edx=${hex8(r.edx!)} esi=${hex8(r.esi!)} edi=${hex8(r.edi!)}`);
    lines.push(`eip=${hex8(r.eip!)} esp=${hex8(r.esp!)} ebp=${hex8(r.ebp!)} iopl=0 nv up ei pl nz na po nc`);
    lines.push(`cs=0008 ss=0010 ds=0023 es=0023 fs=0030 gs=0000 efl=${hex8(r.efl!)}`);
    lines.push(`1: kd> u ${hex8(CODE)} l${100}`, 'bench!Window:');
    for (let offset = 0; offset < code.length;) {
      const insn = disassembler.decode(code.subarray(offset), CODE + BigInt(offset))!;
      lines.push(`${hex8(CODE + BigInt(offset))} ${Buffer.from(code.subarray(offset, offset + insn.size)).toString('hex')} ${insn.text.replace(/\s+/, ' ')}`);
      offset += insn.size;
    }
    lines.push(`1: kd> ub ${hex8(LANDING + 1n)} l3`, 'nt!Filler+0x1:');
    for (const at of [LANDING - 2n, LANDING - 1n, LANDING]) lines.push(`${hex8(at)} cc int 3`);
    lines.push(`1: kd> dps ${hex8(r.esp!)} l8`);
    for (let i = 0n; i < 8n; i++) lines.push(`${hex8(r.esp! + 4n * i)} ${hex8(emu.readValue(r.esp! + 4n * i, 4))}`);
    lines.push(`1: kd> dd ${hex8(SLOT)} l 1`, `${hex8(SLOT)} ${hex8(TARGET)}`);
    lines.push(`1: kd> dd ${hex8(DATA)} l18`);
    for (let i = 0; i < 24; i += 4) {
      const words = [0, 1, 2, 3].map((k) => hex8(emu.readValue(DATA + BigInt(4 * (i + k)), 4)));
      lines.push(`${hex8(DATA + BigInt(4 * i))}  ${words.join(' ')}`);
    }
    return { text: `${lines.join('\n')}\n`, instructions: 100 };
  } finally {
    emu.dispose();
  }
}

export interface SearchMeasurement {
  instructions: number;
  candidates: number;
  searchMs: number;
  totalMs: number;
  verdict: string;
  bit?: number;
}

export async function measureExplainSearch(): Promise<SearchMeasurement> {
  const { text, instructions } = await buildSearchTranscript();
  const dump = loadTranscript('bench-window.txt', text);
  const report = await explain(dump, { windowInstructions: 100 });
  if (report.window?.instructions.length !== instructions) {
    throw new Error(`The bench window has ${report.window?.instructions.length} instructions, expected ${instructions}`);
  }
  if (report.verdict.class !== 'cpu-fault' || report.verdict.bit !== 2) {
    throw new Error(`explain did not find the bench's bit flip: ${report.verdict.class} ${report.verdict.summary}`);
  }
  return { instructions, candidates: report.searched, searchMs: report.timings.searchMs, totalMs: report.timings.totalMs, verdict: report.verdict.class, bit: report.verdict.bit };
}
