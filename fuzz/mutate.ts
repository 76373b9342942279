/**
 * Mutations for the fuzzer: binary ones that know where a file keeps its
 * offsets, sizes and counts (little-endian 32-bit values no larger than the
 * file, preferred as targets), and line-level ones for transcripts that
 * speak WinDbg (prompts, verbs, addresses, register assignments, very long
 * tokens, control characters). Deterministic for a given random source.
 *
 * @example
 * ```ts
 * const random = seededRandom(1);
 * const next = mutateBinary(seed, [seed, other], random);
 * const text = mutateText('1: kd> r\neax=1\n', ['1: kd> u 0\n'], random);
 * ```
 */

/** A random source: an integer in [0, n). */
export type Random = (n: number) => number;

/** A small, fast, seedable generator (mulberry32). */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** Largest input a mutation makes. */
export const MAX_INPUT = 4 * 1024 * 1024;

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff];
const INTERESTING_32 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** Offsets of little-endian 32-bit values that could be offsets, sizes or counts in `bytes` (1 to its length). */
export function fieldOffsets(bytes: Uint8Array): number[] {
  const found: number[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at + 4 <= bytes.length; at += 4) {
    const value = view.getUint32(at, true);
    if (value > 0 && value <= bytes.length) found.push(at);
  }
  return found;
}

function writeU32(bytes: Uint8Array, at: number, value: number): void {
  if (at + 4 > bytes.length) return;
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(at, value >>> 0, true);
}

function writeU64(bytes: Uint8Array, at: number, value: bigint): void {
  if (at + 8 > bytes.length) return;
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setBigUint64(at, BigInt.asUintN(64, value), true);
}

/**
 * Two buffers a worker's mutations reuse instead of allocating: the seed is
 * copied into one, and a mutation that changes the length copies into the
 * other. A 4 MiB kernel dump seed copied and spliced into new arrays cost
 * ~2.6 ms an input (allocation, page faults, GC), more than its parse.
 */
export class MutationBuffers {
  readonly a: Uint8Array;
  readonly b: Uint8Array;
  /** `size`: the largest input (at least MAX_INPUT and the largest seed). */
  constructor(size: number) {
    this.a = new Uint8Array(Math.max(size, MAX_INPUT));
    this.b = new Uint8Array(Math.max(size, MAX_INPUT));
  }

  /** The buffer `bytes` is not in: where a length-changing mutation writes. */
  other(bytes: Uint8Array): Uint8Array {
    return bytes.buffer === this.a.buffer ? this.b : this.a;
  }
}

/**
 * One mutation of `input`, which it may change (it is the caller's copy);
 * `fields` are offsets to prefer, `others` other seeds to splice with.
 * A mutation that changes the length returns new bytes: in `buffers` when
 * given, else newly allocated.
 */
function mutateOnce(input: Uint8Array, fields: number[], others: Uint8Array[], random: Random, buffers?: MutationBuffers): Uint8Array {
  const concat = (...parts: Uint8Array[]): Uint8Array => concatInto(buffers?.other(bytes), parts);
  let bytes = input;
  const pos = (): number => (bytes.length === 0 ? 0 : random(bytes.length));
  const fieldOrPos = (): number => (fields.length > 0 && random(2) === 0 ? fields[random(fields.length)]! : pos() & ~3);
  switch (random(11)) {
    case 0: {
      if (bytes.length) bytes[pos()]! ^= 1 << random(8);
      break;
    }
    case 1: {
      if (bytes.length) bytes[pos()] = INTERESTING_8[random(INTERESTING_8.length)]!;
      break;
    }
    case 2: {
      writeU32(bytes, fieldOrPos(), INTERESTING_32[random(INTERESTING_32.length)]!);
      break;
    }
    case 3: {
      // A size or offset nudged, or set near the file's length.
      const at = fieldOrPos();
      if (at + 4 <= bytes.length) {
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const delta = random(2) ? random(33) - 16 : bytes.length - view.getUint32(at, true) + random(9) - 4;
        view.setUint32(at, (view.getUint32(at, true) + delta) >>> 0, true);
      }
      break;
    }
    case 4: {
      writeU64(bytes, fieldOrPos(), [0n, 1n, (1n << 63n), (1n << 64n) - 1n, 1n << 32n, BigInt(bytes.length)][random(6)]!);
      break;
    }
    case 5: {
      // Truncate (a view: `bytes` is already the caller's copy).
      bytes = bytes.subarray(0, pos());
      break;
    }
    case 6: {
      // Delete a chunk.
      const at = pos();
      const length = 1 + random(Math.min(256, bytes.length - at || 1));
      bytes = concat(bytes.subarray(0, at), bytes.subarray(at + length));
      break;
    }
    case 7: {
      // Duplicate a chunk in place.
      const at = pos();
      const chunk = bytes.slice(at, at + 1 + random(512));
      if (bytes.length + chunk.length <= MAX_INPUT) bytes = concat(bytes.subarray(0, at), chunk, bytes.subarray(at));
      break;
    }
    case 8: {
      // Splice: the head of this input, the tail of another.
      const other = others[random(others.length)];
      if (other && other.length) bytes = concat(bytes.subarray(0, pos()), other.subarray(random(other.length)));
      break;
    }
    case 9: {
      // Copy a chunk over another place (a pointer to real data elsewhere).
      const from = pos();
      const to = pos();
      const length = Math.min(1 + random(64), bytes.length - Math.max(from, to));
      if (length > 0) bytes.copyWithin(to, from, from + length);
      break;
    }
    default: {
      // Random bytes.
      const at = pos();
      for (let i = 0; i < 1 + random(16) && at + i < bytes.length; i++) bytes[at + i] = random(256);
    }
  }
  return bytes;
}

/** `parts` joined (at most MAX_INPUT bytes), at the start of `into` when given, else in a new array. */
function concatInto(into: Uint8Array | undefined, parts: Uint8Array[]): Uint8Array {
  const length = Math.min(MAX_INPUT, parts.reduce((n, p) => n + p.length, 0));
  const out = into ? into.subarray(0, length) : new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    const take = Math.min(part.length, out.length - at);
    out.set(part.subarray(0, take), at);
    at += take;
  }
  return out;
}

/**
 * `seed` with 1 to 8 stacked mutations, in `buffers` when given (the
 * result is then valid until the next call with them), else a new array.
 *
 * @example
 * ```ts
 * mutateBinary(Uint8Array.of(1, 2, 3, 4), [], seededRandom(7)).length; // about 4
 * ```
 */
export function mutateBinary(seed: Uint8Array, others: Uint8Array[], random: Random, fields = fieldOffsets(seed), buffers?: MutationBuffers): Uint8Array {
  let bytes: Uint8Array;
  if (buffers) {
    bytes = buffers.a.subarray(0, seed.length);
    bytes.set(seed);
  } else {
    bytes = seed.slice();
  }
  const count = 1 << random(4);
  for (let i = 0; i < count; i++) bytes = mutateOnce(bytes, fields, others, random, buffers);
  return bytes;
}

/** Words WinDbg prints, to put in lines. */
const TOKENS = [
  '1: kd>', '0:000>', '0: kd>', 'kd>', 'u', 'ub', 'uf', 'db', 'dd', 'dq', 'dc', 'dps', 'dqs', 'dds', 'r', '.trap', '.cxr', '.bugcheck', '.exr -1', 'lm', 'x', 'ln', 'k', '?',
  '80a5d8e1', 'fffff800`02a8c5d0', 'ffffffffffffffff', '00000000', '????????', '??', '41', 'ff', 'e8d82b0000', 'f9400042',
  'eax=00000001', 'rip=fffff800`02a8c5d0', 'x0=0000000000000000', 'efl=00000202', 'iopl=0', 'nv', 'up', 'ei', 'pl', 'zr', 'N---', 'psr=80000000',
  'hal!HalpIpiHandler+0xcc', '(80a5d8f6)', 'call', 'dword ptr [80a5b020]', 'ds:0023:80a5b020=8082e3e4', 'Bugcheck code 0000008E', 'Arguments',
  'ExceptionAddress:', 'ExceptionCode: c0000005', 'Parameter[0]:', 'start end module name', 'hal', '-', ':', '[c:\\src\\a.c @ 40]',
];
const WEIRD = ['\r', '\t', '\u0000', '\u001b[2J', '\u00ff', '\u2028', '\ufeff', '`', '!', '+0x', '(', ')', '='];

function mutateLine(line: string, random: Random): string {
  const tokens = line.split(/(\s+)/);
  const at = random(tokens.length + 1);
  switch (random(7)) {
    case 0: tokens.splice(at, 0, ' ', TOKENS[random(TOKENS.length)]!); break;
    case 1: tokens[at] = TOKENS[random(TOKENS.length)]!; break;
    case 2: {
      // A very long token or run of tokens (linear-time parsing).
      const piece = random(2) ? tokens[at] ?? 'a' : TOKENS[random(TOKENS.length)]!;
      const times = [100, 1000, 10_000, 50_000][random(4)]!;
      const joiner = random(2) ? ' ' : '';
      tokens.splice(at, 0, (piece + joiner).repeat(Math.min(times, Math.ceil(400_000 / (piece.length + joiner.length || 1)))).slice(0, 400_000));
      break;
    }
    case 3: tokens.splice(at, 0, WEIRD[random(WEIRD.length)]!); break;
    case 4: {
      // A hex digit changed.
      const text = tokens.join('');
      const i = random(text.length + 1);
      return text.slice(0, i) + '0123456789abcdefg`?'[random(19)]! + text.slice(i + 1);
    }
    case 5: tokens.splice(at, 1); break;
    default: {
      const text = tokens.join('');
      return text.slice(0, random(text.length + 1));
    }
  }
  return tokens.join('');
}

/**
 * `seed` (a transcript) with 1 to 8 stacked line mutations: lines deleted,
 * duplicated, swapped, taken from `others`, or changed within.
 *
 * @example
 * ```ts
 * mutateText('1: kd> r\neax=1\n', [], seededRandom(3)); // e.g. '1: kd> r\neax=1 eax=1\n'
 * ```
 */
export function mutateText(seed: string, others: string[], random: Random): string {
  const lines = seed.split('\n');
  const count = 1 << random(4);
  for (let i = 0; i < count; i++) {
    const at = random(lines.length);
    switch (random(6)) {
      case 0: lines.splice(at, 1); break;
      case 1: lines.splice(at, 0, lines[random(lines.length)] ?? ''); break;
      case 2: {
        const other = others[random(others.length)]?.split('\n') ?? [];
        lines.splice(at, 0, ...other.slice(random(other.length + 1), random(other.length + 1)).slice(0, 50));
        break;
      }
      case 3: {
        const j = random(lines.length);
        [lines[at], lines[j]] = [lines[j]!, lines[at]!];
        break;
      }
      default: lines[at] = mutateLine(lines[at] ?? '', random);
    }
  }
  const text = lines.join(random(20) === 0 ? '\r\n' : '\n');
  return text.length > MAX_INPUT ? text.slice(0, MAX_INPUT) : text;
}
