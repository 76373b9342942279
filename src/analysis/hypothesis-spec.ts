/**
 * Hypotheses as users state them to `faultline check`, and as explain names
 * them in its report:
 *
 * | spec                              | meaning                                                  |
 * |-----------------------------------|----------------------------------------------------------|
 * | `none`                            | no fault: the window ran as written                      |
 * | `bitflip:target@ADDR:BIT`         | the transfer at ADDR went to its target with BIT flipped |
 * | `bitflip:load@ADDR:BIT`           | the value the instruction at ADDR loaded had BIT flipped |
 * | `bitflip:register@ADDR:REG:BIT`   | REG had BIT flipped just before the instruction at ADDR  |
 *
 * ADDR is hex (WinDbg style, `0x` optional).
 *
 * @example
 * ```ts
 * parseHypothesis('bitflip:target@80a5d8f6:2'); // { kind: 'target', address: 0x80a5d8f6n, bit: 2 }
 * ```
 */
import { parseRegisterName, type Arch, type RegisterName } from '../../emu/registers.ts';
import { InputError } from '../errors.ts';
import { parseAddress } from '../parse.ts';
import type { Dump } from '../dumps/model.ts';
import { formatAddress } from '../format.ts';
import type { Hypothesis } from './hypotheses.ts';

export type HypothesisSpec =
  | { kind: 'none' }
  | { kind: 'target' | 'load'; address: bigint; bit: number }
  | { kind: 'register'; address: bigint; register: RegisterName; bit: number };

const USAGE = 'expected none, bitflip:target@ADDR:BIT, bitflip:load@ADDR:BIT or bitflip:register@ADDR:REG:BIT';

function parseBit(text: string | undefined, spec: string, width: number): number {
  const bit = Number(text);
  if (!Number.isInteger(bit) || bit < 0 || bit >= width) throw new InputError(`Bad bit '${text ?? ''}' in hypothesis '${spec}': expected 0..${width - 1}`);
  return bit;
}

/** Parses a stated hypothesis for `arch`. */
export function parseHypothesis(spec: string, arch: Arch): HypothesisSpec {
  const text = spec.trim();
  if (text === 'none' || text === 'no-fault') return { kind: 'none' };
  const match = /^bitflip:(target|load|register)@([^:]+):(.+)$/.exec(text);
  if (!match) throw new InputError(`Bad hypothesis '${spec}': ${USAGE}`);
  const [, kind, addressText, rest] = match as unknown as [string, 'target' | 'load' | 'register', string, string];
  const address = parseAddress(addressText, `address in hypothesis '${spec}'`);
  const width = arch === 'x86' ? 32 : 64;
  if (kind !== 'register') return { kind, address, bit: parseBit(rest, spec, width) };
  const [registerText, bitText] = rest.split(':');
  const register = parseRegisterName(arch, registerText ?? '');
  if (!register) throw new InputError(`Unknown register '${registerText}' in hypothesis '${spec}' for ${arch}`);
  return { kind, address, register, bit: parseBit(bitText, spec, register === 'efl' ? 32 : width) };
}

type Base = Omit<Hypothesis, 'explains' | 'summary' | 'checks'>;

/**
 * The hypothesis to evaluate for `spec` over the traced faithful window, or a
 * sentence saying why it cannot be tested (the instruction is not in it).
 */
export function statedHypothesis(
  dump: Dump,
  spec: HypothesisSpec,
  traced: { path: bigint[]; reads: Array<{ index: number; pc: bigint; address: bigint; size: number }> },
): Base | string {
  const f = (v: bigint) => formatAddress(dump.arch, v);
  switch (spec.kind) {
    case 'none':
      return { id: 'no-fault', class: 'no-fault', location: 'none', description: 'the CPU executed the window as written' };
    case 'target':
      if (!traced.path.includes(spec.address)) return `bitflip:target@${f(spec.address)}: the replay window never executes ${f(spec.address)}`;
      return {
        id: `bitflip:target@${spec.address.toString(16)}:${spec.bit}`, class: 'cpu-fault', location: 'branch-target',
        description: `bit ${spec.bit} of the target of the transfer at ${f(spec.address)} flipped`,
        injection: { kind: 'target-bit', at: spec.address, bit: spec.bit }, bit: spec.bit,
      };
    case 'load': {
      const read = traced.reads.find((r) => r.pc === spec.address);
      if (!read) return `bitflip:load@${f(spec.address)}: no instruction at ${f(spec.address)} loads a value in the replay window`;
      if (spec.bit >= read.size * 8) return `bitflip:load@${f(spec.address)}: the load is ${read.size} bytes, it has no bit ${spec.bit}`;
      return {
        id: `bitflip:load@${spec.address.toString(16)}:${spec.bit}`, class: 'cpu-fault', location: 'loaded-value',
        description: `bit ${spec.bit} of the ${read.size}-byte value loaded from [${f(read.address)}] by ${f(read.pc)} flipped`,
        injection: { kind: 'load-bit', index: read.index, address: read.address, size: read.size, bit: spec.bit }, bit: spec.bit,
      };
    }
    case 'register': {
      const index = traced.path.indexOf(spec.address);
      if (index < 0) return `bitflip:register@${f(spec.address)}: the replay window never executes ${f(spec.address)}`;
      return {
        id: `bitflip:register@${index}:${spec.register}:${spec.bit}`, class: 'cpu-fault', location: 'register',
        description: `bit ${spec.bit} of ${spec.register} flipped before ${f(spec.address)}`,
        injection: { kind: 'register-bit', index, register: spec.register, bit: spec.bit }, bit: spec.bit,
      };
    }
  }
}
