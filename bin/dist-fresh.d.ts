/** The project's root directory, with a trailing separator. */
export const ROOT: string;
/** dist/sources.json: what the last successful build compiled, and when it started. */
export const MANIFEST: string;
/** True when dist/sources.json exists and no source file it names changed after the build started. */
export function distIsFresh(): boolean;
