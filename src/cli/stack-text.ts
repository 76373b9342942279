/**
 * The stacks `info` prints: each walked thread as WinDbg's `k` rows
 * (`# Child-SP RetAddr Call Site`) with the trust tag of each frame, and the
 * same frames as JSON with the registers known in each.
 *
 * @example
 * ```ts
 * const stacks = await threadStacks(dump, { allThreads: false });
 * stackLines(dump, stacks[0]!); // [' # Child-SP          RetAddr               Call Site', '00 00007ffe`…']
 * ```
 */
import type { Dump, RegisterContext } from '../dumps/model.ts';
import { findFaultSite } from '../analysis/fault-site.ts';
import { formatAddress, hex } from '../format.ts';
import type { StackWalk } from '../unwind/frame.ts';
import { formatFrame } from '../unwind/frame-symbol.ts';
import { StackWalker } from '../unwind/walk.ts';

/** One thread's walk, for `info`. */
export interface ThreadStack {
  threadId: number;
  /** The label of the context the walk started from. */
  context: string;
  walk: StackWalk;
}

/** Walks the faulting thread's stack (every thread's with `allThreads`), from each thread's most specific context. */
export async function threadStacks(dump: Dump, options: { allThreads: boolean }): Promise<ThreadStack[]> {
  const site = findFaultSite(dump);
  const wanted = options.allThreads
    ? dump.threads
    : dump.threads.filter((t) => t.id === (site?.threadId ?? dump.threads.find((x) => x.contexts.length > 0)?.id));
  const starts = wanted.flatMap((t) => {
    const context: RegisterContext | undefined = t.id === site?.threadId && site.context ? site.context : t.contexts[0];
    return context ? [{ threadId: t.id, context }] : [];
  });
  if (starts.length === 0) return [];
  const walker = await StackWalker.create(dump);
  try {
    return starts.map(({ threadId, context }) => ({ threadId, context: context.label, walk: walker.walk(context) }));
  } finally {
    walker.close();
  }
}

/** The `k`-style rows of one thread's walk, then its notes. */
export function stackLines(dump: Dump, stack: ThreadStack): string[] {
  const f = (v: bigint) => formatAddress(dump.arch, v);
  const width = f(0n).length;
  const lines = [` # ${'Child-SP'.padEnd(width)} ${'RetAddr'.padEnd(width)} Call Site`];
  const { frames } = stack.walk;
  frames.forEach((frame, i) => {
    const ret = frames[i + 1]?.pc ?? 0n;
    lines.push(`${i.toString(16).padStart(2, '0')} ${f(frame.sp)} ${f(ret)} ${formatFrame(dump, frame)} [${frame.trust}]`);
  });
  for (const note of stack.walk.notes) lines.push(`   note: ${note}`);
  return lines;
}

/** One thread's walk as JSON data. */
export function stackJson(dump: Dump, stack: ThreadStack) {
  return {
    threadId: stack.threadId,
    context: stack.context,
    frames: stack.walk.frames.map((frame) => ({
      index: frame.index,
      trust: frame.trust,
      pc: hex(frame.pc),
      sp: hex(frame.sp),
      site: formatFrame(dump, frame),
      cfa: frame.cfa === undefined ? undefined : hex(frame.cfa),
      returnSlot: frame.returnSlot === undefined ? undefined : hex(frame.returnSlot),
      unwindSource: frame.unwindSource,
      registers: Object.fromEntries(Object.entries(frame.registers).map(([k, v]) => [k, hex(v as bigint)])),
    })),
    notes: stack.walk.notes,
  };
}
