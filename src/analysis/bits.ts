/**
 * How an observed value relates to the expected one: equal, one bit apart
 * (which bit, and whether it went 1→0 or 0→1), a few bits (Hamming
 * distance), or unrelated.
 *
 * @example
 * ```ts
 * compareBits(0x8082e3e4n, 0x8082e3e0n, 32);
 * // { relation: 'one-bit', hamming: 1, bit: 2, direction: '1->0', xor: 4n }
 * ```
 */
export type BitRelation = 'equal' | 'one-bit' | 'several-bits' | 'unrelated';

export interface BitComparison {
  relation: BitRelation;
  hamming: number;
  xor: bigint;
  /** The flipped bit, for one-bit differences. */
  bit?: number;
  /** For one-bit differences: what the bit was in the expected value → what it is in the observed one. */
  direction?: '1->0' | '0->1';
}

/** Differences of up to this many bits are "several bits"; more are unrelated. */
export const SEVERAL_BITS_MAX = 3;

/** Number of set bits. */
export function popcount(value: bigint): number {
  let n = 0;
  for (let v = value; v > 0n; v &= v - 1n) n++;
  return n;
}

/** Compares `observed` with `expected` over `width` bits. */
export function compareBits(expected: bigint, observed: bigint, width: number): BitComparison {
  const mask = (1n << BigInt(width)) - 1n;
  const xor = (expected ^ observed) & mask;
  const hamming = popcount(xor);
  if (hamming === 0) return { relation: 'equal', hamming, xor };
  if (hamming === 1) {
    const bit = xor.toString(2).length - 1;
    const direction = (expected >> BigInt(bit)) & 1n ? '1->0' : '0->1';
    return { relation: 'one-bit', hamming, xor, bit, direction };
  }
  return { relation: hamming <= SEVERAL_BITS_MAX ? 'several-bits' : 'unrelated', hamming, xor };
}
