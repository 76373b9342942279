/**
 * A progress bar on stderr for long work (the fault search, a long trace):
 * a bar, the count so far and the time left, redrawn in place at most ten
 * times a second and erased when the work ends. Only on a terminal: piped
 * output, and `--json`, get nothing (`progressBar` returns undefined).
 *
 * @example
 * ```ts
 * const bar = progressBar('searching', { json: flags.json });
 * bar?.update({ count: 1234, unit: 'replays', fraction: 0.4, leftMs: 6200 });
 * bar?.done();
 * ```
 */

/** Where the bar is drawn: stderr, or a stand-in with the same few members. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export interface ProgressState {
  count: number;
  unit: string;
  /** 0..1: how much of the work, or of its budget, is done. */
  fraction: number;
  /** Time left, when it can be told. */
  leftMs?: number;
  /** `leftMs` is the budget left: the work may end sooner. */
  bound?: boolean;
}

const REDRAW_MS = 100;

function seconds(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  return s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(1)} s`;
}

/** The bar's line for `state`, at most `width` characters. */
export function progressLine(label: string, state: ProgressState, width: number): string {
  const fraction = Math.min(1, Math.max(0, state.fraction));
  const text = ` ${state.count} ${state.unit}${state.leftMs === undefined ? '' : `, ${state.bound ? 'at most ' : ''}${seconds(state.leftMs)} left`}`;
  const room = Math.max(10, Math.min(40, width - label.length - text.length - 4));
  const filled = Math.round(fraction * room);
  return `${label} [${'#'.repeat(filled)}${'.'.repeat(room - filled)}]${text}`.slice(0, Math.max(1, width - 1));
}

export class ProgressBar {
  private last = 0;
  private drawn = false;

  constructor(private readonly stream: ProgressStream, private readonly label: string) {}

  /** Redraws the bar, unless it was drawn less than 100 ms ago. */
  update(state: ProgressState): void {
    const now = performance.now();
    if (this.drawn && now - this.last < REDRAW_MS) return;
    this.last = now;
    this.drawn = true;
    this.stream.write(`\r${progressLine(this.label, state, this.stream.columns || 80)}\x1b[K`);
  }

  /** Erases the bar. */
  done(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}

/** A bar on `stream` (stderr) when it is a terminal and the output is not JSON; otherwise undefined. */
export function progressBar(label: string, options: { json?: boolean; stream?: ProgressStream } = {}): ProgressBar | undefined {
  const stream = options.stream ?? process.stderr;
  if (options.json || !stream.isTTY) return undefined;
  return new ProgressBar(stream, label);
}
