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
import type { StackFrame, StackWalk } from '../unwind/frame.ts';
import { compareWithRecorded, recordedFrames, type RecordedComparison } from '../unwind/recorded.ts';
import { formatFrame } from '../unwind/frame-symbol.ts';
import { walkEach } from '../unwind/walk.ts';

/** One thread's walk, for `info`. */
export interface ThreadStack {
  threadId: number;
  /** The label of the context the walk started from. */
  context: string;
  walk: StackWalk;
  /** Stack listings the dump holds as text (a transcript's `kb`), read as frames. */
  recorded: Array<{ command: string; line?: number; frames: StackFrame[]; comparison: RecordedComparison }>;
}

/** Walks the faulting thread's stack (every thread's with `allThreads`), from each thread's most specific context. */
export async function threadStacks(dump: Dump, options: { allThreads: boolean }): Promise<ThreadStack[]> {
  const site = findFaultSite(dump);
  const wanted = options.allThreads
    ? dump.threads
    : dump.threads.filter((t) => t.id === (site?.threadId ?? dump.threads.find((x) => x.contexts.length > 0)?.id));
  const starts = wanted.flatMap((t) => {
    const context: RegisterContext | undefined = t.id === site?.threadId && site.context ? site.context : t.contexts[0];
    return context ? [{ threadId: t.id, context, thread: t }] : [];
  });
  if (starts.length === 0) return [];
  const walks = await walkEach(dump, starts.map((s) => s.context));
  const pcName = dump.arch === 'x64' ? 'rip' : dump.arch === 'x86' ? 'eip' : 'pc';
  return starts.map(({ threadId, context, thread }, i) => {
    const walk = walks[i]!;
    const recorded = (thread.recordedStacks ?? []).map((stack) => {
      const frames = recordedFrames(stack, context.registers[pcName]);
      return { command: stack.command, line: stack.provenance.line, frames, comparison: compareWithRecorded(walk, frames) };
    });
    return { threadId, context: context.label, walk, recorded };
  });
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
  for (const listing of stack.recorded) {
    lines.push(`   as \`${listing.command}\`${listing.line ? ` (line ${listing.line})` : ''} recorded it:`);
    listing.frames.forEach((frame, i) => {
      const ret = listing.frames[i + 1]?.pc ?? 0n;
      lines.push(`${i.toString(16).padStart(2, '0')} ${f(frame.sp)} ${f(ret)} ${formatFrame(dump, frame)} [recorded]`);
    });
    const c = listing.comparison;
    const differ = c.firstDifference ? `; from frame ${c.firstDifference.index} on they differ (walk ${f(c.firstDifference.walked)}, \`${listing.command}\` ${f(c.firstDifference.recorded)})` : '';
    lines.push(`   note: the walk and \`${listing.command}\` agree on ${c.agreeing} of the ${c.compared} caller frames both have${differ}`);
  }
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
    recorded: stack.recorded.map((listing) => ({
      command: listing.command,
      line: listing.line,
      frames: listing.frames.map((frame) => ({ index: frame.index, trust: frame.trust, pc: hex(frame.pc), sp: hex(frame.sp), site: formatFrame(dump, frame) })),
      comparison: {
        compared: listing.comparison.compared,
        agreeing: listing.comparison.agreeing,
        firstDifference: listing.comparison.firstDifference && { index: listing.comparison.firstDifference.index, walked: hex(listing.comparison.firstDifference.walked), recorded: hex(listing.comparison.firstDifference.recorded) },
      },
    })),
  };
}
