/**
 * What gdb says about a core: the registers (`info registers`), the bytes
 * at the pc and the stack pointer (`x/NNxb`), si_addr when the core has
 * NT_SIGINFO, and the auxiliary vector's AT_ENTRY. The writers' outputs are
 * checked against these, so the truth comes from a reader that shares no
 * code with either the writers or faultline.
 *
 * @example
 * ```ts
 * const facts = gdbFacts('gdb', 'bugs', 'core');
 * facts.registers.get('rip'); // 0x557dd3eac514n
 * ```
 */
import { spawnSync } from 'node:child_process';

export interface GdbFacts {
  registers: Map<string, bigint>;
  /** 16 bytes at the pc, when gdb could read them. */
  pcBytes?: Uint8Array;
  /** 32 bytes at the stack pointer. */
  spBytes?: Uint8Array;
  siAddr?: bigint;
  /** AT_ENTRY from the core's auxiliary vector. */
  entry?: bigint;
}

function bytesAfter(lines: string[], marker: string, count: number): Uint8Array | undefined {
  const start = lines.findIndex((l) => l.startsWith(marker));
  if (start < 0) return undefined;
  const out: number[] = [];
  for (const line of lines.slice(start + 1)) {
    const match = /^0x[0-9a-f]+(?: <[^>]*>)?:\s+((?:0x[0-9a-f]{2}\s*)+)$/.exec(line.trim());
    if (!match) break;
    out.push(...match[1]!.trim().split(/\s+/).map((b) => parseInt(b, 16)));
    if (out.length >= count) break;
  }
  return out.length >= count ? Uint8Array.from(out.slice(0, count)) : undefined;
}

/**
 * Runs `gdb` in batch mode on `program` and `core` and reads its answers.
 *
 * @example
 * ```ts
 * gdbFacts('gdb-multiarch', 'bugs-arm64', 'qemu_….core', '/usr/aarch64-linux-gnu').entry; // 0x5500000bc0n
 * ```
 */
export function gdbFacts(gdb: string, program: string, core: string, sysroot?: string): GdbFacts {
  const commands = [
    ...(sysroot ? ['set sysroot ' + sysroot] : []),
    'info registers',
    'echo @@pc\\n', 'x/16xb $pc',
    'echo @@sp\\n', 'x/32xb $sp',
    'echo @@siginfo\\n', 'p/x $_siginfo._sifields._sigfault.si_addr',
    'echo @@auxv\\n', 'info auxv',
  ];
  const result = spawnSync(gdb, ['-batch', '-nx', ...commands.flatMap((c) => ['-ex', c]), program, core], { encoding: 'utf8', timeout: 60_000 });
  const lines = `${result.stdout}\n${result.stderr}`.split('\n');
  const registers = new Map<string, bigint>();
  for (const line of lines) {
    const match = /^([a-z][a-z0-9_]*)\s+(0x[0-9a-f]+)\s/.exec(line);
    if (match && !registers.has(match[1]!)) registers.set(match[1]!, BigInt(match[2]!));
  }
  const facts: GdbFacts = { registers };
  const pc = bytesAfter(lines, '@@pc', 16);
  if (pc) facts.pcBytes = pc;
  const sp = bytesAfter(lines, '@@sp', 32);
  if (sp) facts.spBytes = sp;
  const siginfo = lines.findIndex((l) => l.startsWith('@@siginfo'));
  const siAddr = siginfo >= 0 ? /^\$\d+ = (0x[0-9a-f]+)/.exec(lines[siginfo + 1] ?? '') : null;
  if (siAddr) facts.siAddr = BigInt(siAddr[1]!);
  const entry = lines.map((l) => /AT_ENTRY\s+.*\s(0x[0-9a-f]+)\s*$/.exec(l)).find(Boolean);
  if (entry) facts.entry = BigInt(entry[1]!);
  return facts;
}
