/**
 * A drcov reader for the tests, written from the format as Lighthouse reads
 * it (gaasedelen/lighthouse, reader/parsers/drcov.py) and not from
 * faultline's writer: text lines `DRCOV VERSION: N`, `DRCOV FLAVOR: …`,
 * `Module Table: version V, count N`, `Columns: …`, N module lines split on
 * ", " (version 2: id, base, end, entry[, checksum, timestamp], path), then
 * `BB Table: N bbs` and N packed little-endian entries
 * `{ uint32 start; uint16 size; uint16 mod_id }`.
 *
 * @example
 * ```ts
 * const { modules, blocks } = readDrcov(readFileSync('run.drcov'));
 * ```
 */
export interface DrcovModule {
  id: number;
  base: bigint;
  end: bigint;
  entry: bigint;
  path: string;
}

export interface DrcovBlock {
  start: number;
  size: number;
  module: number;
}

export function readDrcov(bytes: Uint8Array): { version: number; flavor: string; modules: DrcovModule[]; blocks: DrcovBlock[] } {
  let at = 0;
  const line = (): string => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) throw new Error(`drcov: no line end after offset ${at}`);
    const text = Buffer.from(bytes.subarray(at, end)).toString('utf8');
    at = end + 1;
    return text;
  };
  const field = (text: string, name: string): string => {
    const [key, value] = text.split(': ');
    if (key !== name || value === undefined) throw new Error(`drcov: expected "${name}: …", found ${JSON.stringify(text)}`);
    return value;
  };
  const version = Number(field(line(), 'DRCOV VERSION'));
  const flavor = field(line(), 'DRCOV FLAVOR');
  const table = /^version (\d+), count (\d+)$/.exec(field(line(), 'Module Table'));
  if (!table || table[1] !== '2') throw new Error('drcov: expected a version 2 module table');
  const columns = field(line(), 'Columns').split(', ');
  const modules: DrcovModule[] = [];
  for (let i = 0; i < Number(table[2]); i++) {
    const data = line().split(', ');
    if (data.length !== columns.length) throw new Error(`drcov: module line ${i} has ${data.length} fields for ${columns.length} columns`);
    modules.push({ id: Number(data[0]), base: BigInt(`${data[1]}`), end: BigInt(`${data[2]}`), entry: BigInt(`${data[3]}`), path: data[data.length - 1]! });
  }
  const count = /^(\d+) bbs$/.exec(field(line(), 'BB Table'));
  if (!count) throw new Error('drcov: bad BB Table line');
  const n = Number(count[1]);
  if (bytes.length - at !== n * 8) throw new Error(`drcov: ${bytes.length - at} bytes of blocks for ${n} entries`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const blocks = Array.from({ length: n }, (_, i) => ({
    start: view.getUint32(at + i * 8, true), size: view.getUint16(at + i * 8 + 4, true), module: view.getUint16(at + i * 8 + 6, true),
  }));
  return { version, flavor, modules, blocks };
}
