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
import { contextBytes, trapFrameBytes, writeKernelDump, type KernelArch, type ModuleSpec, type VirtualPage } from './kernel-dump-builder.ts';

/** The file a module name stands for. */
function moduleFile(name: string): string {
  return name === 'nt' ? 'ntoskrnl.exe' : name === 'hal' ? 'hal.dll' : `${name}.sys`;
}

/**
 * The transcript's crash as a kernel dump of `dumpType`. Modules (the
 * transcripts have no `lm`) span their symbols, from 64 KiB below the
 * lowest; pages near the fault context's sp are writable, pages with code
 * executable. A kernel dump holds whole pages, so the bytes a transcript
 * does not show must be invented: `int 3` in code pages, zero elsewhere.
 */
export function transcriptAsKernelDump(transcript: Dump, path: string, arch: KernelArch, dumpType: 1 | 2 | 4 | 5 | 6): void {
  const state = transcript.threads[0]!.contexts[0]!;
  const registers = state.registers as Record<string, bigint>;
  const sp = arch === 'x64' ? registers.rsp! : registers.esp!;
  const pages = new Map<bigint, Uint8Array>();
  const kinds = transcript.memory.ranges();
  const codePage = (base: bigint): boolean => kinds.some((r) => (r.start & ~0xfffn) === base && r.kind === 'code');
  const pageOf = (address: bigint): Uint8Array => {
    const base = address & ~0xfffn;
    let page = pages.get(base);
    // Code the transcript does not show is `int 3` (a replay that reaches it traps, as at unknown code it stops); data is zero.
    if (!page) pages.set(base, (page = new Uint8Array(0x1000).fill(codePage(base) ? 0xcc : 0)));
    return page;
  };
  const place = (address: bigint, bytes: Uint8Array): void => {
    for (let i = 0; i < bytes.length; i++) pageOf(address + BigInt(i))[Number((address + BigInt(i)) & 0xfffn)] = bytes[i]!;
  };
  if (state.address !== undefined && state.kind === 'trap-frame') {
    // An x86 trap handler writes the frame up to HardwareEsp; what follows is the interrupted stack.
    const frame = trapFrameBytes(arch, registers);
    place(state.address, arch === 'x64' ? frame : frame.subarray(0, 0x74));
  } else if (state.address !== undefined) {
    place(state.address, contextBytes(arch, registers));
  }
  for (const range of transcript.memory.ranges()) {
    const { bytes, known } = transcript.memory.readPartial!(range.start, Number(range.end - range.start));
    for (let i = 0; i < bytes.length; i++) if (known[i]) place(range.start + BigInt(i), bytes.subarray(i, i + 1));
  }
  const virtual: VirtualPage[] = [...pages].map(([va, bytes]) => {
    const code = codePage(va);
    const stack = va + 0x10000n > sp && va < sp + 0x10000n;
    return { va, bytes, execute: code, write: !code && stack };
  });
  const symbols = (transcript.symbols as SymbolIndex).list().filter((s) => s.symbol !== undefined && s.module !== undefined);
  const names = [...new Set(symbols.map((s) => s.module!))];
  const modules: ModuleSpec[] = names.map((name) => {
    const own = symbols.filter((s) => s.module === name);
    const low = own.reduce((m, s) => (s.address < m ? s.address : m), own[0]!.address);
    const high = own.reduce((m, s) => (s.address > m ? s.address : m), own[0]!.address);
    let base = (low & ~0xffffn) - 0x10000n;
    while (pages.has(base)) base -= 0x10000n;
    return {
      file: moduleFile(name), base, size: (high - base + 0x10000n + 0xfffn) & ~0xfffn,
      exports: own.map((s) => ({ name: s.symbol!, address: s.address })),
    };
  });
  const fault = transcript.fault!;
  if (fault.kind !== 'bugcheck') throw new Error('not a bugcheck');
  writeKernelDump(path, {
    arch, dumpType, build: arch === 'x64' ? 7601 : 3790, processors: 2,
    bugcheck: { code: fault.code, parameters: fault.parameters },
    context: registers,
    pages: virtual,
    modules,
    triageStack: { address: sp & ~0xfffn, bytes: pages.get(sp & ~0xfffn)! },
  });
}
