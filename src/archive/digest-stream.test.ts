import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { isFailedPrecondition } from '../core/errdefs/index.js';
import { DigestStream } from './digest-stream.js';

async function* chunks(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* parts;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('DigestStream', () => {
  it('passes bytes through and exposes their sha256 and size at the end', async () => {
    const a = Buffer.from('hello ');
    const b = new Uint8Array(Buffer.from('world'));
    const ds = new DigestStream(chunks(a, b, new Uint8Array(0)));
    assert.equal(ds.done, false);
    assert.throws(() => ds.digest, isFailedPrecondition);
    const seen: Buffer[] = [];
    for await (const c of ds) {
      assert.ok(Buffer.isBuffer(c));
      seen.push(c);
      assert.throws(() => ds.digest, /not read to its end/);
    }
    assert.deepEqual(Buffer.concat(seen), Buffer.from('hello world'));
    assert.equal(ds.done, true);
    assert.equal(ds.size, 11);
    assert.equal(ds.digest, sha256(Buffer.from('hello world')));
  });

  it('has the digest of the empty stream for no bytes', async () => {
    const ds = new DigestStream(chunks());
    for await (const _ of ds);
    assert.equal(
      ds.digest,
      'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    assert.equal(ds.size, 0);
  });

  it('gives no digest when the consumer stops early or the source fails, and reads once', async () => {
    const early = new DigestStream(chunks(Buffer.from('a'), Buffer.from('b')));
    for await (const _ of early) break;
    assert.equal(early.size, 1);
    assert.equal(early.done, false);
    assert.throws(() => early.digest, isFailedPrecondition);

    const boom = new Error('boom');
    async function* failing() {
      yield Buffer.from('a');
      throw boom;
    }
    const failed = new DigestStream(failing());
    await assert.rejects(
      async () => {
        for await (const _ of failed);
      },
      (err) => err === boom,
    );
    assert.equal(failed.done, false);

    const once = new DigestStream(chunks(Buffer.from('a')));
    for await (const _ of once);
    await assert.rejects(async () => {
      for await (const _ of once);
    }, /already read/);
  });
});
