/**
 * Builds `TraceBatch`es from a readable list of instructions, without the
 * trace codec, so format tests compare the codec against data written out
 * by hand.
 *
 * @example
 * ```ts
 * const batch = batchOf(0, [{ pc: 0x1000n, bytes: [0xcc], regs: [[0, 1n]] }]);
 * ```
 */
import type { TraceBatch, TraceEvent, TraceHeader } from '../../traces/model.ts';

export interface InsnSpec {
  pc: bigint;
  /** Instruction bytes; stored in the batch's code map unless `storeCode` is false. */
  bytes: number[];
  /** [index in header.registers, value after the instruction]. */
  regs?: Array<[number, bigint]>;
  mem?: Array<{ kind: 'read' | 'write'; address: bigint; size: number; value: bigint }>;
  storeCode?: boolean;
}

/** A batch holding `insns`, the first numbered `first`. */
export function batchOf(first: number, insns: InsnSpec[], events: TraceEvent[] = []): TraceBatch {
  const regs = insns.flatMap((i) => i.regs ?? []);
  const mems = insns.flatMap((i) => i.mem ?? []);
  const regStart = new Uint32Array(insns.length + 1);
  const memStart = new Uint32Array(insns.length + 1);
  insns.forEach((insn, i) => {
    regStart[i + 1] = regStart[i]! + (insn.regs?.length ?? 0);
    memStart[i + 1] = memStart[i]! + (insn.mem?.length ?? 0);
  });
  const code = new Map<bigint, Uint8Array>();
  for (const insn of insns) if (insn.storeCode !== false) code.set(insn.pc, Uint8Array.from(insn.bytes));
  return {
    count: insns.length,
    first,
    pc: BigUint64Array.from(insns, (i) => i.pc),
    size: Uint8Array.from(insns, (i) => i.bytes.length),
    regStart,
    regIndex: Uint8Array.from(regs, ([r]) => r),
    regValue: BigUint64Array.from(regs, ([, v]) => v),
    memStart,
    memKind: Uint8Array.from(mems, (m) => (m.kind === 'write' ? 1 : 0)),
    memAddress: BigUint64Array.from(mems, (m) => m.address),
    memSize: Uint8Array.from(mems, (m) => m.size),
    memValue: BigUint64Array.from(mems, (m) => m.value),
    code,
    events,
  };
}

/** An x86 header with the recorder's register order (pc excluded). */
export const X86_HEADER: TraceHeader = {
  version: 1,
  arch: 'x86',
  source: 'test',
  registers: ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp', 'esp', 'efl'],
  startRegisters: { eax: 0n, ebx: 0x7ffdf000n, ecx: 0n, edx: 0n, esi: 0x80a5d8fcn, edi: 0n, ebp: 0xf78aecf0n, esp: 0xf78aecb0n, eip: 0x8082e3d8n, efl: 0x246n },
  memory: 'raw image kernel.bin@0x80800000',
  created: '2026-01-02T03:04:05.000Z',
};

/**
 * A short x86 run, the same bytes as a real one:
 *   8082e3d8 a120b0a580   mov  eax,dword ptr [80a5b020]   (reads 80a5d8fc)
 *   8082e3dd 50           push eax                        (writes at f78aecac)
 *   8082e3de 40           inc  eax
 *   8082e3df ff1520b0a580 call dword ptr [80a5b020]       (reads 80a5d8fc, pushes 8082e3e5)
 *   80a5d8fc cc           int  3                          (traps)
 * in two batches of 3 and 2, then an empty batch with the trap event.
 */
export function x86Run(): TraceBatch[] {
  const a = batchOf(0, [
    { pc: 0x8082e3d8n, bytes: [0xa1, 0x20, 0xb0, 0xa5, 0x80], regs: [[0, 0x80a5d8fcn]], mem: [{ kind: 'read', address: 0x80a5b020n, size: 4, value: 0x80a5d8fcn }] },
    { pc: 0x8082e3ddn, bytes: [0x50], regs: [[7, 0xf78aecacn]], mem: [{ kind: 'write', address: 0xf78aecacn, size: 4, value: 0x80a5d8fcn }] },
    { pc: 0x8082e3den, bytes: [0x40], regs: [[0, 0x80a5d8fdn], [8, 0x282n]] },
  ]);
  const b = batchOf(3, [
    {
      pc: 0x8082e3dfn, bytes: [0xff, 0x15, 0x20, 0xb0, 0xa5, 0x80], regs: [[7, 0xf78aeca8n]],
      mem: [{ kind: 'read', address: 0x80a5b020n, size: 4, value: 0x80a5d8fcn }, { kind: 'write', address: 0xf78aeca8n, size: 4, value: 0x8082e3e5n }],
    },
    { pc: 0x80a5d8fcn, bytes: [0xcc] },
  ]);
  const end = batchOf(5, [], [{ kind: 'trap', index: 4, vector: 3, pc: 0x80a5d8fcn }]);
  return [a, b, end];
}

/** An x64 header: kernel addresses and values above 2^53. */
export const X64_HEADER: TraceHeader = {
  version: 1,
  arch: 'x64',
  registers: ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'efl'],
  startRegisters: { rax: 0xfffffa8003b5c060n, rcx: 0x1n, rsp: 0xfffff88003a1f7a8n, rip: 0xfffff8803836e110n, r15: 0x8000000000000001n },
};

/**
 * x64, at fffff880`3836e110:
 *   4883ec28   sub rsp,28h
 *   48890424   mov qword ptr [rsp],rax   (writes fffffa80`03b5c060)
 *   cc         int 3
 */
export function x64Run(): TraceBatch[] {
  return [
    batchOf(0, [
      { pc: 0xfffff8803836e110n, bytes: [0x48, 0x83, 0xec, 0x28], regs: [[7, 0xfffff88003a1f780n], [16, 0x286n]] },
      { pc: 0xfffff8803836e114n, bytes: [0x48, 0x89, 0x04, 0x24], mem: [{ kind: 'write', address: 0xfffff88003a1f780n, size: 8, value: 0xfffffa8003b5c060n }] },
    ]),
    batchOf(2, [{ pc: 0xfffff8803836e118n, bytes: [0xcc] }], [{ kind: 'trap', index: 2, vector: 3, pc: 0xfffff8803836e118n }]),
  ];
}
