/**
 * Bad input a user can fix: a wrong argument, a missing file, an unknown
 * register. The CLI prints its message as one line and exits with code 2.
 *
 * @example
 * ```ts
 * throw new InputError(`Unknown register 'exx' for x86`);
 * ```
 */
export class InputError extends Error {
  override readonly name = 'InputError';
}
