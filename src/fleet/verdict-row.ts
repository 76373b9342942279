/**
 * The columns `faultline batch` stores for one explained dump, taken from
 * its explain report (docs/explain-json.md): the verdict, the bit and
 * values, the instruction the fault hit and the code around it (module and
 * function, for grouping), and how sure explain was. The whole report
 * (without its replayed window) is stored beside them as the evidence.
 *
 * @example
 * ```ts
 * const row = verdictRow(report); // { verdict: 'cpu-fault', bit: 2, instruction: 'call', module: 'hal', … }
 * ```
 */
import type { ExplainDocument } from '../analysis/window-trace.ts';

/** Verdict classes that name a hardware fault. */
export const HARDWARE_CLASSES = ['cpu-fault', 'memory-corruption', 'code-corruption'] as const;

export interface VerdictRow {
  format: string;
  arch: string;
  verdict: string;
  location?: string;
  bit?: number;
  direction?: string;
  expected?: string;
  observed?: string;
  /** What the fault hit (the transfer, load, slot …); the fault pc when the verdict names none. */
  address?: string;
  confidence?: number;
  margin?: number;
  hypothesis?: string;
  faultKind?: string;
  faultPc?: string;
  /** `module!function+0xoff` of `address`, when the dump names it. */
  symbol?: string;
  module?: string;
  function?: string;
  /** The mnemonic at `address` (`call`, `mov`, `blr`). */
  instruction?: string;
  /** The whole instruction, `addr bytes text`. */
  instructionText?: string;
}

/** `00000000`00402170` or `80a5d8f6` → 0x402170n. */
function listingAddress(text: string): bigint | undefined {
  const word = text.split(' ')[0]?.replace(/`/g, '');
  return word && /^[0-9a-f]+$/i.test(word) ? BigInt(`0x${word}`) : undefined;
}

/** `addr bytes mnemonic operands` → mnemonic (a prefix like `rep` or `lock` stays with it). */
function mnemonicOf(line: string): string | undefined {
  const words = line.split(/\s+/).slice(2);
  if (words.length === 0) return undefined;
  return /^(rep|repe|repne|repz|repnz|lock)$/.test(words[0]!) && words[1] ? `${words[0]} ${words[1]}` : words[0];
}

/** Splits `mod!func+0x12` (or `image+0x2170`) into module and function. */
function splitSymbol(symbol: string | undefined): { module?: string; function?: string } {
  if (!symbol) return {};
  const bare = symbol.replace(/\+0x[0-9a-f]+$/i, '');
  // An address the dump has no name for (`00000000`00400100`) names no module.
  if (/^[0-9a-f`]+$/i.test(bare)) return {};
  const bang = bare.indexOf('!');
  return bang < 0 ? { module: bare } : { module: bare.slice(0, bang), function: bare.slice(bang + 1) };
}

const toNumber = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const toText = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export function verdictRow(report: ExplainDocument): VerdictRow {
  const verdict = report.verdict as unknown as Record<string, unknown>;
  const fault = report.fault as unknown as Record<string, unknown> | undefined;
  const faultPc = toText(fault?.pc);
  const address = toText(verdict.address) ?? faultPc;
  const target = address === undefined ? undefined : BigInt(address);
  const listings = [...(report.window?.instructions ?? []), ...(typeof fault?.instruction === 'string' ? [fault.instruction] : [])];
  const instructionText = listings.find((line) => target !== undefined && listingAddress(line) === target);
  const candidate = report.candidates.find((c) => target !== undefined && BigInt(c.instruction.address) === target);
  const symbol = candidate?.instruction.symbol || (address === faultPc ? toText(fault?.symbol) : undefined) || undefined;
  return {
    format: report.dump.format,
    arch: report.dump.arch,
    verdict: String(verdict.class),
    location: toText(verdict.location),
    bit: toNumber(verdict.bit),
    direction: toText(verdict.direction),
    expected: toText(verdict.expected),
    observed: toText(verdict.observed),
    address,
    confidence: toNumber(verdict.confidence),
    margin: toNumber(verdict.margin),
    hypothesis: toText(verdict.hypothesis),
    faultKind: toText(fault?.kind),
    faultPc,
    symbol,
    ...splitSymbol(symbol),
    instruction: instructionText ? mnemonicOf(instructionText) : undefined,
    instructionText,
  };
}
