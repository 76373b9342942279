/**
 * The architecture a transcript shows, found in one pass over its text
 * before any command is read. Listings need it up front: WinDbg prints an
 * x86 or x64 instruction as its bytes in memory order (`4883ec20`) but an
 * ARM64 one as its 32-bit instruction word (`f9400042`, bytes 42 00 40 f9
 * in memory), and the two cannot be told apart by the digits alone.
 *
 * Evidence, strongest first:
 * 1. the first register block whose names tell (`eax` → x86, `rax` → x64,
 *    ` x0=`/`pc=` → arm64);
 * 2. the machine a cdb prompt names (`0:000:x86>`, `0:000:ARM64>`);
 * 3. listing lines whose operands are ARM64's (`ldr x2,[x2]`,
 *    `stp fp,lr,[sp,#-0x20]!`) while none are x86's (`dword ptr`, `rsp`).
 *
 * @example
 * ```ts
 * transcriptArch(lexTranscript(text)); // 'arm64' for a session whose `.ecxr` shows x0…x28, fp, lr, sp, pc
 * ```
 */
import type { Arch } from '../../../emu/registers.ts';
import type { LexedTranscript, TranscriptLine } from './lexer.ts';
import { archOfRegisterName, startsRegisterBlock } from './register-block.ts';

const MACHINES: Record<string, Arch> = { x86: 'x86', amd64: 'x64', x64: 'x64', arm64: 'arm64' };
const LISTING_VERBS = new Set(['u', 'ub', 'uf']);
/** `00000055`00000da4 f9400042 ldr x2,[x2]`: an address, one 8-digit word, then the instruction. */
const WORD_LINE = /^\s*(?:[0-9a-f]{8}`)?[0-9a-f]{8,16}\s+[0-9a-f]{8}\s+(\S.*)$/i;
const ARM64_OPERAND = /#|(?:^|[\s,[])(?:[xw](?:[12]?\d|30)|xzr|wzr|fp|lr)(?=[\s,\]!]|$)/i;
const X86_OPERAND = /\bptr\b|\b[re](?:[abcd]x|[sd]i|[sb]p|ip)\b|\br(?:[89]|1[0-5])[dwb]?\b/i;

function blockArch(lines: TranscriptLine[]): Arch | undefined {
  for (const { text } of lines) {
    if (!startsRegisterBlock(text)) continue;
    for (const token of text.trim().split(/\s+/)) {
      const arch = archOfRegisterName(token.split('=')[0] ?? '');
      if (arch) return arch;
    }
  }
  return undefined;
}

function listingArch(lines: TranscriptLine[]): { arm64: number; x86: number } {
  const count = { arm64: 0, x86: 0 };
  for (const { text } of lines) {
    const instruction = WORD_LINE.exec(text)?.[1];
    if (instruction === undefined) continue;
    if (X86_OPERAND.test(instruction)) count.x86++;
    else if (ARM64_OPERAND.test(instruction)) count.arm64++;
  }
  return count;
}

/**
 * What the transcript's text says its architecture is, or undefined when
 * nothing tells (see the file comment for the order).
 *
 * @example
 * ```ts
 * transcriptArch(lexTranscript('0:000:x86> r\neax=00000001\n')); // 'x86'
 * ```
 */
export function transcriptArch(lexed: LexedTranscript): Arch | undefined {
  const blocks = blockArch(lexed.preamble) ?? lexed.commands.map((c) => blockArch(c.output)).find((a) => a !== undefined);
  if (blocks) return blocks;
  const machine = lexed.commands.map((c) => MACHINES[c.effectiveMachine ?? '']).find((m) => m !== undefined);
  if (machine) return machine;
  const listings = lexed.commands.filter((c) => LISTING_VERBS.has(c.verb)).map((c) => listingArch(c.output));
  const arm64 = listings.reduce((n, l) => n + l.arm64, 0);
  const x86 = listings.reduce((n, l) => n + l.x86, 0);
  return arm64 > 0 && x86 === 0 ? 'arm64' : undefined;
}
