/**
 * The ModuleList stream (MINIDUMP_MODULE_LIST of MINIDUMP_MODULE): each
 * module's base, size, timestamp, name (a MINIDUMP_STRING) and CodeView
 * record.
 *
 * @example
 * ```ts
 * const [main] = readModuleList(file);
 * main.path;            // 'c:\\test_app.exe'
 * main.debugIdentifier; // '5A9832E5287241C1838ED98914E9B7FF1'
 * ```
 */
import type { ByteReader } from '../binary/byte-reader.ts';
import { readLocation, type MinidumpLocation } from './header.ts';
import type { MinidumpFile } from './minidump-file.ts';
import { debugIdentifier, readCodeView, type CodeViewRecord } from './codeview.ts';
import { StreamType } from './streams.ts';

export const MODULE_SIZE = 0x6c;
/** VS_FIXEDFILEINFO.dwSignature. */
const VS_FFI_SIGNATURE = 0xfeef04bd;
/** A CodeView record is a GUID, an age and a path: more than 64 KiB is not one. */
const MAX_CV_RECORD = 0x10000;

/** MINIDUMP_MODULE, as stored. */
export interface RawModule {
  baseOfImage: bigint;
  sizeOfImage: number;
  checkSum: number;
  timeDateStamp: number;
  moduleNameRva: number;
  /** VS_FIXEDFILEINFO.dwFileVersionMS/LS when its signature is present. */
  fileVersion?: string;
  cvRecord: MinidumpLocation;
  miscRecord: MinidumpLocation;
  offset: bigint;
}

/** A module with its name and CodeView record read. */
export interface MinidumpModuleRecord extends RawModule {
  path: string;
  codeView?: CodeViewRecord;
  /** PDB path, when the CodeView record names one. */
  debugFile?: string;
  /** See `debugIdentifier`. */
  debugIdentifier?: string;
}

/**
 * MINIDUMP_MODULE at `offset`.
 *
 * @example
 * ```ts
 * readModule(reader, 4).sizeOfImage; // 0x2d000
 * ```
 */
export function readModule(r: ByteReader, offset: number): RawModule {
  const module: RawModule = {
    baseOfImage: r.u64(offset + 0x00, 'BaseOfImage'),
    sizeOfImage: r.u32(offset + 0x08, 'SizeOfImage'),
    checkSum: r.u32(offset + 0x0c, 'CheckSum'),
    timeDateStamp: r.u32(offset + 0x10, 'TimeDateStamp'),
    moduleNameRva: r.u32(offset + 0x14, 'ModuleNameRva'),
    cvRecord: readLocation(r, offset + 0x4c, 'CvRecord'),
    miscRecord: readLocation(r, offset + 0x54, 'MiscRecord'),
    offset: r.origin.base + BigInt(offset),
  };
  if (r.u32(offset + 0x18, 'VersionInfo.dwSignature') === VS_FFI_SIGNATURE) {
    const ms = r.u32(offset + 0x20, 'VersionInfo.dwFileVersionMS');
    const ls = r.u32(offset + 0x24, 'VersionInfo.dwFileVersionLS');
    module.fileVersion = `${ms >>> 16}.${ms & 0xffff}.${ls >>> 16}.${ls & 0xffff}`;
  }
  return module;
}

/**
 * Every module of the ModuleList stream, names and CodeView records read;
 * empty when the dump has none.
 *
 * @example
 * ```ts
 * readModuleList(file)[0].debugFile; // 'c:\\test_app.pdb'
 * ```
 */
export function readModuleList(file: MinidumpFile): MinidumpModuleRecord[] {
  const stream = file.stream(StreamType.ModuleList);
  if (!stream) return [];
  const list = file.readList(stream, { countSize: 4, entrySize: MODULE_SIZE, entry: 'MINIDUMP_MODULE', mayBePadded: true });
  const modules: MinidumpModuleRecord[] = [];
  for (let i = 0; i < Number(list.count); i++) {
    const what = `${stream.name} MINIDUMP_MODULE[${i}]`;
    const raw = readModule(list.reader.sub(list.entries + i * MODULE_SIZE, MODULE_SIZE, what), 0);
    const module: MinidumpModuleRecord = { ...raw, path: file.readString(BigInt(raw.moduleNameRva), `${what} name`) };
    if (raw.cvRecord.dataSize >= 4) {
      if (raw.cvRecord.dataSize > MAX_CV_RECORD) {
        throw file.error(raw.offset + 0x4cn, `${what} CvRecord.DataSize ${raw.cvRecord.dataSize} is larger than any CodeView record (${MAX_CV_RECORD} bytes at most)`);
      }
      const codeView = readCodeView(file.readLocation(raw.cvRecord, `${what} CodeView record`), 0);
      module.codeView = codeView;
      module.debugIdentifier = debugIdentifier(codeView);
      if (codeView.kind === 'pdb70' || codeView.kind === 'pdb20') module.debugFile = codeView.pdbFileName;
    }
    modules.push(module);
  }
  return modules;
}
