/**
 * The lab's cases, drawn from a seed: which architecture, build, crash
 * shape and fault model (or which genuine software bug), where the fault
 * goes, and in which formats the crash is written besides its ELF core.
 * Case `i` of seed `s` is always the same case, whatever else runs, so a
 * fixed seed is a fixed corpus.
 *
 * @example
 * ```ts
 * const plan = planCase(1, 0, ['x64', 'x86', 'arm64']);
 * // { id: '0000-x64-virtual-branch-target', model: 'branch-target', function: 'run_virtual', … }
 * ```
 */
import { VARIANTS, type BuildVariant, type LabProgram } from './build.ts';
import type { LabArch } from './toolchain.ts';

/** How a fault was injected; each maps to the class and location a correct verdict names. */
export type FaultModel = 'branch-target' | 'loaded-value' | 'memory' | 'code' | 'skip' | 'data-address';
export const FAULT_MODELS: readonly FaultModel[] = ['branch-target', 'loaded-value', 'memory', 'code', 'skip', 'data-address'];

export type TruthClass = 'cpu-fault' | 'memory-corruption' | 'code-corruption' | 'software' | 'no-fault';

export const MODEL_CLASS: Record<FaultModel, TruthClass> = {
  'branch-target': 'cpu-fault',
  'loaded-value': 'cpu-fault',
  memory: 'memory-corruption',
  code: 'code-corruption',
  skip: 'cpu-fault',
  'data-address': 'cpu-fault',
};

/**
 * The crash shapes of lab/programs/shapes.c: the functions faults go into,
 * and whether each is entered on every iteration (`repeated`) or once.
 */
export const SHAPES: Record<string, Array<{ name: string; repeated: boolean }>> = {
  'fnptr-global': [{ name: 'run_fnptr_global', repeated: false }],
  'fnptr-struct': [{ name: 'run_fnptr_struct', repeated: false }],
  'fnptr-arg': [{ name: 'apply', repeated: true }, { name: 'run_fnptr_arg', repeated: false }],
  virtual: [{ name: 'run_virtual', repeated: false }],
  jumptable: [{ name: 'classify', repeated: true }],
  tailcall: [{ name: 'dispatch', repeated: true }],
  return: [{ name: 'leaf_chain', repeated: true }, { name: 'mix', repeated: true }],
  'data-pointer': [{ name: 'run_data_pointer', repeated: false }],
  'array-walk': [{ name: 'run_array_walk', repeated: false }],
  'callbacks-deep': [{ name: 'level3', repeated: true }, { name: 'level2', repeated: true }, { name: 'level1', repeated: true }],
};

export interface BugSpec {
  /** Architectures where the bug crashes (AArch64 does not trap on integer division by zero). */
  arches: readonly LabArch[];
  /** Signals the crash must die of to count. */
  signals: readonly string[];
  truth: TruthClass;
  /** Arguments and environment, drawn from the case's random stream. */
  draw: (random: Random, arch: LabArch) => { args: string[]; env?: Record<string, string> };
}

const ALL: readonly LabArch[] = ['x64', 'x86', 'arm64'];
const hex = (v: number | bigint) => `0x${v.toString(16)}`;

/** Genuine software bugs of lab/programs/bugs.c. */
export const BUGS: Record<string, BugSpec> = {
  'uaf-perturb': {
    arches: ALL, signals: ['SIGSEGV', 'SIGBUS'], truth: 'software',
    draw: (r) => ({ args: [], env: { MALLOC_PERTURB_: String(r.pick([0xdd, 0xe5, 0xd0, 0xcd, 0xfe, 0xab])), GLIBC_TUNABLES: 'glibc.malloc.tcache_count=0' } }),
  },
  'uaf-pattern': {
    arches: ALL, signals: ['SIGSEGV', 'SIGBUS'], truth: 'software',
    draw: (r) => ({ args: [hex(r.pick([0xfeeefeee, 0xbaadf00d, 0xcdcdcdcd, 0xdeadbeef, 0xabababab, 0xd0d0d0d0, 0xdddddddd]))] }),
  },
  'null-vtable': { arches: ALL, signals: ['SIGSEGV'], truth: 'software', draw: () => ({ args: [] }) },
  'null-fnptr': { arches: ALL, signals: ['SIGSEGV'], truth: 'software', draw: () => ({ args: [] }) },
  'uninit-fnptr': { arches: ALL, signals: ['SIGSEGV', 'SIGILL', 'SIGBUS'], truth: 'software', draw: (r) => ({ args: [String(1 + r.int(1000))] }) },
  'wild-pointer': { arches: ALL, signals: ['SIGSEGV'], truth: 'software', draw: (r, arch) => ({ args: [hex(wildAddress(r, arch))] }) },
  'wild-write': { arches: ALL, signals: ['SIGSEGV'], truth: 'software', draw: (r, arch) => ({ args: [hex(wildAddress(r, arch))] }) },
  noncanonical: { arches: ['x64', 'arm64'], signals: ['SIGSEGV', 'SIGBUS'], truth: 'software', draw: () => ({ args: [] }) },
  'stack-overflow': { arches: ALL, signals: ['SIGSEGV'], truth: 'software', draw: () => ({ args: ['1'] }) },
  assert: { arches: ALL, signals: ['SIGABRT'], truth: 'software', draw: (r) => ({ args: [String(1 + r.int(100))] }) },
  'double-free': { arches: ALL, signals: ['SIGABRT'], truth: 'software', draw: () => ({ args: [] }) },
  'divide-by-zero': { arches: ['x64', 'x86'], signals: ['SIGFPE'], truth: 'software', draw: (r) => ({ args: [String(r.int(50))] }) },
  trap: { arches: ALL, signals: ['SIGILL', 'SIGTRAP'], truth: 'software', draw: (r) => ({ args: [String(r.int(50))] }) },
  breakpoint: { arches: ALL, signals: ['SIGTRAP'], truth: 'no-fault', draw: (r) => ({ args: [String(r.int(50))] }) },
};

/** An address no lab program maps: far from the program, its heap, its libraries and its stack. */
function wildAddress(r: Random, arch: LabArch): bigint {
  const aligned = (lo: bigint, span: bigint) => (lo + r.bigint(span)) & ~7n;
  if (arch === 'x86') return aligned(0x0100_0000n, 0x0700_0000n);
  if (arch === 'x64') return aligned(0x1_0000_0000n, 0x3f00_0000_0000n);
  return aligned(0x1_0000_0000n, 0x30_0000_0000n);
}

/** A small deterministic random stream (splitmix32-style), so the corpus depends only on the seed. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 2 ** 32;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  bigint(n: bigint): bigint {
    const high = BigInt(this.int(2 ** 30));
    const low = BigInt(this.int(2 ** 30));
    return ((high << 30n) | low) % n;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** One of `items`, each as likely as its weight. */
  weighted<T>(items: ReadonlyArray<readonly [T, number]>): T {
    const total = items.reduce((n, [, w]) => n + w, 0);
    let x = this.next() * total;
    for (const [item, w] of items) {
      x -= w;
      if (x < 0) return item;
    }
    return items[items.length - 1]![0];
  }
}

export interface FormatPlan {
  /** Also written as a Windows minidump: all memory, or stack and code around the pc as a default minidump holds. */
  minidump?: 'full' | 'small';
  /** Also written as a WinDbg transcript: a user-mode session, or a kernel bugcheck with a trap frame. */
  transcript?: 'user' | 'kernel';
}

export interface CasePlan {
  index: number;
  id: string;
  arch: LabArch;
  program: LabProgram;
  variant: BuildVariant;
  args: string[];
  env: Record<string, string>;
  /** Injected faults. */
  shape?: string;
  model?: FaultModel;
  function?: string;
  repeated?: boolean;
  instance?: number;
  /** Seed of the injector's own choices (site, bit). */
  injectorSeed?: number;
  /** Genuine bugs. */
  bug?: string;
  truth: TruthClass;
  formats: FormatPlan;
}

/**
 * Models drawn more often where fewer attempts crash as intended (a flipped
 * code byte or a skipped instruction often changes nothing), so the verified
 * corpus covers every model.
 */
const MODEL_WEIGHTS: ReadonlyArray<readonly [FaultModel, number]> = [
  ['branch-target', 1], ['loaded-value', 1.5], ['memory', 1.5], ['code', 3], ['skip', 3], ['data-address', 1],
];

/** Share of cases that are genuine software bugs. */
const BUG_SHARE = 0.3;

/** Case `index` of `seed`, for the architectures `arches` (taken in turn). */
export function planCase(seed: number, index: number, arches: readonly LabArch[]): CasePlan {
  const random = new Random(Math.imul(seed, 0x01000193) ^ Math.imul(index + 1, 0x9e3779b1));
  const arch = arches[index % arches.length]!;
  const variant = random.pick(VARIANTS);
  const formats: FormatPlan = {};
  const format = random.next();
  if (format < 1 / 3) formats.minidump = random.next() < 0.75 ? 'full' : 'small';
  else if (format < 2 / 3) formats.transcript = arch !== 'arm64' && random.next() < 0.4 ? 'kernel' : 'user';
  const number = String(index).padStart(4, '0');
  if (random.next() < BUG_SHARE) {
    const names = Object.keys(BUGS).filter((b) => BUGS[b]!.arches.includes(arch));
    const bug = random.pick(names);
    const spec = BUGS[bug]!;
    const drawn = spec.draw(random, arch);
    return {
      index, id: `${number}-${arch}-bug-${bug}`, arch, program: 'bugs', variant, args: [bug, ...drawn.args], env: drawn.env ?? {},
      bug, truth: spec.truth, formats,
    };
  }
  const shape = random.pick(Object.keys(SHAPES));
  const fn = random.pick(SHAPES[shape]!);
  const model = random.weighted(MODEL_WEIGHTS);
  const iterations = 4 + random.int(9);
  return {
    index, id: `${number}-${arch}-${shape}-${model}`, arch, program: 'shapes', variant, args: [shape, String(iterations)], env: {},
    shape, model, function: fn.name, repeated: fn.repeated, instance: 1 + random.int(3), injectorSeed: random.int(2 ** 31),
    truth: MODEL_CLASS[model], formats,
  };
}
