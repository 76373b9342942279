/**
 * MINIDUMP_SYSTEM_INFO (0x38 bytes) and MINIDUMP_MISC_INFO (0x18 bytes):
 * the machine and process as a Windows 10 22H2 workstation would describe
 * them. The CPU fields are fixed, plausible values (an Intel family 6 part
 * for x86 and x64), so a dump of one core is the same on every machine.
 *
 * @example
 * ```ts
 * const at = writeSystemInfo(out, 'x64'); // ProcessorArchitecture 9 (AMD64)
 * ```
 */
import type { WriterArch } from '../crash/registers.ts';
import type { ByteWriter } from './byte-writer.ts';
import { writeString } from './format.ts';

export const PROCESSOR_ARCHITECTURE_INTEL = 0;
export const PROCESSOR_ARCHITECTURE_AMD64 = 9;
export const PROCESSOR_ARCHITECTURE_ARM64 = 12;
export const VER_PLATFORM_WIN32_NT = 2;
const VER_NT_WORKSTATION = 1;
const VER_SUITE_SINGLEUSERTS = 0x0100;
/** Windows 10 22H2. */
export const WINDOWS_VERSION = { major: 10, minor: 0, build: 19045 } as const;

const ARCHITECTURES: Record<WriterArch, number> = {
  x86: PROCESSOR_ARCHITECTURE_INTEL,
  x64: PROCESSOR_ARCHITECTURE_AMD64,
  arm64: PROCESSOR_ARCHITECTURE_ARM64,
};

/**
 * Appends MINIDUMP_SYSTEM_INFO and its (empty) CSDVersion string; returns the stream's RVA.
 *
 * @example
 * ```ts
 * writeSystemInfo(out, 'arm64'); // ProcessorArchitecture 12, OtherCpuInfo zero
 * ```
 */
export function writeSystemInfo(out: ByteWriter, arch: WriterArch): number {
  const at = out.reserve(0x38, 8);
  out.u16(at + 0x00, ARCHITECTURES[arch]); // ProcessorArchitecture
  out.u16(at + 0x02, arch === 'arm64' ? 8 : 6); // ProcessorLevel
  out.u16(at + 0x04, arch === 'arm64' ? 0 : 0x9e0a); // ProcessorRevision: model 0x9e, stepping 10
  out.u8(at + 0x06, 4); // NumberOfProcessors
  out.u8(at + 0x07, VER_NT_WORKSTATION); // ProductType
  out.u32(at + 0x08, WINDOWS_VERSION.major); // MajorVersion
  out.u32(at + 0x0c, WINDOWS_VERSION.minor); // MinorVersion
  out.u32(at + 0x10, WINDOWS_VERSION.build); // BuildNumber
  out.u32(at + 0x14, VER_PLATFORM_WIN32_NT); // PlatformId
  out.u16(at + 0x1c, VER_SUITE_SINGLEUSERTS); // SuiteMask
  if (arch !== 'arm64') {
    // Cpu.X86CpuInfo: VendorId[3] @0x20, VersionInformation @0x2c, FeatureInformation @0x30, AMDExtendedCpuFeatures @0x34.
    const vendor = Buffer.from('GenuineIntel', 'latin1');
    out.set(at + 0x20, vendor);
    out.u32(at + 0x2c, 0x000906ea);
    out.u32(at + 0x30, 0xbfebfbff);
  }
  out.u32(at + 0x18, writeString(out, '')); // CSDVersionRva
  return at;
}

/**
 * Appends MINIDUMP_MISC_INFO with the process id (Flags1 = MINIDUMP_MISC1_PROCESS_ID); returns its RVA.
 *
 * @example
 * ```ts
 * writeMiscInfo(out, 8407); // SizeOfInfo 0x18, ProcessId 8407
 * ```
 */
export function writeMiscInfo(out: ByteWriter, processId: number): number {
  const at = out.reserve(0x18);
  out.u32(at + 0x00, 0x18); // SizeOfInfo
  out.u32(at + 0x04, 0x1); // Flags1: MINIDUMP_MISC1_PROCESS_ID
  out.u32(at + 0x08, processId); // ProcessId
  return at;
}
