/**
 * The SystemInfo stream (MINIDUMP_SYSTEM_INFO): processor architecture,
 * OS version and platform. Platform ids above 0x8000 are Breakpad's
 * (MD_OS_LINUX = 0x8201, MD_OS_MAC_OS_X = 0x8101, …).
 *
 * @example
 * ```ts
 * const info = readSystemInfo(file.streamReader(stream, SYSTEM_INFO_SIZE, 'MINIDUMP_SYSTEM_INFO'), 0);
 * archOfProcessor(info.processorArchitecture); // 'x86'
 * osOfPlatform(info.platformId);               // 'windows'
 * ```
 */
import type { Arch } from '../../../emu/registers.ts';
import type { ByteReader } from '../binary/byte-reader.ts';

export const SYSTEM_INFO_SIZE = 0x38;

/** PROCESSOR_ARCHITECTURE_* values, with Breakpad's additions. */
export const ProcessorArchitecture = {
  Intel: 0,
  Arm: 5,
  Ia64: 6,
  Amd64: 9,
  Ia32OnWin64: 10,
  Arm64: 12,
  /** Breakpad's MD_CPU_ARCHITECTURE_ARM64_OLD (also used by lldb's test dumps). */
  Arm64Old: 0x8003,
  Unknown: 0xffff,
} as const;

/** MINIDUMP_SYSTEM_INFO. */
export interface SystemInfo {
  processorArchitecture: number;
  processorLevel: number;
  processorRevision: number;
  numberOfProcessors: number;
  productType: number;
  majorVersion: number;
  minorVersion: number;
  buildNumber: number;
  platformId: number;
  csdVersionRva: number;
  suiteMask: number;
  /** CPU_INFORMATION.X86CpuInfo.VendorId as text ('GenuineIntel'), on x86 and x64. */
  vendorId?: string;
}

/**
 * MINIDUMP_SYSTEM_INFO at `offset`.
 *
 * @example
 * ```ts
 * readSystemInfo(reader, 0).buildNumber; // 2600
 * ```
 */
export function readSystemInfo(r: ByteReader, offset: number): SystemInfo {
  const info: SystemInfo = {
    processorArchitecture: r.u16(offset + 0x00, 'ProcessorArchitecture'),
    processorLevel: r.u16(offset + 0x02, 'ProcessorLevel'),
    processorRevision: r.u16(offset + 0x04, 'ProcessorRevision'),
    numberOfProcessors: r.u8(offset + 0x06, 'NumberOfProcessors'),
    productType: r.u8(offset + 0x07, 'ProductType'),
    majorVersion: r.u32(offset + 0x08, 'MajorVersion'),
    minorVersion: r.u32(offset + 0x0c, 'MinorVersion'),
    buildNumber: r.u32(offset + 0x10, 'BuildNumber'),
    platformId: r.u32(offset + 0x14, 'PlatformId'),
    csdVersionRva: r.u32(offset + 0x18, 'CSDVersionRva'),
    suiteMask: r.u16(offset + 0x1c, 'SuiteMask'),
  };
  if (info.processorArchitecture === ProcessorArchitecture.Intel || info.processorArchitecture === ProcessorArchitecture.Amd64) {
    const vendor = r.slice(offset + 0x20, 12, 'Cpu.X86CpuInfo.VendorId');
    const text = new TextDecoder('latin1').decode(vendor).replace(/\0+$/, '');
    if (/^[\x20-\x7e]+$/.test(text)) info.vendorId = text;
  }
  return info;
}

/**
 * The faultline architecture for a PROCESSOR_ARCHITECTURE_* value, or
 * undefined for one faultline cannot emulate (ARM32, IA64, MIPS, …).
 *
 * @example
 * ```ts
 * archOfProcessor(9);      // 'x64'
 * archOfProcessor(0x8003); // 'arm64'
 * archOfProcessor(5);      // undefined
 * ```
 */
export function archOfProcessor(architecture: number): Arch | undefined {
  switch (architecture) {
    case ProcessorArchitecture.Intel:
    case ProcessorArchitecture.Ia32OnWin64:
      return 'x86';
    case ProcessorArchitecture.Amd64:
      return 'x64';
    case ProcessorArchitecture.Arm64:
    case ProcessorArchitecture.Arm64Old:
      return 'arm64';
    default:
      return undefined;
  }
}

const PLATFORMS: Record<number, string> = {
  0: 'windows', // VER_PLATFORM_WIN32s
  1: 'windows', // VER_PLATFORM_WIN32_WINDOWS (9x)
  2: 'windows', // VER_PLATFORM_WIN32_NT
  3: 'windows', // VER_PLATFORM_WIN32_CE
  0x8000: 'unix',
  0x8101: 'macos',
  0x8102: 'ios',
  0x8201: 'linux',
  0x8202: 'solaris',
  0x8203: 'android',
  0x8204: 'ps3',
  0x8205: 'nacl',
  0x8206: 'fuchsia',
};

/**
 * The OS name for a PlatformId, lower-case as `Dump.os` holds it, or
 * undefined for an unknown id.
 *
 * @example
 * ```ts
 * osOfPlatform(2);      // 'windows'
 * osOfPlatform(0x8201); // 'linux'
 * ```
 */
export function osOfPlatform(platformId: number): string | undefined {
  return PLATFORMS[platformId];
}
