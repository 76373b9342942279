import { describe, expect, it } from 'vitest';
import { lexTranscript, splitCommand, stripAnnotation } from '../../src/dumps/transcript/lexer.ts';

describe('lexTranscript', () => {
  it.each([
    ['1: kd> ub 80a5d8fc l10', { debugger: 'kd', thread: 1, verb: 'ub', args: '80a5d8fc l10' }],
    ['kd> .bugcheck', { debugger: 'kd', thread: 0, verb: '.bugcheck', args: '' }],
    ['lkd> !process 0 0', { debugger: 'kd', thread: 0, verb: '!process', args: '0 0' }],
    ['0:000> r', { debugger: 'cdb', thread: 0, verb: 'r', args: '' }],
    ['0:023> ?? @$teb', { debugger: 'cdb', thread: 23, verb: '??', args: '@$teb' }],
    ['0:000:x86> dps esp', { debugger: 'cdb', thread: 0, verb: 'dps', args: 'esp', effectiveMachine: 'x86' }],
  ])('reads the prompt %s', (line, expected) => {
    expect(lexTranscript(line).commands[0]).toMatchObject(expected);
  });

  it('gives output lines their 1-based numbers, annotations stripped, CRLF accepted', () => {
    const lexed = lexTranscript('banner\r\n1: kd> dps f78aecac\r\nf78aecac 80a5d8fc hal!HalpIpiHandler+0xcc <<< Interesting?\r\n1: kd>\r\nf78aecb0 f78aecc0\r\n');
    expect(lexed.prompts).toBe(2);
    expect(lexed.preamble).toEqual([{ text: 'banner', line: 1 }]);
    expect(lexed.commands).toHaveLength(1);
    expect(lexed.commands[0]!.line).toBe(2);
    expect(lexed.commands[0]!.output).toEqual([
      { text: 'f78aecac 80a5d8fc hal!HalpIpiHandler+0xcc', line: 3 },
      { text: 'f78aecb0 f78aecc0', line: 5 },
    ]);
  });

  it('strips annotations from commands too', () => {
    expect(lexTranscript('1: kd> dd 80a5b020 l 1 <<< the IPI routine pointer').commands[0]!.text).toBe('dd 80a5b020 l 1');
  });
});

describe('splitCommand / stripAnnotation', () => {
  it('splits verbs without a space', () => {
    expect(splitCommand('?0y0100')).toEqual({ verb: '?', args: '0y0100' });
    expect(splitCommand('!IPI')).toEqual({ verb: '!ipi', args: '' });
    expect(splitCommand('~1s')).toEqual({ verb: '~1s', args: '' });
  });

  it('keeps lines without an annotation whole', () => {
    expect(stripAnnotation('80a5d8e6 0ac0 or al,al   ')).toBe('80a5d8e6 0ac0 or al,al');
  });
});
