/**
 * Turns what the command parsers learnt (`TranscriptFacts`) into a `Dump`:
 * chooses the architecture, orders threads and contexts so the fault's
 * context comes first, and builds the symbol table.
 *
 * Architecture: from the fault context's register names (`eax` → x86,
 * `rax` → x64, `x0` → arm64), else the first context that tells, else what
 * the text showed before reading (a prompt's machine such as `0:000:x86>`,
 * ARM64 listings: see arch-evidence.ts), else the width addresses were
 * printed with (a backtick or 16 digits → x64), else x64 with a note.
 *
 * Order: in each thread, a context at an address the bugcheck names (for
 * 0x8e the third argument is the trap frame) comes first, then trap frames
 * and `.cxr` contexts, then `r` state, each in transcript order. The thread
 * holding the fault context comes first, then the others by id.
 *
 * @example
 * ```ts
 * const dump = assembleDump(facts);
 * dump.threads[0].contexts[0].label; // '.trap f78aec38'
 * ```
 */
import type { Arch } from '../../../emu/registers.ts';
import type { Dump, DumpThread, RegisterContext } from '../model.ts';
import { describeSymbol, SymbolIndex } from '../symbol-table.ts';
import { showAddress } from '../hex.ts';
import type { ContextFact, TranscriptFacts } from './facts.ts';
import { shortText } from '../../quote.ts';

function faultAddresses(facts: TranscriptFacts): bigint[] {
  return facts.fault?.kind === 'bugcheck' ? facts.fault.parameters : [];
}

function rank(context: RegisterContext, named: bigint[]): number {
  if (context.address !== undefined && named.includes(context.address)) return 0;
  return context.kind === 'thread' ? 2 : 1;
}

function chooseArch(facts: TranscriptFacts, faultFact: ContextFact | undefined): Arch {
  const told = faultFact?.arch ?? facts.contexts.find((c) => c.arch)?.arch;
  if (told) {
    const other = facts.contexts.find((c) => c.arch && c.arch !== told);
    if (other) facts.note('info', `Contexts of two architectures: using ${told}; \`${other.context.label}\` shows ${other.arch} registers`, other.context.provenance);
    return told;
  }
  if (facts.archHint) return facts.archHint;
  if (facts.sawAddress) return facts.sawWideAddress ? 'x64' : 'x86';
  facts.note('info', 'No register block or address tells the architecture; assuming x64');
  return 'x64';
}

function buildThreads(facts: TranscriptFacts, named: bigint[]): { threads: DumpThread[]; faultFact?: ContextFact } {
  const ranked = facts.contexts.map((fact, order) => ({ fact, order, rank: rank(fact.context, named) }));
  ranked.sort((a, b) => a.rank - b.rank || a.order - b.order);
  const faultFact = ranked[0]?.fact;
  const byId = new Map<number, DumpThread>();
  for (const { fact } of ranked) {
    let thread = byId.get(fact.thread);
    if (!thread) byId.set(fact.thread, (thread = { id: fact.thread, contexts: [] }));
    thread.contexts.push(fact.context);
  }
  for (const { thread: id, stack } of facts.stacks) {
    let thread = byId.get(id);
    if (!thread) byId.set(id, (thread = { id, contexts: [] }));
    (thread.recordedStacks ??= []).push(stack);
  }
  const threads = [...byId.values()].sort((a, b) => {
    if (faultFact && a.id === faultFact.thread) return -1;
    if (faultFact && b.id === faultFact.thread) return 1;
    return a.id - b.id;
  });
  return { threads, faultFact };
}

function buildSymbols(facts: TranscriptFacts, arch: Arch): SymbolIndex {
  const symbols = new SymbolIndex({ arch });
  for (const module of facts.modules) symbols.addModule(module.name, module.base, module.size, { source: 'lm' });
  for (const fact of facts.symbols) {
    const result = symbols.add(fact.module, fact.symbol, fact.base, fact.size, fact.provenance);
    if (result.status !== 'conflict') continue;
    const name = fact.symbol === undefined ? fact.module : `${fact.module}!${fact.symbol}`;
    const first = result.existing.provenance;
    facts.note(
      'warning',
      `Line ${fact.provenance.line} (\`${shortText(fact.provenance.source, 60)}\`) puts ${name} at ${showAddress(fact.base)}, but line ${first?.line} (\`${shortText(first?.source ?? "", 60)}\`) has ${describeSymbol(result.existing)}; keeping the first`,
      fact.provenance,
    );
  }
  return symbols;
}

/**
 * The `Dump` for `facts` read from the transcript at `facts.path`.
 *
 * @example
 * ```ts
 * assembleDump(facts).format; // 'windbg-transcript'
 * ```
 */
export function assembleDump(facts: TranscriptFacts): Dump {
  const { threads, faultFact } = buildThreads(facts, faultAddresses(facts));
  const arch = chooseArch(facts, faultFact);
  const symbols = buildSymbols(facts, arch);
  const dump: Dump = {
    format: 'windbg-transcript',
    path: facts.path,
    arch,
    os: 'windows',
    threads,
    modules: [...facts.modules].sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0)),
    symbols,
    memory: facts.memory,
    notes: facts.notes,
  };
  if (facts.fault) dump.fault = facts.fault;
  return dump;
}
