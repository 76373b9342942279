/**
 * A callee's register save that is itself the faulting access, on a real
 * core of a gcc-built x86-64 program (gdb plays a data-address fault: the
 * CPU stores rbx one bit (bit 40) away from its slot, and faults there):
 *
 *   saver: sub rsp, 18h; mov [rsp+8], rbx  ← faults; mov rbx, rdi; …
 *
 * The window at the loop's call into saver takes back the caller's values
 * of the registers saver saves from the slots it saves them to. This save
 * never happened: its slot holds the previous call's rbx, not this one's.
 * Taken from it, the caller's window would come to the store with another
 * rbx than the dump's and seem to refute the fault window's accounts; the
 * store at the trap does not count, and the data address flip stands.
 */
import { describe, expect, it } from 'vitest';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { join } from 'node:path';
import { explainCore } from '../helpers/explain-core.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
__asm__(".text\n.globl saver\n.type saver, @function\nsaver:\n"
        "  sub $24, %rsp\n  mov %rbx, 8(%rsp)\n  mov %rdi, %rbx\n  lea 1(%rbx), %rax\n"
        "  mov 8(%rsp), %rbx\n  add $24, %rsp\n  ret\n.size saver, .-saver\n");
long saver(long);
__attribute__((noinline)) long run(long n) {
  long s = 0;
  for (long i = 0; i < n; i++) s += saver(i) * i;
  return s;
}
int main(int argc, char **argv) { return (int)run(argc + 6); }
`;

describe.skipIf(!nativeX64)('a data-address fault on a callee\'s register save (x86-64)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'trap-store-save', SOURCE, ['-O2', '-no-pie']);
  const body = listing.slice(listing.indexOf('<saver>:'));
  const save = BigInt(`0x${/^\s*([0-9a-f]+):\s+mov\s+%rbx,0x8\(%rsp\)/m.exec(body)![1]}`);
  const at = `*0x${save.toString(16)}`;

  it('bit 40 of the save\'s address on the third call: a CPU fault in the data address', async () => {
    // The base register moved for the one access and put back before the core is written, as the CPU's fault leaves it.
    const { core } = await runToCore(nativeX64!, {
      program: binary, signal: 'SIGSEGV', core: join(dir, 'save.core'),
      commands: [`break ${at}`, 'continue', 'continue', 'continue', 'delete', 'set $rsp = (long)$rsp ^ 0x10000000000', 'stepi', 'set $rsp = (long)$rsp ^ 0x10000000000'],
    });
    const report = await explainCore(core, binary);
    expect(report.verdict).toMatchObject({ class: 'cpu-fault', location: 'data-address', bit: 40 });
    // The window at the call keeps the dump's rbx (this call's i, 2), not the previous call's from the slot.
    const call = report.windows.find((w) => /call .*saver/.test(w.anchor))!;
    expect(call.recovered.filter((r) => r.register === 'rbx')).toEqual([]);
  }, 300_000);
});
