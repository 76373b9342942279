/**
 * Renders a kernel-bugcheck WinDbg transcript (the IPI fixture) as a kernel
 * dump with the independent builder: every byte the transcript shows placed
 * in its page (bytes it does not show are zero), the `.trap` registers
 * written as a KTRAP_FRAME at the frame's address, nt and hal with the
 * transcript's symbols as exports. The transcript holds no KeBugCheckEx
 * state, so the header's CONTEXT repeats the trap's.
 *
 * @example
 * ```ts
 * transcriptAsKernelDump(loadTranscript('ipi.txt'), 'ipi.dmp', 'x86-pae', 5);
 * ```
 */
import type { Dump } from '../../src/dumps/model.ts';
import type { SymbolIndex } from '../../src/dumps/symbol-table.ts';
import { trapFrameBytes, writeKernelDump, type KernelArch, type ModuleSpec, type VirtualPage } from './kernel-dump-builder.ts';

/** Module extents chosen around the transcript's symbols (the transcript has no `lm`). */
const MODULES = [
  { file: 'ntoskrnl.exe', name: 'nt', base: 0x80800000n, size: 0x200000n },
  { file: 'hal.dll', name: 'hal', base: 0x80a50000n, size: 0x20000n },
];

/** The transcript's crash as a kernel dump of `dumpType`. */
export function transcriptAsKernelDump(transcript: Dump, path: string, arch: KernelArch, dumpType: 1 | 2 | 4 | 5 | 6): void {
  const trap = transcript.threads[0]!.contexts[0]!;
  const pages = new Map<bigint, Uint8Array>();
  const pageOf = (address: bigint): Uint8Array => {
    const base = address & ~0xfffn;
    let page = pages.get(base);
    if (!page) pages.set(base, (page = new Uint8Array(0x1000)));
    return page;
  };
  // The trap handler writes the frame up to HardwareEsp; what follows is the interrupted stack.
  const frame = trapFrameBytes(arch, trap.registers as Record<string, bigint>).subarray(0, 0x74);
  pageOf(trap.address!).set(frame, Number(trap.address! & 0xfffn));
  for (const range of transcript.memory.ranges()) {
    const { bytes, known } = transcript.memory.readPartial!(range.start, Number(range.end - range.start));
    for (let i = 0; i < bytes.length; i++) if (known[i]) pageOf(range.start + BigInt(i))[Number((range.start + BigInt(i)) & 0xfffn)] = bytes[i]!;
  }
  const kinds = transcript.memory.ranges();
  const virtual: VirtualPage[] = [...pages].map(([va, bytes]) => {
    const code = kinds.some((r) => (r.start & ~0xfffn) === va && r.kind === 'code');
    return { va, bytes, execute: code, write: va >= 0xf0000000n };
  });
  const symbols = (transcript.symbols as SymbolIndex).list().filter((s) => s.symbol !== undefined);
  const modules: ModuleSpec[] = MODULES.map((m) => ({
    file: m.file, base: m.base, size: m.size,
    exports: symbols.filter((s) => s.module === m.name && s.address >= m.base && s.address < m.base + m.size).map((s) => ({ name: s.symbol!, address: s.address })),
  }));
  const fault = transcript.fault!;
  if (fault.kind !== 'bugcheck') throw new Error('not a bugcheck');
  writeKernelDump(path, {
    arch, dumpType, build: 3790, processors: 2,
    bugcheck: { code: fault.code, parameters: fault.parameters },
    // The transcript holds no KeBugCheckEx state; the header's CONTEXT repeats the trap's.
    context: trap.registers as Record<string, bigint>,
    pages: virtual,
    modules,
    triageStack: { address: 0xf78ae000n, bytes: pages.get(0xf78ae000n)! },
  });
}

