import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlobTee, HIGH_WATER } from './blob-tee.js';

const noFallback = {
  committed: () => Promise.reject(new Error('no fallback expected')),
  read: () => {
    throw new Error('no fallback expected');
  },
};

async function* chunksOf(...bufs: Buffer[]): AsyncGenerator<Buffer> {
  for (const b of bufs) {
    await new Promise((r) => setImmediate(r));
    yield b;
  }
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out);
}

describe('BlobTee', () => {
  it('gives the consumer every byte the producer passes through, in order', async () => {
    const tee = new BlobTee(noFallback);
    const parts = [Buffer.from('abc'), Buffer.from('def'), Buffer.from('g')];
    const [written, read] = await Promise.all([
      collect(tee.pipe(chunksOf(...parts))),
      collect(tee.read()),
    ]);
    assert.equal(written.toString(), 'abcdefg');
    assert.equal(read.toString(), 'abcdefg');
  });

  it('falls back to the committed blob when no bytes will come', async () => {
    let committed = false;
    const tee = new BlobTee({
      committed: async () => {
        await new Promise((r) => setTimeout(r, 10));
        committed = true;
      },
      read: () => chunksOf(Buffer.from('from the store')),
    });
    const reading = collect(tee.read());
    tee.fallback();
    assert.equal((await reading).toString(), 'from the store');
    assert.ok(committed, 'read only after the commit');
  });

  it("fails the consumer with the download's error", async () => {
    const tee = new BlobTee(noFallback);
    const reading = collect(tee.read());
    async function* broken(): AsyncGenerator<Buffer> {
      yield Buffer.from('x');
      throw new Error('connection reset by the registry');
    }
    await assert.rejects(collect(tee.pipe(broken())), /connection reset/);
    tee.fail(new Error('connection reset by the registry'));
    await assert.rejects(reading, /connection reset/);
  });

  it('a fallback after bytes were pushed fails the consumer (the download restarted)', async () => {
    const tee = new BlobTee(noFallback);
    const producer = tee.pipe(chunksOf(Buffer.from('abc')));
    await producer.next();
    tee.fallback();
    await assert.rejects(collect(tee.read()), /restarted/);
  });

  it('holds at most HIGH_WATER bytes for a slow consumer, and none once it closes', async () => {
    const tee = new BlobTee(noFallback);
    const chunk = Buffer.alloc(1 << 20);
    const n = (HIGH_WATER >> 20) * 3;
    let passed = 0;
    const producing = (async () => {
      for await (const _ of tee.pipe(chunksOf(...Array.from({ length: n }, () => chunk)))) passed++;
    })();
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(passed <= (HIGH_WATER >> 20) + 1, `the producer waited: ${passed} chunks passed`);
    tee.close(); // the consumer will not read: the download goes on without it
    await producing;
    assert.equal(passed, n);
  });

  it('is read once', async () => {
    const tee = new BlobTee(noFallback);
    await Promise.all([collect(tee.pipe(chunksOf(Buffer.from('a')))), collect(tee.read())]);
    await assert.rejects(collect(tee.read()), /read once/);
  });
});
