/**
 * A failed Unicorn call: the operation, Unicorn's own error text and the
 * address involved, so a user sees "uc_mem_map(0x1000, 0x2000) failed:
 * Invalid memory mapping (UC_ERR_MAP)" rather than a number.
 *
 * @example
 * ```ts
 * try { emu.map(0x1001n, 0x1000) } catch (e) { if (e instanceof EmulationError) console.log(e.ucError) }
 * ```
 */
export class EmulationError extends Error {
  override readonly name = 'EmulationError';
  /** The C function or operation that failed, e.g. `uc_mem_map`. */
  readonly operation: string;
  /** Unicorn's error code (uc_err), or undefined when the failure is ours. */
  readonly code?: number;
  /** Unicorn's text for the code (uc_strerror). */
  readonly ucError?: string;
  /** The address involved, when there is one. */
  readonly address?: bigint;

  constructor(operation: string, message: string, details: { code?: number; ucError?: string; address?: bigint } = {}) {
    super(message);
    this.operation = operation;
    this.code = details.code;
    this.ucError = details.ucError;
    this.address = details.address;
  }
}

/**
 * Unicorn cannot be loaded: the library is missing or too old. Carries the
 * one line telling the user what to install.
 */
export class UnicornUnavailableError extends Error {
  override readonly name = 'UnicornUnavailableError';
}
