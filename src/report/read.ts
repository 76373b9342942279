/**
 * Reads a saved `faultline explain --json` report for `faultline report`:
 * the file whole (bounded), parsed, and every field the HTML report shows
 * checked for its type, so that a malformed or hostile file is one error
 * line naming the field, never a crash half-way through rendering.
 *
 * @example
 * ```ts
 * const document = readExplainDocument('crash.json'); // InputError "crash.json: verdict.confidence: expected a number"
 * ```
 */
import { closeSync, readSync } from 'node:fs';
import { openRegularFile } from '../dumps/binary/regular-file.ts';
import type { ExplainDocument } from '../analysis/window-trace.ts';
import { InputError } from '../errors.ts';

/** Reports larger than this are refused: explain writes a few hundred KB at most. */
export const MAX_REPORT_BYTES = 64 * 1024 * 1024;

/** A field's expected type: a name, an array of a shape, or an object of fields (`?` suffix: may be absent). */
type Shape = 'string' | 'number' | 'boolean' | 'number|null' | 'any' | readonly ['array', Shape] | { readonly [field: string]: Shape };

const VALUE_STATUS = ['match', 'mismatch', 'unknown'];

const INSTRUCTION: Shape = { address: 'string', text: 'string', symbol: 'string' };
const CHECK: Shape = { what: 'string', 'expected?': 'string', 'actual?': 'string', status: 'string', 'basis?': 'string', 'note?': 'string' };
const WINDOW: Shape = {
  id: 'string', 'candidate?': 'string', start: 'string', 'startSymbol?': 'string', anchor: 'string', instructions: ['array', 'string'],
  'stackPointer?': 'string', 'startReason?': 'string', 'unknown?': ['array', 'string'],
  'recovered?': ['array', { register: 'string', slot: 'string', value: 'string' }], 'end?': 'string', 'notes?': ['array', 'string'],
};
const HYPOTHESIS: Shape = {
  id: 'string', class: 'string', 'location?': 'string', family: 'string', 'window?': 'string', description: 'string',
  'bit?': 'number', 'expected?': 'string', 'observed?': 'string', 'address?': 'string', explains: 'boolean',
  summary: { match: 'number', mismatch: 'number', unknown: 'number', computedMatch: 'number' },
  'checks?': ['array', CHECK], 'evidence?': ['array', { text: 'string', weight: 'number' }], 'tried?': 'number', score: 'number',
  'scoreTerms?': { prior: 'number', checks: 'number', evidence: 'number', multiplicity: 'number' },
};
const TRACED: Shape = { register: 'string', 'value?': 'string' };
const TRACE: Shape = {
  window: 'string', 'hypothesis?': 'string', 'injection?': { index: 'number', at: 'string', description: 'string' }, 'note?': 'string',
  start: ['array', TRACED],
  steps: ['array', {
    index: 'number', pc: 'string', size: 'number', 'instruction?': 'string', symbol: 'string', changed: ['array', TRACED],
    memory: ['array', { access: 'string', 'address?': 'string', size: 'number', 'value?': 'string' }], pathKnown: 'boolean',
  }],
  end: 'string',
  modules: ['array', { name: 'string', 'path?': 'string', base: 'string', end: 'string' }],
};
const DOCUMENT: Shape = {
  schema: 'string',
  dump: { path: 'string', format: 'string', arch: 'string' },
  'fault?': {
    summary: 'string', kind: 'string', pc: 'string', symbol: 'string', 'reportedPc?': 'string', 'accessAddress?': 'string', 'access?': 'string',
    'instruction?': 'string', 'predecessor?': 'string', 'reachableByFallThrough?': 'boolean',
  },
  candidates: ['array', {
    kind: 'string', instruction: INSTRUCTION, 'expected?': 'string', 'expectedSymbol?': 'string', observed: 'string', 'unknownReason?': 'string',
    'pointer?': { address: 'string', 'symbol?': 'string', value: 'string' },
    'comparison?': { relation: 'string', hamming: 'number', xor: 'string', 'bit?': 'number', 'direction?': 'string' },
    evidence: ['array', 'string'],
  }],
  windows: ['array', WINDOW],
  'window?': WINDOW,
  hypotheses: ['array', HYPOTHESIS],
  'stated?': ['array', HYPOTHESIS],
  searched: 'number',
  tried: 'any',
  verdict: {
    class: 'string', 'location?': 'string', 'bit?': 'number', 'direction?': 'string', 'expected?': 'string', 'observed?': 'string', 'address?': 'string',
    confidence: 'number', confidenceLabel: 'string', summary: 'string', reasons: ['array', 'string'], 'hypothesis?': 'string',
    'score?': 'number', 'margin?': 'number|null', 'runnerUp?': 'string', 'equivalent?': ['array', 'string'], 'alternatives?': ['array', 'string'],
  },
  checks: ['array', CHECK],
  unchecked: ['array', 'string'],
  timings: { totalMs: 'number', searchMs: 'number' },
  'trace?': TRACE,
};

function typeName(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Throws naming the first field of `value` at `path` that does not have `shape`. */
function check(value: unknown, shape: Shape, path: string, file: string): void {
  const fail = (expected: string) => {
    throw new InputError(`${file}: ${path || 'the top level'}: expected ${expected}, found ${typeName(value)}`);
  };
  if (shape === 'any') return;
  if (shape === 'number|null') {
    if (value !== null && typeof value !== 'number') fail('a number or null');
    return;
  }
  if (typeof shape === 'string') {
    if (typeof value !== shape) fail(`a ${shape}`);
    return;
  }
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) fail('an array');
    (value as unknown[]).forEach((item, i) => check(item, shape[1] as Shape, `${path}[${i}]`, file));
    return;
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) fail('an object');
  for (const [key, inner] of Object.entries(shape as Record<string, Shape>)) {
    const optional = key.endsWith('?');
    const name = optional ? key.slice(0, -1) : key;
    const field = (value as Record<string, unknown>)[name];
    const at = path ? `${path}.${name}` : name;
    if (field === undefined) {
      if (!optional) throw new InputError(`${file}: ${at}: missing`);
      continue;
    }
    check(field, inner, at, file);
  }
}

/** Checks that `value` is an explain document (schema `faultline/explain/2`); `file` names it in errors. */
export function validateExplainDocument(value: unknown, file: string): ExplainDocument {
  check(value, DOCUMENT, '', file);
  const document = value as ExplainDocument;
  if (document.schema !== 'faultline/explain/2') throw new InputError(`${file}: schema: expected "faultline/explain/2", found ${JSON.stringify(String(document.schema).slice(0, 40))}`);
  if (!['x86', 'x64', 'arm64'].includes(document.dump.arch)) throw new InputError(`${file}: dump.arch: expected x86, x64 or arm64`);
  const statuses = [...document.checks, ...document.hypotheses.flatMap((h) => h.checks ?? [])];
  const bad = statuses.find((c) => !VALUE_STATUS.includes(c.status));
  if (bad) throw new InputError(`${file}: checks: status ${JSON.stringify(bad.status.slice(0, 40))} is not match, mismatch or unknown`);
  return document;
}

/** Reads and checks the report in `path`. */
export function readExplainDocument(path: string): ExplainDocument {
  let fd: number;
  let size: number;
  try {
    ({ fd, size } = openRegularFile(path, 'report'));
  } catch (error) {
    // A directory, FIFO or device is refused before it is read (a FIFO would block).
    throw new InputError(`${path}: ${(error as Error).message}`);
  }
  let text: string;
  try {
    if (size > MAX_REPORT_BYTES) throw new InputError(`${path}: ${size} bytes is larger than a report can be (${MAX_REPORT_BYTES})`);
    const bytes = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, bytes, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    text = bytes.subarray(0, done).toString('utf8');
  } finally {
    closeSync(fd);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // The parser quotes the input: keep the message printable and short.
    const why = (error as Error).message.split('\n')[0]!.replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
    throw new InputError(`${path}: not JSON (${why})`);
  }
  return validateExplainDocument(value, path);
}
