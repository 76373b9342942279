/**
 * Runs `faultline explain --json` on one file of a case, as a user would
 * (a separate process: an abort inside the emulator costs that one
 * evaluation), and compares its verdict with the case's label.
 *
 * A verdict is *right* when its class is the label's class. For hardware
 * labels it is also *exact* when it names the injected bit with the same
 * expected and observed values (or, for a skipped instruction, the skipped
 * instruction's address). A software bug called cpu-fault,
 * memory-corruption or code-corruption is a *false hardware* verdict: the
 * worst error the tool can make.
 *
 * @example
 * ```ts
 * const e = await judge(label, { format: 'elf-core', file: 'core', args: ['--binary', 'prog'] }, { timeoutMs: 120_000 });
 * e.right; // true
 * ```
 */
import { runProcess } from './proc.ts';
import type { TruthClass } from './plan.ts';

export type LabFormat = 'elf-core' | 'minidump' | 'transcript';
export const LAB_FORMATS: readonly LabFormat[] = ['elf-core', 'minidump', 'transcript'];

export const HARDWARE: ReadonlySet<string> = new Set(['cpu-fault', 'memory-corruption', 'code-corruption']);

/** What the injection says the right verdict is. */
export interface Label {
  id: string;
  index: number;
  arch: string;
  /** The ELF core; other formats are in `formats`. */
  file: string;
  binary: string;
  variant: string;
  class: TruthClass;
  shape?: string;
  model?: string;
  bug?: string;
  location?: string;
  bit?: number;
  expected?: string;
  observed?: string;
  /** The instruction or memory the fault hit: the load, the slot, the code byte, the skipped instruction. */
  address?: string;
  site?: string;
  signal: string;
  pc: string;
  /** Instructions from the fault to the signal (injected faults). */
  steps?: number;
  formats: Partial<Record<LabFormat, { file: string; options?: string }>>;
}

export interface VerdictSummary {
  class: string;
  location?: string;
  bit?: number;
  expected?: string;
  observed?: string;
  address?: string;
  summary?: string;
}

export interface Evaluation {
  id: string;
  format: LabFormat;
  file: string;
  truth: TruthClass;
  verdict?: VerdictSummary;
  /** The verdict's class, or `error` when explain failed (its message in `error`). */
  got: string;
  right: boolean;
  /** Hardware labels: the right bit, expected and observed values too. */
  exact?: boolean;
  falseHardware: boolean;
  error?: string;
  ms: number;
}

const LOCATIONS: Record<string, string> = {
  'branch-target': 'branch-target', 'loaded-value': 'loaded-value', memory: 'memory', code: 'code', skip: 'skip', 'data-address': 'data-address',
};

/** The location a right verdict names for an injected model. */
export function locationOf(model: string | undefined): string | undefined {
  return model ? LOCATIONS[model] : undefined;
}

function sameValue(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  try {
    return BigInt(a) === BigInt(b);
  } catch {
    return false;
  }
}

/** True when the verdict names the injected fault exactly. */
export function exactMatch(label: Label, verdict: VerdictSummary): boolean {
  if (label.model === 'skip') return sameValue(verdict.address, label.address);
  if (verdict.bit !== label.bit) return false;
  if (label.model === 'code' && sameValue(verdict.address, label.address)) return true;
  return sameValue(verdict.expected, label.expected) && sameValue(verdict.observed, label.observed);
}

export interface JudgeOptions {
  timeoutMs: number;
  /** `faultline` command: node and the entry point. */
  faultline: string[];
}

/** Explains `file` and compares the verdict with `label`. */
export async function judge(label: Label, target: { format: LabFormat; file: string; args: string[] }, options: JudgeOptions): Promise<Evaluation> {
  const started = performance.now();
  const [command, ...prefix] = options.faultline;
  const r = await runProcess(command!, [...prefix, 'explain', '--json', target.file, ...target.args], { timeoutMs: options.timeoutMs, maxOutput: 64 << 20 });
  const ms = Math.round(performance.now() - started);
  const base = { id: label.id, format: target.format, file: target.file, truth: label.class, ms };
  let verdict: VerdictSummary | undefined;
  if (r.code === 0) {
    try {
      verdict = (JSON.parse(r.stdout) as { verdict: VerdictSummary }).verdict;
    } catch {
      verdict = undefined;
    }
  }
  if (!verdict) {
    const error = r.timedOut ? `timed out after ${options.timeoutMs} ms` : (r.stderr.trim().split('\n')[0] || r.error || `exit ${r.code ?? r.signal}`).slice(0, 300);
    return { ...base, got: 'error', right: false, falseHardware: false, error };
  }
  const picked: VerdictSummary = { class: verdict.class, location: verdict.location, bit: verdict.bit, expected: verdict.expected, observed: verdict.observed, address: verdict.address, summary: verdict.summary };
  const right = verdict.class === label.class;
  const hardwareLabel = HARDWARE.has(label.class);
  return {
    ...base,
    verdict: picked,
    got: verdict.class,
    right,
    exact: hardwareLabel ? right && exactMatch(label, picked) : undefined,
    falseHardware: !hardwareLabel && HARDWARE.has(verdict.class),
  };
}
