/**
 * Whether a module file is the build a dump ran, judged by the bytes the
 * dump holds for it: the one check left when no build id says so. Bytes
 * the dump does not hold are skipped; a few differing bytes are what
 * faultline looks for (a flipped bit in code), many are another build.
 *
 * @example
 * ```ts
 * const a = compareWithFile((at, n) => memory.readPartial(at, n), file, [{ start: 0x401000n, end: 0x402000n, fileOffset: 0x1000n }]);
 * agreementProblem(a); // undefined when the file agrees, else why not ('the dump holds none of its bytes', …)
 * ```
 */
import type { FileSource } from './binary/file-source.ts';
import { showAddress } from './hex.ts';

/** A run of the dump's address space and where the file holds its bytes. */
export interface FileSpan {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  fileOffset: bigint;
}

/** Bytes compared and how many differ, the first differing address. */
export interface Agreement {
  compared: number;
  differing: number;
  first?: bigint;
}

/** Bytes compared per file at most (bounded reads on big libraries). */
export const COMPARED_BYTES = 0x40000;
const PAGE = 0x1000n;

/**
 * Compares the bytes `held` knows in `spans` with `file`'s at the spans'
 * offsets (up to `limit` known bytes; bytes past the file's end are not
 * compared).
 */
export function compareWithFile(
  held: (address: bigint, length: number) => { bytes: Uint8Array; known: Uint8Array },
  file: FileSource,
  spans: FileSpan[],
  limit = COMPARED_BYTES,
): Agreement {
  const result: Agreement = { compared: 0, differing: 0 };
  for (const span of spans) {
    for (let at = span.start; at < span.end && result.compared < limit; ) {
      const pageEnd = (at & ~(PAGE - 1n)) + PAGE;
      const end = pageEnd < span.end ? pageEnd : span.end;
      const offset = span.fileOffset + (at - span.start);
      const inFile = file.size - offset;
      const length = Number(end - at < inFile ? end - at : inFile);
      if (length <= 0) break;
      const dump = held(at, length);
      if (dump.known.includes(1)) {
        const bytes = file.read(offset, length, `${file.path} at ${showAddress(at)}`);
        for (let i = 0; i < length; i++) {
          if (dump.known[i] !== 1) continue;
          result.compared++;
          if (dump.bytes[i] === bytes[i]) continue;
          result.differing++;
          result.first ??= at + BigInt(i);
        }
      }
      at = end;
    }
  }
  return result;
}

/**
 * Why `agreement` does not show the file to be the dump's build, or
 * undefined when it does: the dump holds none of the bytes, or more than
 * max(16, 1/8) of those it holds differ.
 */
export function agreementProblem(agreement: Agreement, what = 'code'): string | undefined {
  const { compared, differing, first } = agreement;
  if (compared === 0) return `the dump holds none of its ${what} to check it against, and no build id`;
  if (differing > Math.max(16, compared / 8)) return `${differing} of the ${compared} bytes the dump holds in its ${what} differ from the file's, the first at ${showAddress(first!)}`;
  return undefined;
}
