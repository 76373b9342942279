/**
 * Input shown inside a message: control characters escaped (`\r`, `\n`,
 * `\t`, `\x1b`), so a hostile file cannot move the cursor or split the
 * error line, and long text cut to its first characters and its length, so
 * a 200 000-character register value does not flood the terminal.
 *
 * @example
 * ```ts
 * quoteInput('8082e3e0');                // "'8082e3e0'"
 * quoteInput('z'.repeat(200000));        // "'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz…' (200000 characters)"
 * quoteInput('a\r\nb');                  // "'a\\r\\nb'"
 * shortText('x\u001b[2J', 40);           // 'x\\x1b[2J'
 * ```
 */

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
/** C0 controls, DEL, C1 controls, and the Unicode line and paragraph separators. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** `text` with control characters escaped. */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return NAMED[c] ?? (code > 0xff ? `\\u${code.toString(16)}` : `\\x${code.toString(16).padStart(2, '0')}`);
  });
}

/**
 * `text` escaped and, when longer than `max` characters, cut to its first
 * ones followed by `…`; no quotes, no length.
 *
 * @example
 * ```ts
 * shortText('abcdef', 3); // 'abc…'
 * ```
 */
export function shortText(text: string, max = 40): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return escapeControl(cut);
}

/**
 * `text` in single quotes for a message, escaped, and when longer than
 * `max` characters its first `max` and the length.
 *
 * @example
 * ```ts
 * quoteInput('zzzzzz', 4); // "'zzzz…' (6 characters)"
 * ```
 */
export function quoteInput(text: string, max = 40): string {
  const quoted = `'${shortText(text, max)}'`;
  return text.length > max ? `${quoted} (${text.length} characters)` : quoted;
}
