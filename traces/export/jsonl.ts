/**
 * The trace as JSON Lines: a header object, then one object per
 * instruction, then an end object when the run's stop reason is known.
 * Addresses and values are `0x…` lower-case hex strings (64-bit values do
 * not fit a JSON number); empty `registers`, `memory` and `events` are left
 * out. FORMAT.md lists every field.
 *
 * ```text
 * {"type":"header","version":1,"arch":"x86","registers":["eax",…],"startRegisters":{"eax":"0x0",…}}
 * {"type":"instruction","index":0,"pc":"0x8082e3e1","size":1,"bytes":"cc","events":[{"kind":"trap","index":0,"vector":3,"pc":"0x8082e3e1"}]}
 * ```
 *
 * @example
 * ```ts
 * for (const line of jsonlLines(trace)) out.write(`${line}\n`);
 * ```
 */
import { hex } from '../../src/format.ts';
import { eventFields } from '../codec.ts';
import { eventsOf, instructionsOf, type TraceContents } from '../instructions.ts';
import type { TraceEvent } from '../model.ts';

function eventObject(event: TraceEvent): Record<string, unknown> {
  const fields = eventFields(event, hex);
  // A memory event's bytes (a recorded image) as hex text.
  if (fields.bytes instanceof Uint8Array) fields.bytes = Buffer.from(fields.bytes).toString('hex');
  return fields;
}

/** The lines of the JSON Lines export, without line ends. */
export function* jsonlLines(trace: TraceContents): Generator<string> {
  const { header } = trace;
  yield JSON.stringify({
    type: 'header',
    version: header.version,
    arch: header.arch,
    source: header.source,
    registers: header.registers,
    startRegisters: Object.fromEntries(Object.entries(header.startRegisters).map(([name, value]) => [name, hex(value as bigint)])),
    memory: header.memory,
    created: header.created,
    engine: header.engine,
  });
  let any = false;
  for (const insn of instructionsOf(header, trace.batches, trace.events, trace.range)) {
    any = true;
    const line: Record<string, unknown> = { type: 'instruction', index: insn.index, pc: hex(insn.pc), size: insn.size };
    if (insn.bytes) line.bytes = Buffer.from(insn.bytes).toString('hex');
    if (insn.changed.length) line.registers = Object.fromEntries(insn.changed.map(([name, value]) => [name, hex(value)]));
    if (insn.memory.length) {
      line.memory = insn.memory.map((m) => ({ kind: m.kind, address: hex(m.address), size: m.size, value: hex(m.value) }));
    }
    if (insn.events.length) line.events = insn.events.map(eventObject);
    yield JSON.stringify(line);
  }
  if (!any) for (const event of eventsOf(trace)) yield JSON.stringify({ type: 'event', ...eventObject(event) });
  if (trace.stopReason !== undefined) yield JSON.stringify({ type: 'end', reason: trace.stopReason });
}
