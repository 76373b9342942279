/**
 * `faultline record` of an i386 or AArch64 program, which this x86-64 host
 * cannot run on its CPU: the program runs under qemu-user (`qemu-i386 -g
 * PORT`, `qemu-aarch64 -g PORT`) and is single-stepped through qemu's
 * gdbstub (`gdb-remote.ts`), its registers read after every step. The trace
 * says so (header `engine`: `qemu-i386`, `qemu-aarch64`): qemu is a second
 * emulator, not a CPU, so a comparison with Unicorn checks two emulators.
 * Registers and instruction bytes, and memory (`qemu-memory.ts`): the
 * initial image and what each system call mapped or wrote, read through
 * the gdbstub, so that `replay-check` can replay the recording. On i386 the
 * thread pointer is followed too: `set_thread_area` gives the base of the
 * descriptor the program then loads into gs (`mov gs`, a sync point whose
 * result is the trace's `gs_base`).
 *
 * @example
 * ```ts
 * if (qemuGuestOf('./a.out') === 'arm64') await recordUnderQemu({ program: './a.out', args: [], out: 'a.fltrace', maxInstructions: 10_000, arch: 'arm64' });
 * ```
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { createServer } from 'node:net';
import { InputError } from '../errors.ts';
import { createDisassembler, type Disassembler } from '../disasm/disassembler.ts';
import { writeTraceFileWith } from '../../traces/writer.ts';
import type { Arch, RegisterName } from '../../emu/registers.ts';
import type { TraceHeader } from '../../traces/model.ts';
import { GdbRemote } from './gdb-remote.ts';
import { GuestMemory, type MemoryEvent } from './qemu-memory.ts';
import { BatchBuilder, type RecordOptions, type RecordSummary } from './record.ts';

/** The `g` packet's layout: qemu's register order and widths (bytes, little-endian). */
const LAYOUTS: Record<'x86' | 'arm64', { pc: RegisterName; registers: Array<[RegisterName, number]> }> = {
  x86: {
    pc: 'eip',
    registers: (['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'eip', 'efl', 'cs', 'ss', 'ds', 'es', 'fs', 'gs'] as RegisterName[]).map((r) => [r, 4]),
  },
  arm64: {
    pc: 'pc',
    registers: [...Array.from({ length: 31 }, (_, i) => [`x${i}` as RegisterName, 8] as [RegisterName, number]), ['sp', 8], ['pc', 8], ['nzcv', 4]],
  },
};

const QEMU: Record<'x86' | 'arm64', string> = { x86: 'qemu-i386', arm64: 'qemu-aarch64' };

/** Where a system call's number, arguments and result are (the Linux ABI of each). */
const SYSCALL_ABI: Record<'x86' | 'arm64', { number: RegisterName; args: RegisterName[]; result: RegisterName; sp: RegisterName }> = {
  x86: { number: 'eax', args: ['ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp'], result: 'eax', sp: 'esp' },
  arm64: { number: 'x8', args: ['x0', 'x1', 'x2', 'x3', 'x4', 'x5'], result: 'x0', sp: 'sp' },
};

/** i386 `set_thread_area`: its `struct user_desc` (entry_number, base_addr at 0 and 4) gives a gs base. */
const SET_THREAD_AREA = 243n;
/** The sync name of an i386 load of gs, whose result is the descriptor's base (`gs_base`). */
const LOAD_GS = 'mov gs';

/** Instructions whose results the kernel or the CPU chose. */
const SYNC = new Set(['int', 'sysenter', 'syscall', 'rdtsc', 'rdtscp', 'cpuid', 'rdrand', 'rdseed', 'xgetbv', 'svc', 'mrs']);

/**
 * qemu's CPU models for `--mask-cpuid`: without AVX and XSAVE (i386; less the 64-bit features qemu-i386 does not emulate, which it would warn about), without SVE (AArch64), so that glibc
 * takes code Unicorn runs (qemu's default, `max`, has them).
 */
const PLAIN_CPU: Record<'x86' | 'arm64', string> = { x86: 'Nehalem-v1,-lm,-syscall', arm64: 'cortex-a72' };

/** The sync name of an AArch64 load-exclusive … store-exclusive sequence recorded as one step. */
const EXCLUSIVE = 'exclusive sequence (one step)';

/** The address after the store-exclusive that ends the sequence starting at `pc` (within 16 instructions), if any. */
async function exclusiveEnd(stub: GdbRemote, disasm: Disassembler, pc: bigint): Promise<bigint | undefined> {
  const reply = await stub.request(`m${pc.toString(16)},40`);
  if (/^E/.test(reply)) return undefined;
  const bytes = Uint8Array.from(Buffer.from(reply, 'hex'));
  for (let at = 4; at + 4 <= bytes.length; at += 4) {
    const decoded = disasm.decode(bytes.subarray(at, at + 4), pc + BigInt(at));
    if (decoded && /^st(l)?x(r|p)/.test(decoded.mnemonic)) return pc + BigInt(at + 4);
  }
  return undefined;
}

/** Runs to `address` under a temporary breakpoint; the stop reply. */
async function runTo(stub: GdbRemote, address: bigint): Promise<string> {
  const where = `${address.toString(16)},4`;
  if ((await stub.request(`Z0,${where}`)) !== 'OK') return stub.request('s');
  const stop = await stub.request('c');
  if (stop.startsWith('T') || stop.startsWith('S')) await stub.request(`z0,${where}`);
  return stop;
}

/** The guest architecture a program needs qemu for (i386 or AArch64 ELF), or undefined (x86-64, or not an ELF file). */
export function qemuGuestOf(program: string): 'x86' | 'arm64' | undefined {
  let fd: number;
  try {
    fd = openSync(program, 'r');
  } catch {
    return undefined;
  }
  try {
    const head = Buffer.alloc(20);
    if (readSync(fd, head, 0, 20, 0) < 20 || head.readUInt32BE(0) !== 0x7f454c46) return undefined;
    const machine = head.readUInt16LE(18);
    return machine === 3 ? 'x86' : machine === 183 ? 'arm64' : undefined;
  } finally {
    closeSync(fd);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function parseRegisters(hex: string, arch: 'x86' | 'arm64'): Map<RegisterName, bigint> {
  const out = new Map<RegisterName, bigint>();
  let at = 0;
  for (const [name, width] of LAYOUTS[arch].registers) {
    const field = hex.slice(at, at + 2 * width);
    if (field.length < 2 * width || /x/i.test(field)) throw new InputError(`record: the gdbstub's register reply ends before ${name} (${hex.length / 2} bytes)`);
    const value = width === 8 ? Buffer.from(field, 'hex').readBigUInt64LE(0) : BigInt(Buffer.from(field, 'hex').readUInt32LE(0));
    // qemu sends the whole PSTATE as cpsr; the trace's nzcv is the flags alone (BTYPE and the rest change on branches).
    out.set(name, name === 'nzcv' ? value & 0xf000_0000n : value);
    at += 2 * width;
  }
  return out;
}

/** Records `options.program` under qemu-user's gdbstub; see the module comment. */
export async function recordUnderQemu(options: RecordOptions & { arch: 'x86' | 'arm64' }): Promise<RecordSummary> {
  const { arch } = options;
  const qemu = QEMU[arch];
  const version = spawnSync(qemu, ['--version'], { encoding: 'utf8' });
  if (version.status !== 0) throw new InputError(`record: ${options.program} is an ${arch === 'x86' ? 'i386' : 'AArch64'} program and ${qemu} is not installed (apt-get install qemu-user)`);
  const engineVersion = /version ([\d.]+)/.exec(version.stdout)?.[1] ?? 'unknown version';
  const port = await freePort();
  const cpu = options.maskCpuid ? ['-cpu', PLAIN_CPU[arch]] : [];
  const child = spawn(qemu, [...cpu, '-g', String(port), options.program, ...options.args], { stdio: [options.stdio ?? 'inherit', options.stdio ?? 'inherit', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (options.stdio !== 'ignore') process.stderr.write(chunk);
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  let stub: GdbRemote;
  try {
    stub = await GdbRemote.connect(port);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw new InputError(`record: ${qemu} did not start ${options.program}: ${stderr.trim().split('\n')[0] || (error as Error).message}`);
  }
  const disasm = await createDisassembler(arch as Arch);
  const layout = LAYOUTS[arch];
  const names = layout.registers.map(([name]) => name).filter((name) => name !== layout.pc);
  // qemu's register packet has no segment bases: the trace's gs_base is the descriptor set_thread_area set up.
  if (arch === 'x86') names.push('gs_base');
  const abi = SYSCALL_ABI[arch];
  const memory = new GuestMemory(stub, arch, options.program);
  const tls = new Map<bigint, bigint>();
  let gsBase = 0n;
  let image: MemoryEvent[] = [];
  const started = performance.now();
  let instructions = 0;
  let ending = '';
  let exitStatus: number | undefined;
  let signal: string | undefined;
  const records: Array<{ pc: bigint; size: number; bytes?: Uint8Array; changed: Array<[number, bigint]>; sync?: string; memory?: MemoryEvent[] }> = [];
  let start: Map<RegisterName, bigint>;
  try {
    let regs = parseRegisters(await stub.request('g'), arch);
    if (arch === 'x86') regs.set('gs_base', gsBase);
    start = regs;
    image = await memory.image(regs.get(abi.sp)!);
    const code = new Map<bigint, { bytes: Uint8Array; size: number; sync?: string }>();
    for (;;) {
      if (instructions >= options.maxInstructions) {
        ending = `instruction budget of ${instructions} reached (the program was killed)`;
        break;
      }
      const pc = regs.get(layout.pc)!;
      let known = code.get(pc);
      if (!known) {
        const reply = await stub.request(`m${pc.toString(16)},${arch === 'arm64' ? 4 : 16}`);
        const bytes = /^E/.test(reply) ? new Uint8Array(0) : Uint8Array.from(Buffer.from(reply, 'hex'));
        const decoded = disasm.decode(bytes, pc);
        const sync = decoded && /^ld(a)?x(r|p)/.test(decoded.mnemonic) ? EXCLUSIVE
          : decoded && arch === 'x86' && decoded.mnemonic === 'mov' && /^gs,/.test(decoded.operands) ? LOAD_GS
            : decoded && SYNC.has(decoded.mnemonic) && (decoded.mnemonic !== 'int' || decoded.operands === '80h') ? decoded.mnemonic : undefined;
        known = { bytes: decoded ? bytes.slice(0, decoded.size) : bytes, size: decoded?.size ?? 0, ...(sync ? { sync } : {}) };
        code.set(pc, known);
      }
      // Stepping between a load-exclusive and its store-exclusive clears the monitor, so the store never succeeds
      // and the loop never ends: the sequence runs as one step, to a breakpoint after the store.
      const after = known.sync === EXCLUSIVE ? await exclusiveEnd(stub, disasm, pc) : undefined;
      const syscall = known.sync === 'int' || known.sync === 'svc' || known.sync === 'sysenter';
      if (syscall) await memory.beforeSyscall(regs.get(abi.sp)!);
      const stop = after === undefined ? await stub.request('s') : await runTo(stub, after);
      if (stop.startsWith('W')) {
        exitStatus = parseInt(stop.slice(1, 3), 16);
        ending = `exited with status ${exitStatus}`;
        break;
      }
      if (stop.startsWith('X')) {
        signal = `signal ${parseInt(stop.slice(1, 3), 16)}`;
        ending = `killed by ${signal}`;
        break;
      }
      const number = parseInt(stop.slice(1, 3), 16);
      if (number !== 5) {
        signal = `signal ${number}`;
        ending = `stopped by ${signal} at ${pc.toString(16)} (signals are not followed under qemu)`;
        break;
      }
      const next = parseRegisters(await stub.request('g'), arch);
      let changes: MemoryEvent[] | undefined;
      if (syscall) {
        const call = { number: regs.get(abi.number)!, args: abi.args.map((name) => regs.get(name)!), result: next.get(abi.result)! };
        changes = await memory.afterSyscall(call, next.get(abi.sp)!, instructions);
        if (arch === 'x86' && call.number === SET_THREAD_AREA && call.result === 0n) {
          const desc = await memory.read(call.args[0]!, 8);
          if (desc) tls.set(BigInt(Buffer.from(desc).readUInt32LE(0)), BigInt(Buffer.from(desc).readUInt32LE(4)));
        }
      }
      if (known.sync === LOAD_GS) gsBase = tls.get(next.get('gs')! >> 3n) ?? 0n;
      if (arch === 'x86') next.set('gs_base', gsBase);
      const changed: Array<[number, bigint]> = [];
      names.forEach((name, index) => {
        if (next.get(name) !== regs.get(name)) changed.push([index, next.get(name)!]);
      });
      records.push({ pc, size: known.size, bytes: known.bytes, changed, ...(known.sync ? { sync: known.sync } : {}), ...(changes?.length ? { memory: changes } : {}) });
      // A system call may map or change code: read the bytes again after it.
      if (syscall) code.clear();
      regs = next;
      instructions++;
      if (instructions % 65_536 === 0) options.onProgress?.(instructions);
    }
  } finally {
    stub.close();
    child.kill('SIGKILL');
    await exited;
    disasm.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const startRegisters: TraceHeader['startRegisters'] = Object.fromEntries(start!);
  writeTraceFileWith(options.out, (writer) => {
    writer.writeHeader({
      version: 1, arch, engine: qemu, registers: names, startRegisters, created: new Date().toISOString(),
      source: `faultline record under ${qemu} ${engineVersion}${cpu.length ? ` -cpu ${cpu[1]}` : ''} (gdbstub single-step: an emulator, not the CPU) -- ${[options.program, ...options.args].join(' ')}`,
      memory: `initial image and the system calls' changes (memory events), read through ${qemu}'s gdbstub; the program's own accesses not recorded`,
    });
    const batches = new BatchBuilder(writer, names.length);
    for (const event of image) batches.addEvent(event);
    const seen = new Set<bigint>();
    for (const record of records) {
      if (record.bytes && !seen.has(record.pc)) {
        seen.add(record.pc);
        batches.addCode(record.pc, record.bytes);
      }
      if (record.sync) batches.addEvent({ kind: 'sync', index: batches.next, pc: record.pc, name: record.sync });
      batches.add(record.pc, record.size, record.changed);
      for (const event of record.memory ?? []) batches.addEvent(event);
    }
    batches.addEvent({ kind: 'stop', index: Math.max(batches.next - 1, 0), reason: ending, pc: records.at(-1)?.pc ?? 0n });
    batches.flush();
    return ending;
  });
  return { instructions, ending, seconds, rate: instructions / seconds, ...(exitStatus === undefined ? {} : { exitStatus }), ...(signal === undefined ? {} : { signal }) };
}
