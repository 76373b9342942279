/**
 * PE x64 unwind information read from a module's image in the dump's
 * memory (a full minidump, a kernel dump, or a module file given with
 * `--binary`/`--sysroot` behind it): the exception directory's sorted
 * RUNTIME_FUNCTION entries (`.pdata`) and the UNWIND_INFO codes they point
 * to (`.xdata`), undone as RtlVirtualUnwind does — only the codes whose
 * prolog instructions ran, chained entries followed, and an epilogue at
 * the pc (pops then `ret`) recognised by its bytes. Layouts from
 * Microsoft's "x64 exception handling" documentation.
 *
 * @example
 * ```ts
 * const pe = peUnwindTables(dump.memory, 0x140000000n, 'boombox.exe');
 * pe?.caller(registers, 0x140001080n, true); // { registers: { rip, rsp, rbx, rsi, rdi, … }, trust: 'cfi', … }
 * ```
 */
import type { RegisterName, RegisterValues } from '../../emu/registers.ts';
import type { ByteSource } from './dwarf-cfi.ts';
import { CfiError } from './dwarf-reader.ts';
import type { StackFrame } from './frame.ts';

/** The caller a PE unwinder computes, in the walker's terms. */
export interface PeCaller {
  registers: RegisterValues;
  trust: StackFrame['trust'];
  returnSlot?: bigint;
  unwindSource?: string;
  end?: string;
}

/** One PE image's x64 unwinder. */
export interface PeUnwinder {
  readonly source: string;
  /** The caller of a frame at `pc` with `registers`, or undefined when no RUNTIME_FUNCTION covers `pc`. */
  caller(registers: RegisterValues, pc: bigint, innermost: boolean): PeCaller | undefined;
}

const IMAGE_FILE_MACHINE_AMD64 = 0x8664;
const UNW_FLAG_CHAININFO = 0x4;
/** Chained entries followed at most (real images chain two or three). */
const MAX_CHAIN = 32;
/** UNWIND_CODE register numbers. */
const GPR: readonly RegisterName[] = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
/** The Windows x64 calling convention's non-volatile registers. */
const NONVOLATILE: readonly RegisterName[] = ['rbx', 'rbp', 'rdi', 'rsi', 'r12', 'r13', 'r14', 'r15'];
const MASK = 0xffff_ffff_ffff_ffffn;

function u(bytes: Uint8Array, at: number, size: number): number {
  let value = 0;
  for (let i = size - 1; i >= 0; i--) value = value * 256 + bytes[at + i]!;
  return value;
}

/** The unwinder of the PE32+ image at `base`, or undefined when the memory holds no such image with an exception directory there. */
export function peUnwindTables(memory: ByteSource, base: bigint, name: string): PeUnwinder | undefined {
  const dos = memory.read(base, 0x40);
  if (!dos || dos[0] !== 0x4d || dos[1] !== 0x5a) return undefined;
  const peAt = base + BigInt(u(dos, 0x3c, 4));
  const nt = memory.read(peAt, 0x18 + 0x70 + 16 * 8);
  if (!nt || u(nt, 0, 4) !== 0x4550) return undefined;
  if (u(nt, 4, 2) !== IMAGE_FILE_MACHINE_AMD64 || u(nt, 0x18, 2) !== 0x20b) return undefined;
  const directories = u(nt, 0x18 + 0x6c, 4);
  if (directories <= 3) return undefined;
  const pdataRva = u(nt, 0x18 + 0x70 + 3 * 8, 4);
  const pdataSize = u(nt, 0x18 + 0x70 + 3 * 8 + 4, 4);
  if (pdataRva === 0 || pdataSize < 12) return undefined;
  const count = Math.floor(pdataSize / 12);
  const source = `${name} .pdata`;
  const entry = (i: number) => {
    const at = base + BigInt(pdataRva + i * 12);
    const bytes = memory.read(at, 12);
    if (!bytes) throw new CfiError(`The .pdata of ${name} is not in the dump`, at);
    return { begin: u(bytes, 0, 4), end: u(bytes, 4, 4), unwind: u(bytes, 8, 4) };
  };
  const find = (rva: number) => {
    let low = 0;
    let high = count - 1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      const e = entry(mid);
      if (rva < e.begin) high = mid - 1;
      else if (rva >= e.end) low = mid + 1;
      else return e;
    }
    return undefined;
  };
  const readWord = (address: bigint): bigint => {
    const bytes = memory.read(address, 8);
    if (!bytes) throw new CfiError(`The stack word at 0x${address.toString(16)} is not in the dump`);
    return BigInt(u(bytes, 0, 4)) + (BigInt(u(bytes, 4, 4)) << 32n);
  };
  return {
    source,
    caller(registers, pc, innermost) {
      const rva = Number(pc - base);
      if (rva < 0 || rva > 0xffff_ffff) return undefined;
      const fn = find(rva);
      const out: RegisterValues = {};
      for (const r of NONVOLATILE) if (registers[r] !== undefined) out[r] = registers[r];
      let rsp = registers.rsp;
      if (rsp === undefined) return undefined;
      if (!fn) {
        // A leaf function has no entry: its return address is at rsp.
        const ret = readWord(rsp);
        return { registers: { ...out, rip: ret, rsp: (rsp + 8n) & MASK }, trust: 'cfi', returnSlot: rsp, unwindSource: `${source} (leaf)` };
      }
      if (innermost) {
        const epilogue = epilogueAt(memory, pc);
        if (epilogue) {
          for (const step of epilogue) {
            if (step.kind === 'add') rsp = (rsp + step.size) & MASK;
            else {
              out[step.register] = readWord(rsp);
              rsp = (rsp + 8n) & MASK;
            }
          }
          return { registers: { ...out, rip: readWord(rsp), rsp: (rsp + 8n) & MASK }, trust: 'cfi', returnSlot: rsp, unwindSource: `${source} (epilogue)` };
        }
      }
      let current = fn;
      let offsetInFunction = rva - fn.begin;
      let frameBase: bigint | undefined;
      for (let depth = 0; ; depth++) {
        if (depth > MAX_CHAIN) throw new CfiError(`The unwind information of ${name} chains more than ${MAX_CHAIN} times`);
        const infoAt = base + BigInt(current.unwind);
        const head = memory.read(infoAt, 4);
        if (!head) throw new CfiError(`The UNWIND_INFO of ${name} is not in the dump`, infoAt);
        const version = head[0]! & 7;
        const flags = head[0]! >> 3;
        if (version !== 1 && version !== 2) throw new CfiError(`UNWIND_INFO version ${version} in ${name}`, infoAt);
        const prolog = head[1]!;
        const codes = head[2]!;
        const frameRegister = head[3]! & 0xf;
        const frameOffset = BigInt(head[3]! >> 4) * 16n;
        const slotsBytes = memory.read(infoAt + 4n, ((codes + 1) & ~1) * 2 + 12);
        if (!slotsBytes) throw new CfiError(`The unwind codes of ${name} are not in the dump`, infoAt);
        const slot = (i: number) => u(slotsBytes, i * 2, 2);
        const inProlog = depth === 0 && offsetInFunction < prolog;
        // Saved registers are found relative to the frame as established at the end of the prolog.
        if (frameBase === undefined) {
          let establishedFp = frameRegister !== 0;
          if (establishedFp && inProlog) {
            establishedFp = false;
            for (let i = 0; i < codes; i++) if (((slot(i) >> 8) & 0xf) === 3 && (slot(i) & 0xff) <= offsetInFunction) establishedFp = true;
          }
          const fp = registers[GPR[frameRegister]!];
          if (establishedFp && fp === undefined) return undefined;
          frameBase = establishedFp ? (fp! - frameOffset) & MASK : rsp;
        }
        for (let i = 0; i < codes;) {
          const code = slot(i);
          const at = code & 0xff;
          const op = (code >> 8) & 0xf;
          const info = code >> 12;
          const applies = !inProlog || at <= offsetInFunction;
          let size = 1;
          switch (op) {
            case 0: // UWOP_PUSH_NONVOL
              if (applies) {
                out[GPR[info]!] = readWord(rsp);
                rsp = (rsp + 8n) & MASK;
              }
              break;
            case 1: { // UWOP_ALLOC_LARGE
              size = info === 0 ? 2 : 3;
              const bytes = info === 0 ? BigInt(slot(i + 1)) * 8n : BigInt(slot(i + 1)) + (BigInt(slot(i + 2)) << 16n);
              if (applies) rsp = (rsp + bytes) & MASK;
              break;
            }
            case 2: // UWOP_ALLOC_SMALL
              if (applies) rsp = (rsp + BigInt(info) * 8n + 8n) & MASK;
              break;
            case 3: // UWOP_SET_FPREG
              if (applies) rsp = frameBase;
              break;
            case 4: // UWOP_SAVE_NONVOL
              size = 2;
              if (applies) out[GPR[info]!] = readWord((frameBase + BigInt(slot(i + 1)) * 8n) & MASK);
              break;
            case 5: // UWOP_SAVE_NONVOL_FAR
              size = 3;
              if (applies) out[GPR[info]!] = readWord((frameBase + BigInt(slot(i + 1)) + (BigInt(slot(i + 2)) << 16n)) & MASK);
              break;
            case 6: size = 2; break; // UWOP_EPILOG (version 2): describes epilogues, nothing to undo
            case 7: size = 3; break; // UWOP_SPARE_CODE
            case 8: size = 2; break; // UWOP_SAVE_XMM128
            case 9: size = 3; break; // UWOP_SAVE_XMM128_FAR
            case 10: { // UWOP_PUSH_MACHFRAME: an interrupt's frame, optionally with an error code
              if (!applies) break;
              const top = (rsp + (info ? 8n : 0n)) & MASK;
              return { registers: { ...out, rip: readWord(top), rsp: readWord((top + 24n) & MASK) }, trust: 'cfi', returnSlot: top, unwindSource: `${source} (machine frame)` };
            }
            default: throw new CfiError(`Unknown unwind code ${op} in ${name}`, infoAt);
          }
          i += size;
        }
        if ((flags & UNW_FLAG_CHAININFO) === 0) break;
        const chained = ((codes + 1) & ~1) * 2;
        current = { begin: u(slotsBytes, chained, 4), end: u(slotsBytes, chained + 4, 4), unwind: u(slotsBytes, chained + 8, 4) };
        offsetInFunction = Number.MAX_SAFE_INTEGER; // a chained parent's prolog has fully run
      }
      const ret = readWord(rsp);
      return { registers: { ...out, rip: ret, rsp: (rsp + 8n) & MASK }, trust: 'cfi', returnSlot: rsp, unwindSource: source };
    },
  };
}

type EpilogueStep = { kind: 'add'; size: bigint } | { kind: 'pop'; register: RegisterName };

/**
 * The steps of an epilogue starting at `pc` (an optional `add rsp, n`,
 * then `pop`s, then `ret`), or undefined when the bytes there are not one.
 */
function epilogueAt(memory: ByteSource, pc: bigint): EpilogueStep[] | undefined {
  const bytes = memory.read(pc, 32);
  if (!bytes) return undefined;
  const steps: EpilogueStep[] = [];
  let i = 0;
  if (bytes[0] === 0x48 && bytes[1] === 0x83 && bytes[2] === 0xc4) {
    steps.push({ kind: 'add', size: BigInt(bytes[3]!) });
    i = 4;
  } else if (bytes[0] === 0x48 && bytes[1] === 0x81 && bytes[2] === 0xc4) {
    steps.push({ kind: 'add', size: BigInt(u(bytes, 3, 4)) });
    i = 7;
  }
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b >= 0x58 && b <= 0x5f) {
      steps.push({ kind: 'pop', register: GPR[b - 0x58]! });
      i += 1;
    } else if (b === 0x41 && bytes[i + 1]! >= 0x58 && bytes[i + 1]! <= 0x5f) {
      steps.push({ kind: 'pop', register: GPR[8 + bytes[i + 1]! - 0x58]! });
      i += 2;
    } else if (b === 0xc3 || (b === 0xf3 && bytes[i + 1] === 0xc3)) {
      return steps;
    } else return undefined;
  }
  return undefined;
}
