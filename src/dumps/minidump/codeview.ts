/**
 * CodeView records a module's CvRecord points at: CV_INFO_PDB70 ('RSDS',
 * PDB GUID and age), CV_INFO_PDB20 ('NB10', PDB timestamp and age), and
 * Breakpad's MDCVInfoELF ('BpEL', a GNU build id). The identifiers are
 * written the way symbol servers and Breakpad print them.
 *
 * @example
 * ```ts
 * const record = readCodeView(reader, 0);
 * debugIdentifier(record); // '5A9832E5287241C1838ED98914E9B7FF1'
 * ```
 */
import type { ByteReader } from '../binary/byte-reader.ts';

export const CV_SIGNATURE_RSDS = 0x53445352;
export const CV_SIGNATURE_NB10 = 0x3031424e;
export const CV_SIGNATURE_ELF = 0x4270454c;

export type CodeViewRecord =
  | { kind: 'pdb70'; guid: Uint8Array; age: number; pdbFileName: string }
  | { kind: 'pdb20'; signature: number; age: number; pdbFileName: string }
  | { kind: 'elf'; buildId: Uint8Array }
  | { kind: 'unknown'; cvSignature: number };

/**
 * The CodeView record filling `r` from `offset` on (its size is the
 * module's CvRecord.DataSize).
 *
 * @example
 * ```ts
 * readCodeView(reader, 0); // { kind: 'pdb70', guid: …, age: 1, pdbFileName: 'c:\\test_app.pdb' }
 * ```
 */
export function readCodeView(r: ByteReader, offset: number): CodeViewRecord {
  const cvSignature = r.u32(offset + 0x00, 'CvSignature');
  const rest = r.length - offset;
  switch (cvSignature) {
    case CV_SIGNATURE_RSDS:
      return {
        kind: 'pdb70',
        guid: r.slice(offset + 0x04, 16, 'Signature').slice(),
        age: r.u32(offset + 0x14, 'Age'),
        pdbFileName: r.cString(offset + 0x18, rest - 0x18, 'PdbFileName'),
      };
    case CV_SIGNATURE_NB10:
      return {
        kind: 'pdb20',
        signature: r.u32(offset + 0x08, 'Signature'),
        age: r.u32(offset + 0x0c, 'Age'),
        pdbFileName: r.cString(offset + 0x10, rest - 0x10, 'PdbFileName'),
      };
    case CV_SIGNATURE_ELF:
      return { kind: 'elf', buildId: r.slice(offset + 0x04, rest - 0x04, 'BuildId').slice() };
    default:
      return { kind: 'unknown', cvSignature };
  }
}

const hex = (value: number, digits: number): string => value.toString(16).toUpperCase().padStart(digits, '0');

/**
 * The identifier symbol servers key a module's debug file by: the PDB GUID
 * and age (`5A9832E5287241C1838ED98914E9B7FF1`), the PDB 2.0 timestamp and
 * age, or the GNU build id in lower-case hex. Undefined for an unknown record.
 *
 * @example
 * ```ts
 * debugIdentifier({ kind: 'elf', buildId: Uint8Array.of(0xe3, 0x5c) }); // 'e35c'
 * ```
 */
export function debugIdentifier(record: CodeViewRecord): string | undefined {
  switch (record.kind) {
    case 'pdb70': {
      const g = new DataView(record.guid.buffer, record.guid.byteOffset, 16);
      const tail = Array.from(record.guid.subarray(8), (b) => hex(b, 2)).join('');
      return `${hex(g.getUint32(0, true), 8)}${hex(g.getUint16(4, true), 4)}${hex(g.getUint16(6, true), 4)}${tail}${record.age.toString(16).toUpperCase()}`;
    }
    case 'pdb20':
      return `${hex(record.signature, 8)}${record.age.toString(16).toUpperCase()}`;
    case 'elf':
      return Array.from(record.buildId, (b) => b.toString(16).padStart(2, '0')).join('');
    case 'unknown':
      return undefined;
  }
}
