/**
 * Parsing what users type on the command line: addresses (WinDbg style:
 * `8082e3e0`, `0x8082e3e0`, `fffff880`3836e110`), register lists
 * (`eax=0x1,esp=f78aecac`), counts and durations. Every failure is an
 * `InputError` naming the value.
 *
 * @example
 * ```ts
 * parseAddress('fffff880`3836e110', '--from'); // 0xfffff8803836e110n
 * ```
 */
import { InputError } from './errors.ts';
import { parseRegisterName, type Arch, type RegisterValues } from '../emu/registers.ts';

/** A hex address; `0x` optional (WinDbg's default radix is 16), backticks ignored. */
export function parseAddress(text: string, what: string): bigint {
  const clean = text.trim().replace(/`/g, '').replace(/^0x/i, '');
  if (!/^[0-9a-f]{1,16}$/i.test(clean)) throw new InputError(`Bad ${what} '${text}': expected a hex address such as 0x401000`);
  return BigInt(`0x${clean}`);
}

/** A hex value (same syntax as addresses); `0n…` decimal is accepted as WinDbg does. */
export function parseValue(text: string, what: string): bigint {
  const t = text.trim();
  if (/^0n\d+$/i.test(t)) return BigInt(t.slice(2));
  return parseAddress(t, what);
}

/** `eax=0x1,esp=f78aecac` → register values; unknown names and bad values are InputErrors. */
export function parseRegisterList(arch: Arch, text: string): RegisterValues {
  const values: RegisterValues = {};
  for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new InputError(`Bad register assignment '${item}': expected NAME=VALUE, e.g. eax=0x1`);
    const name = parseRegisterName(arch, item.slice(0, eq));
    if (!name) throw new InputError(`Unknown register '${item.slice(0, eq)}' for ${arch}`);
    values[name] = parseValue(item.slice(eq + 1), `value of ${name}`);
  }
  return values;
}

/** A positive integer (decimal, or hex with 0x). */
export function parseCount(text: string, what: string): number {
  const t = text.trim();
  const value = /^0x[0-9a-f]+$/i.test(t) ? Number.parseInt(t, 16) : /^\d+$/.test(t) ? Number.parseInt(t, 10) : Number.NaN;
  if (!Number.isSafeInteger(value) || value <= 0) throw new InputError(`Bad ${what} '${text}': expected a positive whole number`);
  return value;
}

/** Seconds (may be fractional) → milliseconds. */
export function parseSeconds(text: string, what: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new InputError(`Bad ${what} '${text}': expected a positive number of seconds`);
  return value * 1000;
}

/** One of `choices`, or an InputError listing them. */
export function parseChoice<T extends string>(text: string, choices: readonly T[], what: string): T {
  if ((choices as readonly string[]).includes(text)) return text as T;
  throw new InputError(`Bad ${what} '${text}': expected one of ${choices.join(', ')}`);
}
