import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_LINE } from './jsonlog.js';
import { LineSplitter } from './line-splitter.js';

function split(chunks: (string | Buffer)[], end = true): string[] {
  const out: string[] = [];
  const s = new LineSplitter((m) => out.push(m.toString()));
  for (const c of chunks) s.push(Buffer.from(c));
  if (end) s.flush();
  return out;
}

describe('LineSplitter', () => {
  it('cuts at newlines, keeping them, across chunks', () => {
    assert.deepEqual(split(['a\nb', 'c\n\nd']), ['a\n', 'bc\n', '\n', 'd']);
  });

  it('holds an unfinished line until the end of the stream', () => {
    assert.deepEqual(split(['a\nb'], false), ['a\n']);
  });

  it('splits a line longer than 16 KiB into partial messages without newline', () => {
    const long = 'x'.repeat(MAX_LINE * 2 + 5);
    const out = split([`${long}\nnext\n`]);
    assert.deepEqual(
      out.map((m) => m.length),
      [MAX_LINE, MAX_LINE, 6, 5],
    );
    assert.equal(out.slice(0, 3).join(''), `${long}\n`);
    assert.ok(!out[0]?.endsWith('\n'));
  });

  it('a line of exactly 16 KiB is a partial message and a newline, as docker writes it', () => {
    const out = split(['y'.repeat(MAX_LINE - 10), 'y'.repeat(10), '\n']);
    assert.deepEqual(out, ['y'.repeat(MAX_LINE), '\n']);
  });
});
