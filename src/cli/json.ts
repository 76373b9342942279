/**
 * JSON for `--json` output: bigints as `0x…` hex strings, two-space indent.
 *
 * @example
 * ```ts
 * jsonText({ pc: 0x401000n }); // '{\n  "pc": "0x401000"\n}\n'
 * ```
 */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 2)}\n`;
}
