/**
 * Module names as WinDbg shows them: the file name without its directory,
 * and on Windows without its extension (`C:\Windows\System32\ntdll.dll` →
 * `ntdll`, so addresses print as `ntdll+0x1234`). Elsewhere the file name is
 * kept whole (`libc.so.6`), as gdb and lldb show it. A name already taken
 * gets the module's base appended, as WinDbg does (`foo_7ff6a000`).
 *
 * @example
 * ```ts
 * moduleNames(['c:\\test_app.exe', '/lib/libc.so.6'], [0x400000n, 0x7f00n], 'windows'); // ['test_app', 'libc.so']
 * ```
 */

/**
 * The file name at the end of `path`, either separator.
 *
 * @example
 * ```ts
 * baseName('C:\\Windows\\System32\\ntdll.dll'); // 'ntdll.dll'
 * ```
 */
export function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] ?? path;
}

/**
 * The display name of each module: see the file comment.
 *
 * @example
 * ```ts
 * moduleNames(['C:\\a\\x.dll', 'D:\\x.dll'], [0x1000n, 0x2000n], 'windows'); // ['x', 'x_00002000']
 * ```
 */
export function moduleNames(paths: readonly string[], bases: readonly bigint[], os: string | undefined): string[] {
  const taken = new Set<string>();
  return paths.map((path, i) => {
    const file = baseName(path) || `module_${bases[i]!.toString(16)}`;
    const dot = file.lastIndexOf('.');
    let name = os === 'windows' && dot > 0 ? file.slice(0, dot) : file;
    if (taken.has(name.toLowerCase())) name = `${name}_${bases[i]!.toString(16).padStart(8, '0')}`;
    taken.add(name.toLowerCase());
    return name;
  });
}
