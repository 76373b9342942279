/** The project's root directory, with a trailing separator. */
export const ROOT: string;
/** Where the build's manifest (what it compiled, when it started) is, under a root. */
export const MANIFEST_PATH: string;
/** True when `root`'s dist/sources.json exists and no source file it names changed (or went away) after the build started. */
export function distIsFresh(root?: string): boolean;
