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
import type { HypothesisShape } from './families.ts';
import type { Injection, TracedRun } from './replay.ts';

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

export type StatedShape = HypothesisShape;

/**
 * The injection to replay for `spec` over the traced faithful window, and
 * what the hypothesis is, or a sentence saying why it cannot be tested (the
 * instruction is not in the window).
 */
export function statedInjection(dump: Dump, spec: HypothesisSpec, traced: TracedRun): { injection?: Injection; shape: StatedShape } | string {
  const f = (v: bigint) => formatAddress(dump.arch, v);
  switch (spec.kind) {
    case 'none':
      return { shape: { id: 'as-written', class: 'software', location: 'none', family: 'as-written', description: 'the CPU executed the window as written' } };
    case 'target': {
      const index = traced.path.indexOf(spec.address);
      if (index < 0) return `bitflip:target@${f(spec.address)}: the replay window never executes ${f(spec.address)}`;
      return {
        injection: { kind: 'target-bit', index, bit: spec.bit },
        shape: {
          id: `bitflip:target@${spec.address.toString(16)}:${spec.bit}`, class: 'cpu-fault', location: 'branch-target', family: 'branch-target',
          description: `bit ${spec.bit} of the target of the transfer at ${f(spec.address)} flipped`, bit: spec.bit, address: spec.address,
        },
      };
    }
    case 'load': {
      const read = traced.reads.find((r) => r.pc === spec.address);
      if (!read) return `bitflip:load@${f(spec.address)}: no instruction at ${f(spec.address)} loads a value in the replay window`;
      if (spec.bit >= read.size * 8) return `bitflip:load@${f(spec.address)}: the load is ${read.size} bytes, it has no bit ${spec.bit}`;
      return {
        injection: { kind: 'load-bit', index: read.index, address: read.address, size: read.size, bit: spec.bit },
        shape: {
          id: `bitflip:load@${spec.address.toString(16)}:${spec.bit}`, class: 'cpu-fault', location: 'loaded-value', family: 'loaded-value',
          description: `bit ${spec.bit} of the ${read.size}-byte value loaded by ${f(read.pc)} from [${f(read.address)}] flipped in the CPU`, bit: spec.bit, address: read.pc,
        },
      };
    }
    case 'register': {
      const index = traced.path.indexOf(spec.address);
      if (index < 0) return `bitflip:register@${f(spec.address)}: the replay window never executes ${f(spec.address)}`;
      return {
        injection: { kind: 'register-bit', index, register: spec.register, bit: spec.bit },
        shape: {
          id: `bitflip:register@${spec.address.toString(16)}:${spec.register}:${spec.bit}`, class: 'cpu-fault', location: 'register', family: 'register',
          description: `bit ${spec.bit} of ${spec.register} flipped before ${f(spec.address)}`, bit: spec.bit, address: spec.address,
        },
      };
    }
  }
}
