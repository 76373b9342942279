/**
 * Return addresses found by scanning the stack, as a debugger does when it
 * has no unwind data: a pointer-sized value on the stack is a return
 * address when it points into executable memory and the instruction just
 * before it is a call (x86/x64: a `call` whose length ends exactly there;
 * arm64: `bl` or `blr`). On arm64 the link register comes first when it
 * qualifies: a leaf function has not stored it.
 *
 * @example
 * ```ts
 * findReturnAddresses(crash, decoder); // [{ address: 0x557dd3eac5e9n, slot: 0x7ffe19b24998n }, …]
 * ```
 */
import type { Decoder } from '../disasm/decoder.ts';
import type { CrashMemory } from './memory.ts';
import { pointerSize, spOf, type Registers, type WriterArch } from './registers.ts';

/** A return address and the stack slot that holds it (none for the link register). */
export interface ReturnAddress {
  address: bigint;
  slot?: bigint;
}

/** What the scan needs of a crash. */
export interface StackInput {
  arch: WriterArch;
  registers: Registers;
  memory: CrashMemory;
}

const X86_CALL_LENGTHS = [5, 6, 2, 3, 7, 4];

/**
 * True when the instruction before `address` is a call.
 *
 * @example
 * ```ts
 * followsCall('arm64', memory, decoder, 0x5500000a84n); // true: 0x5500000a80 is a bl
 * ```
 */
export function followsCall(arch: WriterArch, memory: CrashMemory, decoder: Decoder, address: bigint): boolean {
  if (!memory.isCode(address - 1n)) return false;
  if (arch === 'arm64') {
    if (address % 4n !== 0n) return false;
    const bytes = memory.read(address - 4n, 4);
    if (!bytes) return false;
    const word = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
    return (word & 0xfc000000) >>> 0 === 0x94000000 || (word & 0xfffffc1f) >>> 0 === 0xd63f0000;
  }
  for (const length of X86_CALL_LENGTHS) {
    const bytes = memory.read(address - BigInt(length), length);
    if (!bytes) continue;
    const insn = decoder.decode(bytes, address - BigInt(length));
    if (insn && insn.size === length && insn.mnemonic === 'call') return true;
  }
  return false;
}

/**
 * Up to `limit` return addresses, scanning `span` bytes up from the stack pointer.
 *
 * @example
 * ```ts
 * findReturnAddresses(crash, decoder, { limit: 4 }).length; // ≤ 4
 * ```
 */
export function findReturnAddresses(crash: StackInput, decoder: Decoder, options: { limit?: number; span?: bigint } = {}): ReturnAddress[] {
  const { arch, registers, memory } = crash;
  const limit = options.limit ?? 16;
  const span = options.span ?? 0x10000n;
  const size = pointerSize(arch);
  const found: ReturnAddress[] = [];
  const lr = arch === 'arm64' ? registers.x30 : undefined;
  if (lr !== undefined && followsCall(arch, memory, decoder, lr)) found.push({ address: lr });
  const sp = spOf(arch, registers);
  for (let slot = sp; slot < sp + span && found.length < limit; slot += BigInt(size)) {
    const value = memory.readPointer(slot, size);
    if (value === undefined) {
      if (!memory.regionAt(slot)) break;
      continue;
    }
    if (!followsCall(arch, memory, decoder, value)) continue;
    // The same address twice in a row is one frame (arm64 also stores lr in its frame record).
    if (found[found.length - 1]?.address === value) continue;
    found.push({ address: value, slot });
  }
  return found;
}
