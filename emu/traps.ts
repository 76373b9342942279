/**
 * Names for the interrupt numbers Unicorn reports, as an engineer would say
 * them: `int 3`, `#GP`, `svc`, `brk`.
 *
 * @example
 * ```ts
 * trapName('x86', 3); // 'int 3'
 * ```
 */
import type { Arch } from './registers.ts';

const X86_NAMES: Record<number, string> = {
  0: '#DE divide error', 1: '#DB debug', 3: 'int 3', 4: 'into overflow', 5: '#BR bound',
  6: '#UD invalid opcode', 8: '#DF double fault', 13: '#GP general protection', 14: '#PF page fault',
  16: '#MF x87 error', 17: '#AC alignment check', 19: '#XM SIMD error',
};

// QEMU's AArch64 exception numbers (target/arm/cpu.h EXCP_*), as Unicorn passes them.
const ARM64_NAMES: Record<number, string> = {
  1: 'udf undefined instruction', 2: 'svc', 3: 'prefetch abort', 4: 'data abort', 7: 'brk', 11: 'hvc', 13: 'smc',
};

/** A short name for interrupt `vector` on `arch`. */
export function trapName(arch: Arch, vector: number): string {
  if (arch === 'arm64') return ARM64_NAMES[vector] ?? `exception ${vector}`;
  return X86_NAMES[vector] ?? `int ${vector.toString(16)}h`;
}
