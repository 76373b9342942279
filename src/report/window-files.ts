/**
 * The replay trace of an explain report as files other tools open: Tenet's
 * text trace (the trace explorer steps through registers and memory) and
 * drcov coverage (Lighthouse paints the executed blocks). Values the dump
 * does not determine are left out of the Tenet file: Tenet has no way to
 * say "unknown", and a fill value would look like a fact.
 *
 * @example
 * ```ts
 * writeFileSync('crash.tenet.log', windowTenet('x86', document.trace!));
 * writeFileSync('crash.drcov', windowDrcov(document.trace!));
 * ```
 */
import type { Arch } from '../../emu/registers.ts';
import type { WindowTrace } from '../analysis/window-trace.ts';
import type { TraceInstruction } from '../../traces/model.ts';
import { tenetLinesOf } from '../../traces/export/tenet.ts';
import { basicBlocks, drcovBytes } from '../../traces/export/drcov.ts';

const HEX = /^0x[0-9a-f]{1,16}$/i;
const big = (text: string | undefined) => (text !== undefined && HEX.test(text) ? BigInt(text) : undefined);

/** The trace's steps as trace instructions, keeping only the values every replay lane agreed on. */
function instructionsOf(trace: WindowTrace): TraceInstruction[] {
  return trace.steps.flatMap((s): TraceInstruction[] => {
    const pc = big(s.pc);
    if (pc === undefined) return [];
    return [{
      index: s.index, pc, size: s.size, events: [],
      changed: s.changed.flatMap((r) => (big(r.value) === undefined ? [] : [[r.register, big(r.value)!] as TraceInstruction['changed'][number]])),
      memory: s.memory.flatMap((m) => {
        const address = big(m.address);
        const value = big(m.value);
        return address === undefined || value === undefined ? [] : [{ kind: m.access === 'write' ? 'write' as const : 'read' as const, address, size: m.size, value }];
      }),
    }];
  });
}

/** The Tenet trace of the replay, one line per step. */
export function windowTenet(arch: Arch, trace: WindowTrace): string {
  const start = new Map(trace.start.flatMap((r) => (big(r.value) === undefined ? [] : [[r.register, big(r.value)!] as [string, bigint]])));
  const lines = [...tenetLinesOf(arch, start, instructionsOf(trace), (last) => last.pc + BigInt(last.size))];
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** The drcov coverage of the replay, over the modules the trace names. */
export function windowDrcov(trace: WindowTrace): Uint8Array {
  const blocks = basicBlocks(instructionsOf(trace).map((i) => ({ pc: i.pc, size: i.size })));
  const modules = trace.modules.flatMap((m) => {
    const base = big(m.base);
    const end = big(m.end);
    return base === undefined || end === undefined ? [] : [{ name: m.name, path: m.path, base, end }];
  });
  return drcovBytes(blocks, modules);
}
