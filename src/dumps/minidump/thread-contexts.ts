/**
 * Threads with their register contexts, and the architecture they show.
 *
 * The exception context comes first in the faulting thread's contexts (it is
 * the state at the fault; the thread's own context is usually inside the
 * handler that wrote the dump). The architecture is that of the contexts;
 * SystemInfo only says which layout to try first, so an x86 process dumped
 * by a 64-bit tool with x86 CONTEXTs reads as x86. When such a dump instead
 * holds the 64-bit WoW64 layer's contexts (wow64.dll loaded), the x86
 * contexts are taken from each thread's TEB when the dump holds it.
 *
 * On Windows, fs_base (x86) or gs_base (x64) is the thread's TEB, which is
 * what those segment bases hold in user mode.
 *
 * @example
 * ```ts
 * const { arch, threads } = assembleThreads({ file, threads: raw, names, exception, systemArch: 'x86', os: 'windows', memory, modulePaths, notes });
 * threads[0].contexts[0].label; // '.ecxr'
 * ```
 */
import type { Arch, RegisterValues } from '../../../emu/registers.ts';
import type { DumpNote, DumpThread, MemoryView, RegisterContext } from '../model.ts';
import { readContext, type ParsedContext } from './context.ts';
import type { MinidumpException } from './exception.ts';
import type { MinidumpFile } from './minidump-file.ts';
import { baseName } from './module-names.ts';
import type { MinidumpThread } from './threads.ts';
import { readWow64Context } from './wow64.ts';

export interface ThreadInput {
  file: MinidumpFile;
  threads: MinidumpThread[];
  names: Map<number, string>;
  exception?: MinidumpException;
  /** From SystemInfo, when present. */
  systemArch?: Arch;
  os?: string;
  memory: MemoryView;
  modulePaths: string[];
  notes: DumpNote[];
}

export interface AssembledThreads {
  arch: Arch;
  threads: DumpThread[];
  /** The pc of the exception context, when there is one. */
  exceptionPc?: bigint;
}

const hex = (value: number | bigint): string => `0x${value.toString(16)}`;

/**
 * Threads, contexts and architecture; throws 'unsupported' when neither
 * contexts nor SystemInfo name an architecture.
 *
 * @example
 * ```ts
 * assembleThreads(input).threads[0].contexts.map((c) => c.kind); // ['context', 'thread']
 * ```
 */
export function assembleThreads(input: ThreadInput): AssembledThreads {
  const { file, exception, systemArch, notes } = input;
  const threadContexts = new Map<MinidumpThread, ParsedContext>();
  for (const thread of input.threads) {
    if (thread.threadContext.dataSize === 0) continue;
    threadContexts.set(thread, readContext(file, thread.threadContext, systemArch, `ThreadListStream thread ${hex(thread.threadId)} context`));
  }
  const exceptionContext = exception && exception.threadContext.dataSize > 0
    ? readContext(file, exception.threadContext, systemArch, 'ExceptionStream context')
    : undefined;

  const arch = exceptionContext?.arch ?? threadContexts.values().next().value?.arch ?? systemArch;
  if (!arch) throw file.error(0n, 'The dump has no SystemInfo stream and no thread context: its architecture is unknown', 'unsupported');
  if (systemArch && arch !== systemArch) {
    notes.push(systemArch === 'x64' && arch === 'x86'
      ? { level: 'info', message: 'SystemInfo says AMD64 but the contexts are x86 CONTEXTs: an x86 (WoW64) process dumped by a 64-bit tool; read as x86' }
      : { level: 'warning', message: `SystemInfo says ${systemArch} but the contexts are ${arch}; read as ${arch}` });
  }

  const wow64 = arch === 'x64' && input.os === 'windows' && input.modulePaths.some((p) => baseName(p).toLowerCase() === 'wow64.dll')
    ? wow64Threads(input)
    : undefined;
  if (wow64) return { arch: 'x86', threads: wow64 };

  const kept = (context: ParsedContext | undefined, what: string): context is ParsedContext => {
    if (!context) return false;
    if (context.arch === arch) return true;
    notes.push({ level: 'warning', message: `${what} is an ${context.arch} CONTEXT in an ${arch} dump; not used`, provenance: { source: what, offset: context.offset } });
    return false;
  };
  const teb = (thread: MinidumpThread | undefined): RegisterValues => {
    if (!thread || thread.teb === 0n || input.os !== 'windows') return {};
    return arch === 'x86' ? { fs_base: thread.teb } : arch === 'x64' ? { gs_base: thread.teb } : {};
  };

  const threads: DumpThread[] = input.threads.map((thread) => {
    const contexts: RegisterContext[] = [];
    if (exception && thread.threadId === exception.threadId && kept(exceptionContext, 'ExceptionStream context')) {
      contexts.push(contextOf('context', '.ecxr', exceptionContext, 'ExceptionStream context', teb(thread)));
    }
    const own = threadContexts.get(thread);
    const what = `ThreadListStream thread ${hex(thread.threadId)} context`;
    if (kept(own, what)) contexts.push(contextOf('thread', `thread ${hex(thread.threadId)}`, own, what, teb(thread)));
    return named({ id: thread.threadId, contexts }, input.names);
  });
  if (exception && !input.threads.some((t) => t.threadId === exception.threadId)) {
    notes.push({ level: 'warning', message: `ExceptionStream names thread ${hex(exception.threadId)}, which the ThreadList stream lacks`, provenance: { source: 'ExceptionStream', offset: exception.offset } });
    const contexts = kept(exceptionContext, 'ExceptionStream context') ? [contextOf('context', '.ecxr', exceptionContext, 'ExceptionStream context', {})] : [];
    threads.unshift(named({ id: exception.threadId, contexts }, input.names));
  }
  return { arch, threads, exceptionPc: exceptionContext && arch === exceptionContext.arch ? pcOf(exceptionContext.registers) : undefined };
}

/** The threads with x86 contexts from their TEBs, or undefined when no thread's context is in the dump. */
function wow64Threads(input: ThreadInput): DumpThread[] | undefined {
  const found = input.threads.map((thread) => ({ thread, context: readWow64Context(input.memory, thread.teb, input.file.path) }));
  const count = found.filter((f) => f.context).length;
  if (count === 0) {
    input.notes.push({ level: 'warning', message: 'The module wow64.dll is loaded: this is an x86 process dumped by a 64-bit tool, but no thread\'s x86 context is in the dump (its TEB is missing); the 64-bit WoW64 contexts are used' });
    return undefined;
  }
  input.notes.push({ level: 'info', message: `The module wow64.dll is loaded: an x86 process dumped by a 64-bit tool; the x86 contexts of ${count} of ${found.length} threads were read from their TEBs, and the 64-bit WoW64 contexts (and the ExceptionStream context) are not used` });
  return found.map(({ thread, context }) => named({
    id: thread.threadId,
    contexts: context ? [{
      kind: 'context',
      label: `thread ${hex(thread.threadId)} WoW64 x86 context`,
      address: context.address,
      registers: context.registers,
      provenance: { source: `WOW64_CPURESERVED of thread ${hex(thread.threadId)} (TEB ${hex(thread.teb)})`, offset: context.provenance.offset },
    }] : [],
  }, input.names));
}

function contextOf(kind: RegisterContext['kind'], label: string, context: ParsedContext, source: string, extra: RegisterValues): RegisterContext {
  return { kind, label, registers: { ...context.registers, ...extra }, provenance: { source, offset: context.offset } };
}

function named(thread: DumpThread, names: Map<number, string>): DumpThread {
  const name = names.get(thread.id);
  return name === undefined ? thread : { ...thread, name };
}

function pcOf(registers: RegisterValues): bigint | undefined {
  return registers.eip ?? registers.rip ?? registers.pc;
}
