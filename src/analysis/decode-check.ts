/**
 * Checks a decoder against what the CPU did: every executed instruction of
 * a trace decoded, and the decoding compared with the trace. A non-branch's
 * length must take the pc to the next instruction's; a branch must land on
 * the next instruction or its direct target; every register the trace shows
 * changed must be among those the decoder says are written. Instructions
 * followed by a signal, a sync point or the end of the trace are not checked
 * for where they lead; one that leads to itself (a `rep` iteration) neither.
 * Instructions the decoder does not decode are counted, not checked. Disagreements are grouped by encoding (the opcode bytes after
 * prefixes, and the ModRM byte), each with its first occurrence as a
 * reproducer: bytes, mode and address.
 *
 * @example
 * ```ts
 * const result = decodeCheck(openAnyTrace('cpu.fltrace'), decoder);
 * for (const group of result.groups) console.log(group.kind, group.encoding, group.first.bytes);
 * ```
 */
import type { Arch } from '../../emu/registers.ts';
import type { AnyTrace } from '../../traces/import/open.ts';
import type { TraceInstruction } from '../../traces/model.ts';
import type { Decoder } from '../disasm/decoder-plugin.ts';

export type DisagreementKind = 'length' | 'target' | 'writes';

export interface Disagreement {
  index: number;
  pc: bigint;
  bytes: Uint8Array;
  /** What the decoder said against what the CPU did. */
  detail: string;
}

export interface DisagreementGroup {
  kind: DisagreementKind;
  /** Opcode bytes (and ModRM) in hex: `48 89 /r` → `4889c7`… grouped as `89 c7`. */
  encoding: string;
  count: number;
  first: Disagreement;
}

export interface DecodeCheckResult {
  decoder: string;
  arch: Arch;
  /** Instructions decoded and compared. */
  checked: number;
  /** Instructions without bytes in the trace (a Tenet trace has none). */
  withoutBytes: number;
  /** Instructions the decoder did not decode (a plug-in may know only some encodings): counted, not checked. */
  undecoded: number;
  groups: DisagreementGroup[];
}

const X86_PREFIXES = new Set([0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65]);

/** The encoding an instruction is grouped by: x86 opcode bytes after legacy and REX prefixes, plus the next byte (ModRM or immediate); arm64 the top 11 bits. */
export function encodingOf(arch: Arch, bytes: Uint8Array): string {
  if (arch === 'arm64') return bytes.length >= 4 ? `${((new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) >>> 21) << 21 >>> 0).toString(16).padStart(8, '0')}/mask ffe00000` : '?';
  let i = 0;
  while (i < bytes.length && X86_PREFIXES.has(bytes[i]!)) i++;
  if (arch === 'x64' && i < bytes.length && (bytes[i]! & 0xf0) === 0x40) i++;
  const opcodeLength = bytes[i] === 0x0f ? (bytes[i + 1] === 0x38 || bytes[i + 1] === 0x3a ? 3 : 2) : 1;
  return Buffer.from(bytes.subarray(i, Math.min(bytes.length, i + opcodeLength + 1))).toString('hex');
}

function hexBig(value: bigint): string {
  return `0x${value.toString(16)}`;
}

/** Checks `decoder` against every instruction of `trace`. */
export function decodeCheck(trace: AnyTrace, decoder: Decoder): DecodeCheckResult {
  const groups = new Map<string, DisagreementGroup>();
  let checked = 0;
  let withoutBytes = 0;
  let undecoded = 0;
  const add = (kind: DisagreementKind, insn: TraceInstruction, detail: string) => {
    const encoding = encodingOf(trace.arch, insn.bytes!);
    const key = `${kind} ${encoding}`;
    const group = groups.get(key);
    if (group) group.count++;
    else groups.set(key, { kind, encoding, count: 1, first: { index: insn.index, pc: insn.pc, bytes: insn.bytes!, detail } });
  };
  let previous: TraceInstruction | undefined;
  const check = (insn: TraceInstruction, next: TraceInstruction | undefined) => {
    if (!insn.bytes || insn.bytes.length === 0) {
      withoutBytes++;
      return;
    }
    checked++;
    const decoded = decoder.decode(insn.bytes, insn.pc, trace.arch);
    if (!decoded) {
      undecoded++;
      checked--;
      return;
    }
    // Where a signal, a stop or a sync point intervenes, the next pc is not the instruction's doing: under a
    // hypervisor the single-step trap after `cpuid` (which exits to it) can be lost, and the next recorded pc is further on.
    const interrupted = insn.events.some((e) => e.kind === 'signal' || e.kind === 'stop' || e.kind === 'trap' || e.kind === 'fault' || e.kind === 'sync');
    // A rep-prefixed string instruction steps once per iteration: the next pc is its own.
    if (next && !interrupted && next.pc !== insn.pc) {
      const fallThrough = insn.pc + BigInt(decoded.length);
      if (!decoded.branch && next.pc !== fallThrough) {
        add('length', insn, `length ${decoded.length}, but the CPU went on at ${hexBig(next.pc)} (${next.pc - insn.pc} bytes on)`);
      } else if (decoded.branch && decoded.target !== undefined && next.pc !== fallThrough && next.pc !== decoded.target) {
        add('target', insn, `target ${hexBig(decoded.target)} (or ${hexBig(fallThrough)} not taken), but the CPU went to ${hexBig(next.pc)}`);
      }
    }
    if (decoded.writes) {
      const written = new Set(decoded.writes);
      const missed = insn.changed.map(([name]) => name as string).filter((name) => !written.has(name));
      if (missed.length) add('writes', insn, `writes ${decoded.writes.join(' ') || 'nothing'}, but the CPU changed ${missed.join(' ')}`);
    }
  };
  for (const insn of trace.instructions()) {
    if (previous) check(previous, insn);
    previous = insn;
  }
  if (previous) check(previous, undefined);
  const ordered = [...groups.values()].sort((a, b) => a.first.index - b.first.index);
  return { decoder: decoder.name, arch: trace.arch, checked, withoutBytes, undecoded, groups: ordered };
}
