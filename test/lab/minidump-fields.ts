/**
 * A deliberately small minidump reader for the lab writers' tests: the
 * header, the directory, and the fields the tests compare with gdb,
 * read at the offsets minidumpapiset.h and winnt.h give. It is a third
 * reading of the format, sharing no code with the writers or faultline.
 *
 * @example
 * ```ts
 * const fields = readMinidumpFields(readFileSync('crash.dmp'));
 * fields.context.get('rip'); // 0x557dd3eac514n
 * ```
 */

export interface MinidumpFields {
  version: number;
  streams: Map<number, { rva: number; size: number }>;
  processorArchitecture: number;
  platformId: number;
  majorVersion: number;
  threadId: number;
  contextFlags: number;
  context: Map<string, bigint>;
  exception: { threadId: number; code: number; flags: number; address: bigint; parameters: bigint[] };
  modules: { base: bigint; size: number; name: string; cvSignature?: number }[];
}

const AMD64 = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip'];
const I386: [string, number][] = [['edi', 0x9c], ['esi', 0xa0], ['ebx', 0xa4], ['edx', 0xa8], ['ecx', 0xac], ['eax', 0xb0], ['ebp', 0xb4], ['eip', 0xb8], ['eflags', 0xc0], ['esp', 0xc4]];

function stringAt(view: DataView, rva: number): string {
  const length = view.getUint32(rva, true);
  return Buffer.from(view.buffer, view.byteOffset + rva + 4, length).toString('utf16le');
}

/**
 * Reads the fields the tests check; throws on a missing stream.
 *
 * @example
 * ```ts
 * readMinidumpFields(bytes).exception.code; // 0xc0000005
 * ```
 */
export function readMinidumpFields(bytes: Uint8Array): MinidumpFields {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0x00, true) !== 0x504d444d) throw new Error('No MDMP signature');
  const streams = new Map<number, { rva: number; size: number }>();
  const count = view.getUint32(0x08, true);
  const directory = view.getUint32(0x0c, true);
  for (let i = 0; i < count; i++) {
    const at = directory + 12 * i;
    streams.set(view.getUint32(at, true), { size: view.getUint32(at + 4, true), rva: view.getUint32(at + 8, true) });
  }
  const need = (type: number) => {
    const stream = streams.get(type);
    if (!stream) throw new Error(`No stream of type ${type}`);
    return stream.rva;
  };
  const system = need(7);
  const threads = need(3);
  const thread = threads + 4;
  const contextRva = view.getUint32(thread + 0x2c, true);
  const architecture = view.getUint16(system + 0x00, true);
  const context = new Map<string, bigint>();
  let contextFlags: number;
  if (architecture === 9) {
    contextFlags = view.getUint32(contextRva + 0x30, true);
    AMD64.forEach((name, i) => context.set(name, view.getBigUint64(contextRva + 0x78 + 8 * i, true)));
    context.set('eflags', BigInt(view.getUint32(contextRva + 0x44, true)));
  } else if (architecture === 0) {
    contextFlags = view.getUint32(contextRva, true);
    for (const [name, offset] of I386) context.set(name, BigInt(view.getUint32(contextRva + offset, true)));
  } else {
    contextFlags = view.getUint32(contextRva, true);
    context.set('cpsr', BigInt(view.getUint32(contextRva + 0x4, true)));
    for (let i = 0; i <= 30; i++) context.set(`x${i}`, view.getBigUint64(contextRva + 0x8 + 8 * i, true));
    context.set('sp', view.getBigUint64(contextRva + 0x100, true));
    context.set('pc', view.getBigUint64(contextRva + 0x108, true));
  }
  const ex = need(6);
  const parameters = Array.from({ length: view.getUint32(ex + 0x20, true) }, (_, i) => view.getBigUint64(ex + 0x28 + 8 * i, true));
  const moduleList = need(4);
  const modules = Array.from({ length: view.getUint32(moduleList, true) }, (_, i) => {
    const at = moduleList + 4 + 0x6c * i;
    const module: MinidumpFields['modules'][number] = { base: view.getBigUint64(at, true), size: view.getUint32(at + 8, true), name: stringAt(view, view.getUint32(at + 0x14, true)) };
    const cvRva = view.getUint32(at + 0x50, true);
    if (view.getUint32(at + 0x4c, true) >= 4) module.cvSignature = view.getUint32(cvRva, true);
    return module;
  });
  return {
    version: view.getUint32(0x04, true),
    streams,
    processorArchitecture: architecture,
    platformId: view.getUint32(system + 0x14, true),
    majorVersion: view.getUint32(system + 0x08, true),
    threadId: view.getUint32(thread, true),
    contextFlags,
    context,
    exception: {
      threadId: view.getUint32(ex, true),
      code: view.getUint32(ex + 0x08, true),
      flags: view.getUint32(ex + 0x0c, true),
      address: view.getBigUint64(ex + 0x18, true),
      parameters,
    },
    modules,
  };
}
