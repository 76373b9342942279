/**
 * Input quoted in messages: control characters escaped, long values cut to
 * their start and length, and error lines built from a hostile transcript
 * short and on one line.
 */
import { describe, expect, it } from 'vitest';
import { escapeControl, quoteInput, shortText } from '../../src/quote.ts';
import { loadTranscript } from '../../src/dumps/transcript/loader.ts';
import { DumpFormatError } from '../../src/dumps/errors.ts';
import { describeError } from '../../src/cli/errors.ts';

/** The one line the CLI prints for loading `text`. */
function errorLine(text: string): string {
  try {
    loadTranscript('hostile.txt', text);
  } catch (error) {
    expect(error).toBeInstanceOf(DumpFormatError);
    return describeError(error).line;
  }
  throw new Error('expected a DumpFormatError');
}

describe('quoteInput', () => {
  it('quotes short text as it is', () => {
    expect(quoteInput('8082e3e0')).toBe("'8082e3e0'");
  });

  it('cuts long text to its first characters and states the length', () => {
    expect(quoteInput('z'.repeat(200_000))).toBe(`'${'z'.repeat(40)}…' (200000 characters)`);
    expect(quoteInput('abcdef', 4)).toBe("'abcd…' (6 characters)");
  });

  it('escapes CR, LF, tab, ESC, DEL, C1 controls and the Unicode line separator', () => {
    expect(escapeControl('a\r\nb\tc\u001b[2Jd\u007fe\u009bf\u2028g')).toBe('a\\r\\nb\\tc\\x1b[2Jd\\x7fe\\x9bf\\u2028g');
    expect(shortText('\u0000\u0001', 40)).toBe('\\x00\\x01');
  });
});

describe('error lines from hostile transcripts', () => {
  it('a 200 000-character register value: its start and length, not the value', () => {
    const line = errorLine(`1: kd> r\neax=${'z'.repeat(200_000)}\nebx=0\n`);
    expect(line).toBe(`hostile.txt:2: Register eax has value '${'z'.repeat(40)}…' (200000 characters), which is not hex`);
  });

  it('a 200 000-character bugcheck code: under 200 characters', () => {
    const line = errorLine(`1: kd> .bugcheck\nBugcheck code ${'q'.repeat(200_000)}\n`);
    expect(line.length).toBeLessThan(200);
    expect(line).toContain('(200000 characters)');
  });

  it('control characters in a register line stay escaped on one line', () => {
    const line = errorLine('1: kd> r\neax=1\u001b[2J\u0007 ebx=0\n');
    expect(line).toBe("hostile.txt:2: Register eax has value '1\\x1b[2J\\x07', which is not hex");
  });

  it('every error line is escaped and at most 300 characters, even from a message that quotes nothing short', () => {
    const line = describeError(new DumpFormatError('dump', 'x.dmp', `bad ${'y'.repeat(10_000)}\r\nsecond line`)).line;
    expect(line.length).toBeLessThanOrEqual(300);
    expect(line).not.toMatch(/[\r\n]/);
    expect(line.endsWith('\\r\\nsecond line')).toBe(true);
  });
});
