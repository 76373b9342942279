/**
 * The explain report as one HTML page a person reads and forwards: the
 * verdict in one line, the fault, the candidate transfers, expected and
 * observed as bit strips with the flipped bit marked, the replay trace
 * of the verdict's window with every check placed where its value was
 * made, the hypotheses ranked, and what the dump lacked.
 *
 * Rendered from the explain JSON document alone (`faultline report` turns a
 * saved `--json` into the same page). The page is self-contained: inline
 * CSS, no script, no image, no request, light and dark by
 * `prefers-color-scheme`, and a Content-Security-Policy that forbids any
 * load. Every text from the document is escaped: a dump's symbols and
 * paths are whatever the dump says.
 *
 * @example
 * ```ts
 * const html = renderHtml(document, { links: { tenet: 'crash.tenet.log', drcov: 'crash.drcov' } });
 * ```
 */
import type { Arch } from '../../emu/registers.ts';
import type { Check } from '../analysis/checks.ts';
import type { CandidateReport, HypothesisReport, WindowReport } from '../analysis/explain.ts';
import type { ExplainDocument, TraceStep, WindowTrace } from '../analysis/window-trace.ts';
import { formatAddress, formatValue } from '../format.ts';

export interface HtmlOptions {
  /** Files written beside the page, linked from it (names relative to the page). */
  links?: { tenet?: string; drcov?: string };
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** `text` safe in HTML content and in quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const e = escapeHtml;
const HEX = /^0x[0-9a-f]{1,16}$/i;

/** Hex `0x…` as WinDbg prints an address for `arch`; anything else escaped as it is. */
function addressOf(arch: Arch, text: string | undefined): string {
  if (text === undefined) return '';
  return HEX.test(text) ? formatAddress(arch, BigInt(text)) : text;
}

function valueOf(arch: Arch, text: string | undefined): string {
  if (text === undefined) return '';
  return HEX.test(text) ? formatValue(arch, BigInt(text)) : text;
}

/** A CSS class for a value from the document: only names we know, never the document's text. */
function known<T extends string>(value: string | undefined, names: readonly T[], fallback: T): T {
  return names.includes(value as T) ? (value as T) : fallback;
}

const CLASSES = ['cpu-fault', 'memory-corruption', 'code-corruption', 'software', 'no-fault', 'inconclusive'] as const;
const STATUSES = ['match', 'mismatch', 'unknown'] as const;

function status(check: Check): string {
  const s = known(check.status, STATUSES, 'unknown');
  const label = check.status === 'match' && check.basis === 'carried' ? 'match (carried)' : s;
  return `<span class="status ${s}">${e(label)}</span>`;
}

const CSS = `
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1c1e21; --muted: #5b6470; --line: #d8dde3; --panel: #f5f7f9;
  --match: #1a7f37; --mismatch: #c62828; --unknown: #8a6d00; --flip: #c62828; --flip-fg: #ffffff; --hw: #8e24aa; --sw: #1565c0; --inj: #fff3e0; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #15181c; --fg: #e6e8eb; --muted: #9aa4af; --line: #2f353c; --panel: #1d2127;
    --match: #4caf50; --mismatch: #ef5350; --unknown: #e0b83a; --flip: #ef5350; --flip-fg: #15181c; --hw: #ce93d8; --sw: #64b5f6; --inj: #3a2a12; }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 1.5rem; background: var(--bg); color: var(--fg);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
h1 { font-size: 1.3rem; margin: 0 0 .2rem; word-break: break-all; }
h2 { font-size: 1.1rem; margin: 2rem 0 .6rem; padding-bottom: .2rem; border-bottom: 1px solid var(--line); }
code, .mono, td.mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 13px; }
.muted { color: var(--muted); }
#summary { font-size: 1.15rem; padding: .8rem 1rem; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 4px; font-weight: 600; border: 2px solid currentColor; }
.badge.cpu-fault, .badge.memory-corruption, .badge.code-corruption { color: var(--hw); }
.badge.software, .badge.no-fault { color: var(--sw); }
.badge.inconclusive { color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: .3rem 0; }
th, td { text-align: left; vertical-align: top; padding: .25rem .5rem; border-bottom: 1px solid var(--line); }
th { font-weight: 600; color: var(--muted); }
.scroll { overflow-x: auto; }
.status { font-weight: 600; white-space: nowrap; }
.status.match { color: var(--match); }
.status.mismatch { color: var(--mismatch); }
.status.unknown { color: var(--unknown); }
.status.match::before { content: "\\2713\\00a0"; }
.status.mismatch::before { content: "\\2717\\00a0"; }
.status.unknown::before { content: "?\\00a0"; }
table.bits { width: auto; border-collapse: separate; border-spacing: 2px; }
table.bits td, table.bits th { border: none; padding: 0; width: 1.35rem; text-align: center; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
table.bits th { font-weight: 400; font-size: 10px; }
table.bits th.row { width: auto; padding-right: .5rem; text-align: right; font-size: 12px; }
table.bits td { border: 1px solid var(--line); border-radius: 3px; height: 1.5rem; }
table.bits td.nibble { margin-left: 4px; }
table.bits td.flipped { background: var(--flip); color: var(--flip-fg); border-color: var(--flip); font-weight: 700; }
table.bits th.flipped { color: var(--flip); font-weight: 700; }
tr.injected td { background: var(--inj); }
tr.end td { font-weight: 600; }
td.changes span, td.memory span { display: inline-block; margin-right: .8rem; white-space: nowrap; }
.unknown-value { color: var(--unknown); }
ul { margin: .3rem 0; padding-left: 1.3rem; }
footer { margin-top: 2.5rem; font-size: 12px; color: var(--muted); }
`;

/** The value shown for expected and observed bits: the verdict's, else the first candidate one bit off. */
function bitValues(doc: ExplainDocument): { expected: bigint; observed: bigint; what: string } | undefined {
  const v = doc.verdict;
  if (v.expected && v.observed && HEX.test(v.expected) && HEX.test(v.observed)) return { expected: BigInt(v.expected), observed: BigInt(v.observed), what: 'the verdict' };
  const c = doc.candidates.find((x) => x.expected && x.comparison && x.comparison.relation !== 'equal' && HEX.test(x.expected) && HEX.test(x.observed));
  if (c) return { expected: BigInt(c.expected!), observed: BigInt(c.observed), what: `the ${c.kind} at ${c.instruction.symbol}` };
  return undefined;
}

function bitStrip(doc: ExplainDocument, arch: Arch): string {
  const values = bitValues(doc);
  if (!values) return '<p class="muted">The verdict names no expected value to compare with what was observed.</p>';
  const width = arch === 'x86' ? 32 : 64;
  const diff = values.expected ^ values.observed;
  const bit = (v: bigint, b: number) => Number((v >> BigInt(b)) & 1n);
  const flipped = Array.from({ length: width }, (_, b) => b).filter((b) => bit(diff, b));
  const halves: string[] = [];
  for (let high = width - 1; high >= 0; high -= 32) {
    const bits = Array.from({ length: 32 }, (_, i) => high - i);
    const head = bits.map((b) => `<th class="${bit(diff, b) ? 'flipped' : ''}">${b}</th>`).join('');
    const row = (v: bigint, label: string) => `<tr><th class="row">${label}</th>${bits.map((b) => {
      const id = label === 'observed' ? 'flipped-bit' : 'flipped-bit-expected';
      const mark = bit(diff, b) ? ` class="flipped"${b === flipped[0] ? ` id="${id}" title="bit ${b}"` : ''}` : '';
      return `<td${mark}>${bit(v, b)}</td>`;
    }).join('')}</tr>`;
    halves.push(`<table class="bits"><tr><th class="row">bit</th>${head}</tr>${row(values.expected, 'expected')}${row(values.observed, 'observed')}</table>`);
  }
  const f = (v: bigint) => formatAddress(arch, v);
  const which = flipped.length === 1 ? `bit <span id="strip-bit">${flipped[0]}</span> differs` : `${flipped.length} bits differ (${flipped.join(', ')})`;
  return `<p>Expected <code id="strip-expected">${e(f(values.expected))}</code>, observed <code id="strip-observed">${e(f(values.observed))}</code> (${e(values.what)}): ${which}.</p>
<div class="scroll">${halves.join('\n')}</div>`;
}

function summaryLine(doc: ExplainDocument): string {
  const v = doc.verdict;
  const cls = known(v.class, CLASSES, 'inconclusive');
  const parts = [`<span id="verdict-class" class="badge ${cls}">${e(v.class)}</span>`];
  if (v.location && v.location !== 'none') parts.push(`<span id="verdict-location">${e(v.location)}</span>`);
  if (v.bit !== undefined) parts.push(`bit <strong id="verdict-bit">${v.bit}</strong>${v.direction ? ` (<span id="verdict-direction">${e(v.direction.replace('->', '→'))}</span>)` : ''}`);
  parts.push(`confidence <strong id="verdict-confidence-label">${e(v.confidenceLabel)}</strong> (<span id="verdict-confidence">${v.confidence}</span>)`);
  if (v.hypothesis) parts.push(`<code id="verdict-hypothesis">${e(v.hypothesis)}</code>`);
  return `<div id="summary">${parts.join(' · ')}</div>
<p id="verdict-summary">${e(v.summary)}</p>
${v.reasons.length ? `<ul id="verdict-reasons">${v.reasons.map((r) => `<li>${e(r)}</li>`).join('')}</ul>` : ''}
${v.equivalent?.length ? `<p>Indistinguishable from it: ${v.equivalent.map((x) => `<code>${e(x)}</code>`).join(', ')}</p>` : ''}
${v.alternatives?.length ? `<p>Also consistent: ${v.alternatives.slice(0, 8).map((x) => `<code>${e(x)}</code>`).join(', ')}${v.alternatives.length > 8 ? ', …' : ''}</p>` : ''}`;
}

function faultSection(doc: ExplainDocument, arch: Arch): string {
  const fault = doc.fault;
  if (!fault) return '<p class="muted">The dump records no fault.</p>';
  const rows: Array<[string, string]> = [
    ['what', e(fault.summary)],
    ['where', `<code>${e(addressOf(arch, fault.pc))}</code> ${e(fault.symbol)}`],
    ['instruction', fault.instruction ? `<code>${e(fault.instruction)}</code>` : '<span class="muted">bytes not in the dump</span>'],
  ];
  if (fault.accessAddress) rows.push(['access', `${e(fault.access ?? 'access')} of <code>${e(addressOf(arch, fault.accessAddress))}</code>`]);
  if (fault.predecessor) rows.push(['before it', `<code>${e(fault.predecessor)}</code>${fault.reachableByFallThrough === false ? ' — does not fall through: execution cannot have arrived from it' : fault.reachableByFallThrough ? ' — falls through to it' : ''}`]);
  return `<table id="fault">${rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table>`;
}

function comparisonText(arch: Arch, c: CandidateReport): string {
  if (!c.expected) return c.unknownReason ? `<span class="muted">target unknown: ${e(c.unknownReason)}</span>` : '';
  const k = c.comparison;
  const how = !k ? '' : k.relation === 'equal' ? 'equal' : k.relation === 'one-bit' ? `one bit: bit ${k.bit ?? '?'}${k.direction ? `, ${e(k.direction.replace('->', '→'))}` : ''}` : `${k.hamming} bits (${e(k.relation)})`;
  return `expected <code>${e(addressOf(arch, c.expected))}</code>${c.expectedSymbol ? ` ${e(c.expectedSymbol)}` : ''}, observed <code>${e(addressOf(arch, c.observed))}</code>${how ? `: ${how}` : ''}`;
}

function candidatesSection(doc: ExplainDocument, arch: Arch): string {
  if (!doc.candidates.length) return '<p class="muted">No way control could have reached the fault was found.</p>';
  const rows = doc.candidates.map((c) => `<tr><td>${e(c.kind)}</td><td class="mono">${e(addressOf(arch, c.instruction.address))} ${e(c.instruction.text)}<br><span class="muted">${e(c.instruction.symbol)}</span>${c.pointer ? `<br>[${e(addressOf(arch, c.pointer.address))}]${c.pointer.symbol ? ` (${e(c.pointer.symbol)})` : ''} = ${e(addressOf(arch, c.pointer.value))}` : ''}</td><td>${comparisonText(arch, c)}</td><td>${c.evidence.map(e).join('<br>')}</td></tr>`);
  return `<div class="scroll"><table id="candidates"><tr><th>kind</th><th>instruction</th><th>target</th><th>how it was found</th></tr>${rows.join('\n')}</table></div>`;
}

/** Where each check's value was made: the last step that wrote it (register, memory slot); the trap at the end. */
/** The index of the last element of `items` that `test` accepts, or -1. */
function lastIndex<T>(items: readonly T[], test: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (test(items[i]!)) return i;
  return -1;
}

function placeChecks(checks: Check[], steps: TraceStep[]): { byStep: Map<number, Check[]>; atEnd: Check[] } {
  const byStep = new Map<number, Check[]>();
  const atEnd: Check[] = [];
  const put = (i: number, c: Check) => byStep.set(i, [...(byStep.get(i) ?? []), c]);
  for (const c of checks) {
    if (c.what === 'trap') {
      atEnd.push(c);
      continue;
    }
    const slot = /^\[([0-9a-f`]+)\]$/i.exec(c.what);
    if (slot) {
      const address = BigInt(`0x${slot[1]!.replace(/`/g, '')}`);
      const at = lastIndex(steps, (s) => s.memory.some((m) => m.access === 'write' && m.address !== undefined && HEX.test(m.address)
        && address >= BigInt(m.address) && address < BigInt(m.address) + BigInt(m.size)));
      if (at >= 0) put(at, c);
      continue;
    }
    const at = lastIndex(steps, (s) => s.changed.some((r) => r.register === c.what));
    if (at >= 0) put(at, c);
  }
  return { byStep, atEnd };
}

function traced(arch: Arch, name: string, value: string | undefined): string {
  return value === undefined ? `<span>${e(name)}=<span class="unknown-value" title="depends on what the dump lacks">?</span></span>` : `<span>${e(name)}=${e(valueOf(arch, value))}</span>`;
}

function memoryText(arch: Arch, m: TraceStep['memory'][number]): string {
  const where = m.address === undefined ? '<span class="unknown-value">?</span>' : e(addressOf(arch, m.address));
  const value = m.value === undefined ? '<span class="unknown-value">?</span>' : e(HEX.test(m.value) ? BigInt(m.value).toString(16).padStart(Math.min(m.size, 8) * 2, '0') : m.value);
  return `<span>${m.access === 'write' ? 'wrote' : 'read'} [${where}]=${value}</span>`;
}

function checkList(checks: Check[] | undefined): string {
  return (checks ?? []).map((c) => `<span>${e(c.what)} ${status(c)}</span>`).join(' ');
}

function traceSection(doc: ExplainDocument, arch: Arch, trace: WindowTrace | undefined, window: WindowReport | undefined): string {
  if (!trace || trace.steps.length === 0) {
    const why = trace?.note ? `<p class="muted">No replay trace: ${e(trace.note)}.</p>` : '<p class="muted">This report carries no replay trace.</p>';
    const listing = window ? `<pre class="mono" id="window-listing">${window.instructions.map(e).join('\n')}</pre>` : '';
    return why + listing;
  }
  const { byStep, atEnd } = placeChecks(doc.checks, trace.steps);
  const rows: string[] = [];
  const start = trace.start.filter((r) => r.value === undefined).map((r) => e(r.register));
  for (const step of trace.steps) {
    if (trace.injection && trace.injection.index === step.index && trace.injection.at === 'before') {
      rows.push(`<tr class="injected"><td></td><td colspan="5"><strong>fault injected:</strong> ${e(trace.injection.description)}</td></tr>`);
    }
    const parts = (step.instruction ?? '').split(' ');
    const text = step.instruction ? parts.slice(2).join(' ') : '(bytes not in the dump)';
    const bytes = step.instruction ? parts[1] ?? '' : '';
    const injectedHere = trace.injection?.index === step.index && trace.injection.at !== 'before';
    rows.push(`<tr${injectedHere ? ' class="injected"' : ''} data-step="${step.index}"><td class="mono">${step.index}</td><td class="mono">${e(addressOf(arch, step.pc))}<br><span class="muted">${e(bytes)}</span></td><td class="mono">${e(text)}<br><span class="muted">${e(step.symbol)}</span>${step.pathKnown ? '' : '<br><span class="unknown-value">path depends on what the dump lacks</span>'}</td><td class="mono changes">${step.changed.map((r) => traced(arch, r.register, r.value)).join('')}</td><td class="mono memory">${step.memory.map((m) => memoryText(arch, m)).join('')}</td><td>${checkList(byStep.get(step.index))}</td></tr>`);
    if (injectedHere) rows.push(`<tr class="injected"><td></td><td colspan="5"><strong>fault injected:</strong> ${e(trace.injection!.description)}</td></tr>`);
  }
  // A fault injected before an instruction the run then never executed (a faulting access) sits just before the end.
  if (trace.injection && !trace.steps.some((s) => s.index === trace.injection!.index)) {
    rows.push(`<tr class="injected"><td></td><td colspan="5"><strong>fault injected:</strong> ${e(trace.injection.description)}</td></tr>`);
  }
  rows.push(`<tr class="end"><td></td><td colspan="4">end: ${e(trace.end)}</td><td>${checkList(atEnd)}</td></tr>`);
  const note = trace.note ? `<p class="muted">${e(trace.note)}</p>` : '';
  return `<p>Window <code>${e(trace.window)}</code>${window ? ` from <code>${e(addressOf(arch, window.start))}</code> ${e(window.startSymbol ?? '')}` : ''}, replayed with ${trace.hypothesis ? `<code>${e(trace.hypothesis)}</code>` : 'the code as written'}. Each row: the instruction, the registers it changed and the memory it touched (values after it), and the checks whose value it made. <span class="unknown-value">?</span> is a value that depends on what the dump does not hold.</p>
${start.length ? `<p>Unknown at the start: <code>${start.join(', ')}</code></p>` : ''}${note}
<div class="scroll"><table id="trace"><tr><th>#</th><th>address</th><th>instruction</th><th>registers changed</th><th>memory</th><th>checks</th></tr>
${rows.join('\n')}</table></div>`;
}

function checksSection(doc: ExplainDocument): string {
  if (!doc.checks.length) return '<p class="muted">No checks: no hypothesis was replayed against the dump.</p>';
  const rows = doc.checks.map((c) => `<tr><td class="mono">${e(c.what)}</td><td class="mono">${c.expected === undefined ? '<span class="muted">(not in dump)</span>' : e(c.expected)}</td><td class="mono">${c.actual === undefined ? '<span class="unknown-value">?</span>' : e(c.actual)}</td><td>${status(c)}</td><td>${e(c.note ?? '')}</td></tr>`);
  return `<p>The checks of <code>${e(doc.verdict.hypothesis ?? 'as-written')}</code>: the replay against what the dump recorded. Unknown is never counted as a match or a mismatch; a carried match (a value the window never touched) is not evidence.</p>
<div class="scroll"><table id="checks"><tr><th>check</th><th>dump</th><th>replay</th><th>status</th><th>note</th></tr>${rows.join('\n')}</table></div>`;
}

function hypothesesSection(doc: ExplainDocument): string {
  const list: HypothesisReport[] = doc.stated ?? doc.hypotheses;
  const tried = doc.stated ? `${doc.stated.length} stated` : `${doc.searched} faults tried in ${doc.timings.searchMs} ms`;
  if (!list.length) return `<p class="muted">No hypotheses (${e(tried)}).</p>`;
  const terms = (h: HypothesisReport) => {
    const t = h.scoreTerms;
    if (!t) return '';
    return [t.prior, t.checks, t.evidence, t.multiplicity].map((x, i) => (i === 0 ? String(x) : x < 0 ? `− ${-x}` : `+ ${x}`)).join(' ');
  };
  const rows = list.map((h, i) => `<tr${h.id === doc.verdict.hypothesis ? ' class="chosen"' : ''}><td>${i + 1}</td><td class="mono hypothesis-id">${e(h.id)}</td><td>${e(h.class)}</td><td>${h.explains ? 'explains' : 'rejected'}</td><td class="mono score">${h.score}</td><td class="mono muted">${e(terms(h))}</td><td>${h.summary.match} match (${h.summary.computedMatch} computed), ${h.summary.mismatch} mismatch, ${h.summary.unknown} unknown</td><td>${e(h.description)}</td></tr>`);
  return `<p>${e(tried)}; score = prior + checks + evidence + multiplicity (− log10 of the hypotheses tried in the family), in log10 odds.</p>
<div class="scroll"><table id="hypotheses"><tr><th>#</th><th>hypothesis</th><th>class</th><th></th><th>score</th><th>terms</th><th>checks</th><th>what it says</th></tr>${rows.join('\n')}</table></div>`;
}

function notesSection(doc: ExplainDocument, window: WindowReport | undefined): string {
  const items = [
    ...doc.unchecked.map((u) => e(u)),
    ...(window?.unknown?.length ? [`registers unknown at the start of window ${e(window.id)}: <code>${window.unknown.map(e).join(', ')}</code>`] : []),
    ...(window?.notes ?? []).map((n) => e(n)),
  ];
  if (!items.length) return '<p class="muted">Nothing: the dump held every value the checks needed.</p>';
  return `<ul id="notes">${items.map((i) => `<li>${i}</li>`).join('')}</ul>`;
}

function filesSection(options: HtmlOptions): string {
  const links = [
    options.links?.tenet ? `<li><a href="${e(encodeURI(options.links.tenet))}">${e(options.links.tenet)}</a>: the replay as a Tenet trace (registers and memory at each step)</li>` : '',
    options.links?.drcov ? `<li><a href="${e(encodeURI(options.links.drcov))}">${e(options.links.drcov)}</a>: the replay's coverage as drcov (Lighthouse)</li>` : '',
  ].filter(Boolean);
  return links.length ? `<h2>Files</h2><ul id="files">${links.join('')}</ul>` : '';
}

/** The whole page for `doc`. */
export function renderHtml(doc: ExplainDocument, options: HtmlOptions = {}): string {
  const arch = doc.dump.arch as Arch;
  const window = doc.window ?? doc.windows.find((w) => w.id === doc.trace?.window);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>faultline: ${e(doc.verdict.class)} — ${e(doc.dump.path)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>faultline report: <span id="dump-path">${e(doc.dump.path)}</span></h1>
<p class="muted">${e(doc.dump.format)}, ${e(doc.dump.arch)}</p>
</header>
<section id="verdict"><h2>Verdict</h2>
${summaryLine(doc)}
</section>
<section><h2>Expected and observed</h2>
${bitStrip(doc, arch)}
</section>
<section><h2>The fault</h2>
${faultSection(doc, arch)}
</section>
<section><h2>How execution could have got there</h2>
${candidatesSection(doc, arch)}
</section>
<section><h2>The replay</h2>
${traceSection(doc, arch, doc.trace, window)}
</section>
<section><h2>Checks</h2>
${checksSection(doc)}
</section>
<section><h2>Hypotheses</h2>
${hypothesesSection(doc)}
</section>
<section><h2>What the dump did not say</h2>
${notesSection(doc, window)}
</section>
${filesSection(options)}
<footer>faultline · ${e(doc.schema)} · ${doc.timings.totalMs} ms in all, ${doc.timings.searchMs} ms searching</footer>
</body>
</html>
`;
}
