/**
 * Minidump stream types (MINIDUMP_STREAM_TYPE in minidumpapiset.h, plus the
 * Breakpad and Crashpad extensions) and their names, for messages and notes.
 *
 * @example
 * ```ts
 * streamName(StreamType.ThreadList); // 'ThreadListStream'
 * streamName(0x47670009);            // 'BreakpadLinuxMapsStream'
 * ```
 */

/** The stream types faultline reads, by their MSDN names. */
export const StreamType = {
  Unused: 0x0,
  ThreadList: 0x3,
  ModuleList: 0x4,
  MemoryList: 0x5,
  Exception: 0x6,
  SystemInfo: 0x7,
  Memory64List: 0x9,
  MiscInfo: 0xf,
  MemoryInfoList: 0x10,
  ThreadNames: 0x18,
} as const;

const NAMES: Record<number, string> = {
  0x0: 'UnusedStream',
  0x3: 'ThreadListStream',
  0x4: 'ModuleListStream',
  0x5: 'MemoryListStream',
  0x6: 'ExceptionStream',
  0x7: 'SystemInfoStream',
  0x8: 'ThreadExListStream',
  0x9: 'Memory64ListStream',
  0xa: 'CommentStreamA',
  0xb: 'CommentStreamW',
  0xc: 'HandleDataStream',
  0xd: 'FunctionTableStream',
  0xe: 'UnloadedModuleListStream',
  0xf: 'MiscInfoStream',
  0x10: 'MemoryInfoListStream',
  0x11: 'ThreadInfoListStream',
  0x12: 'HandleOperationListStream',
  0x13: 'TokenStream',
  0x14: 'JavaScriptDataStream',
  0x15: 'SystemMemoryInfoStream',
  0x16: 'ProcessVmCountersStream',
  0x17: 'IptTraceStream',
  0x18: 'ThreadNamesStream',
  0x43500001: 'CrashpadInfoStream',
  0x47670001: 'BreakpadInfoStream',
  0x47670002: 'BreakpadAssertionInfoStream',
  0x47670003: 'BreakpadLinuxCpuInfoStream',
  0x47670004: 'BreakpadLinuxProcStatusStream',
  0x47670005: 'BreakpadLinuxLsbReleaseStream',
  0x47670006: 'BreakpadLinuxCmdLineStream',
  0x47670007: 'BreakpadLinuxEnvironStream',
  0x47670008: 'BreakpadLinuxAuxvStream',
  0x47670009: 'BreakpadLinuxMapsStream',
  0x4767000a: 'BreakpadLinuxDsoDebugStream',
};

/**
 * The stream's name as MSDN or Breakpad spells it, or `Stream 0x…` for a type
 * nobody documents.
 *
 * @example
 * ```ts
 * streamName(0x6);        // 'ExceptionStream'
 * streamName(0x12345678); // 'Stream 0x12345678'
 * ```
 */
export function streamName(type: number): string {
  return NAMES[type] ?? `Stream 0x${type.toString(16)}`;
}
