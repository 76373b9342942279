/**
 * Bad input: files that are not transcripts, unreadable files, malformed
 * register lines and bugcheck codes. Each must be a DumpFormatError naming
 * the path and line, never a bare Error.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DumpFormatError } from '../../src/dumps/errors.ts';
import { loadTranscript } from '../../src/dumps/transcript/loader.ts';

const FIXTURE = 'test/fixtures/transcripts/ipi-call-target-bitflip.txt';

function failure(run: () => unknown): DumpFormatError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DumpFormatError);
    return error as DumpFormatError;
  }
  throw new Error('expected a DumpFormatError, got none');
}

describe('loadTranscript on bad input', () => {
  it('rejects a text file that is not a transcript, naming the path and line', () => {
    const error = failure(() => loadTranscript('notes.txt', '\nShopping list\nmilk = 2\n'));
    expect(error.format).toBe('windbg-transcript');
    expect(error.path).toBe('notes.txt');
    expect(error.line).toBe(2);
    expect(error.code).toBe('bad-magic');
    expect(error.message).toContain('notes.txt is not a WinDbg transcript');
    expect(error.message).toContain("'Shopping list'");
    expect(error.describe()).toMatch(/^notes\.txt:2: /);
  });

  it('rejects a binary file on disk (a minidump header)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'faultline-transcript-'));
    try {
      const path = join(dir, 'crash.dmp');
      writeFileSync(path, Buffer.from([0x4d, 0x44, 0x4d, 0x50, 0x93, 0xa7, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00]));
      const error = failure(() => loadTranscript(path));
      expect(error.path).toBe(path);
      expect(error.line).toBe(1);
      expect(error.message).toContain("'MDMP");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects an empty file', () => {
    const error = failure(() => loadTranscript('empty.txt', ''));
    expect(error.message).toContain('empty.txt is empty');
  });

  it('reports a missing file as an io error', () => {
    const error = failure(() => loadTranscript('/nonexistent/faultline/crash.txt'));
    expect(error.code).toBe('io');
    expect(error.message).toContain('ENOENT');
  });

  it('rejects a register value that is not hex, with its line', () => {
    const text = readFileSync(FIXTURE, 'utf8').replace('eip=8082e3e1', 'eip=8082e3g1');
    const error = failure(() => loadTranscript('bad-eip.txt', text));
    expect(error.line).toBe(7);
    expect(error.message).toContain("eip has value '8082e3g1'");
  });

  it('rejects a register line with a stray token, with its line', () => {
    const text = readFileSync(FIXTURE, 'utf8').replace('cs=0008 ss=0010', 'cs=0008 ss 0010');
    const error = failure(() => loadTranscript('bad-ss.txt', text));
    expect(error.line).toBe(8);
    expect(error.message).toContain("Cannot read 'ss'");
  });

  it('rejects a register block mixing x86 and x64 names', () => {
    const error = failure(() => loadTranscript('mixed.txt', '0: kd> r\neax=00000001 rbx=0000000000000002\n'));
    expect(error.line).toBe(2);
    expect(error.message).toContain('mixes x86 (eax) and x64 (rbx)');
  });

  it('rejects a bugcheck code that is not hex', () => {
    const error = failure(() => loadTranscript('bad-code.txt', '1: kd> .bugcheck\nBugcheck code 0000008G\nArguments 0 0 0 0\n'));
    expect(error.line).toBe(2);
    expect(error.message).toContain("'0000008G'");
  });

  it('accepts a pasted register block without any prompt, as r output', () => {
    const dump = loadTranscript('paste.txt', readFileSync(FIXTURE, 'utf8').split('\n').slice(5, 10).join('\n'));
    expect(dump.threads[0]!.contexts[0]!.registers.eip).toBe(0x8082e3e1n);
    expect(dump.symbols.format(0x8082e3e1n)).toBe('nt!KiCheckForKernelApcDelivery+0x37');
    expect(dump.notes[0]!.message).toContain('No prompt');
  });
});
