/**
 * MINIDUMP_MODULE_LIST: NumberOfModules, then one MINIDUMP_MODULE (0x6c
 * bytes, packed) per mapped ELF image, with its path as a MINIDUMP_STRING
 * and, when the file has a GNU build id, a CodeView record the way
 * Breakpad and Crashpad write one for ELF modules: CvSignature 'BpEL'
 * (0x4270454c) followed by the build id bytes.
 *
 * @example
 * ```ts
 * const { rva, size } = writeModuleList(out, crash.modules);
 * ```
 */
import type { CrashModule } from '../crash/modules.ts';
import type { ByteWriter } from './byte-writer.ts';
import { writeString } from './format.ts';

/** Breakpad's MD_CVINFOELF_SIGNATURE. */
export const CV_SIGNATURE_ELF = 0x4270454c;

/**
 * Appends the module list, names and CodeView records; returns the list's RVA and size.
 *
 * @example
 * ```ts
 * writeModuleList(out, []).size; // 4
 * ```
 */
export function writeModuleList(out: ByteWriter, modules: CrashModule[]): { rva: number; size: number } {
  const size = 4 + 0x6c * modules.length;
  const at = out.reserve(size);
  out.u32(at, modules.length); // NumberOfModules
  modules.forEach((module, i) => {
    const entry = at + 4 + 0x6c * i;
    const imageSize = module.end - module.base;
    if (imageSize > 0xffff_ffffn) throw new RangeError(`Module ${module.path} spans 0x${imageSize.toString(16)} bytes; SizeOfImage is 32 bits`);
    out.u64(entry + 0x00, module.base); // BaseOfImage
    out.u32(entry + 0x08, imageSize); // SizeOfImage
    out.u32(entry + 0x0c, 0); // CheckSum
    out.u32(entry + 0x10, 0); // TimeDateStamp: ELF files have none
    out.u32(entry + 0x14, writeString(out, module.path)); // ModuleNameRva
    // VersionInfo (VS_FIXEDFILEINFO, 0x18…0x4c) stays zero: ELF files carry no version resource.
    if (module.buildId) {
      const record = out.reserve(4 + module.buildId.length);
      out.u32(record, CV_SIGNATURE_ELF);
      out.set(record + 4, module.buildId);
      out.u32(entry + 0x4c, 4 + module.buildId.length); // CvRecord.DataSize
      out.u32(entry + 0x50, record); // CvRecord.Rva
    }
  });
  return { rva: at, size };
}
