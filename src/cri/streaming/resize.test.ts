import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { nullLogger } from '../../core/log/index.js';
import { parseTermSize, readResizeStream, TermSizeQueue } from './resize.js';
import type { TermSize } from './types.js';

async function collect(q: TermSizeQueue): Promise<TermSize[]> {
  const out: TermSize[] = [];
  for await (const s of q) out.push(s);
  return out;
}

describe('terminal resize', () => {
  it('parses sizes as Go decodes TerminalSize', () => {
    assert.deepEqual(parseTermSize('{"Width":80,"Height":24}'), { width: 80, height: 24 });
    assert.deepEqual(parseTermSize('{"width":1,"HEIGHT":2,"other":3}'), { width: 1, height: 2 });
    assert.deepEqual(parseTermSize('{}'), { width: 0, height: 0 });
    assert.equal(parseTermSize('[1,2]'), undefined);
    assert.equal(parseTermSize('{"Width":'), undefined);
  });

  it('reads one JSON object per line, split anywhere, and ends with the stream', async () => {
    const stream = new PassThrough();
    const q = new TermSizeQueue();
    readResizeStream(stream, q, nullLogger);
    const got = collect(q);
    stream.write('{"Width":80,"Hei');
    await new Promise((r) => setImmediate(r));
    stream.write('ght":24}\n');
    await new Promise((r) => setImmediate(r));
    stream.write('{"Width":100,"Height":40}\n{"Width":1');
    await new Promise((r) => setImmediate(r));
    stream.end('20,"Height":50}');
    assert.deepEqual(await got, [
      { width: 80, height: 24 },
      { width: 100, height: 40 },
      { width: 120, height: 50 },
    ]);
  });

  it('keeps only the latest size a slow reader has not taken', async () => {
    const q = new TermSizeQueue();
    for (let i = 1; i <= 1000; i++) q.push({ width: i, height: i });
    q.end();
    assert.deepEqual(await collect(q), [{ width: 1000, height: 1000 }]);
  });

  it('drops a resize stream that sends garbage', async () => {
    const stream = new PassThrough();
    const q = new TermSizeQueue();
    readResizeStream(stream, q, nullLogger);
    stream.write('{"Width":5,"Height":6}\nnot json\n');
    assert.deepEqual(await collect(q), [{ width: 5, height: 6 }]);
    assert.ok(stream.destroyed);
  });
});
