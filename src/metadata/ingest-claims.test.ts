import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCanceled } from '../core/errdefs/index.js';
import { IngestClaims } from './ingest-claims.js';

const D = `sha256:${'d'.repeat(64)}`;
const E = `sha256:${'e'.repeat(64)}`;
const live = () => new AbortController().signal;

/** Whether `p` has settled after pending callbacks ran. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await new Promise((r) => setImmediate(r));
  return done;
}

describe('IngestClaims', () => {
  it('shares a digest among writers of one ref and queues other refs in order', async () => {
    const claims = new IngestClaims();
    const a1 = await claims.acquire(D, 'a/r', live());
    const a2 = await claims.acquire(D, 'a/r', live());
    const b = claims.acquire(D, 'b/r', live());
    const c = claims.acquire(D, 'c/r', live());
    assert.equal(await settled(b), false);
    assert.equal(claims.waiting(D), 2);
    a1.release();
    assert.equal(await settled(b), false, 'a/r still holds it through its other writer');
    a2.release();
    a2.release(); // idempotent: does not hand over twice
    const bc = await b;
    assert.equal(bc.ref, 'b/r');
    assert.equal(claims.holder(D), 'b/r');
    assert.equal(await settled(c), false);
    bc.release();
    (await c).release();
    assert.equal(claims.holder(D), undefined);
  });

  it('grants the waiters of one ref together when that ref takes over', async () => {
    const claims = new IngestClaims();
    const a = await claims.acquire(D, 'a/r', live());
    const b1 = claims.acquire(D, 'b/r', live());
    const c = claims.acquire(D, 'c/r', live());
    const b2 = claims.acquire(D, 'b/r', live());
    a.release();
    const [x, y] = await Promise.all([b1, b2]);
    assert.equal(await settled(c), false);
    assert.equal(claims.waiting(D), 1);
    x.release();
    assert.equal(await settled(c), false);
    y.release();
    (await c).release();
  });

  it('keeps digests apart', async () => {
    const claims = new IngestClaims();
    const a = await claims.acquire(D, 'a/r', live());
    const other = await claims.acquire(E, 'b/r', live());
    assert.equal(claims.holder(E), 'b/r');
    a.release();
    other.release();
  });

  it('releases what an aborted ref holds', async () => {
    const claims = new IngestClaims();
    const a = await claims.acquire(D, 'a/r', live());
    const b = claims.acquire(D, 'b/r', live());
    claims.releaseRef('a/r');
    assert.equal((await b).ref, 'b/r');
    a.release(); // the writer's own close later changes nothing
    assert.equal(claims.holder(D), 'b/r');
  });

  it('drops a waiter whose signal aborts, and refuses an aborted signal at once', async () => {
    const claims = new IngestClaims();
    const a = await claims.acquire(D, 'a/r', live());
    const ac = new AbortController();
    const b = claims.acquire(D, 'b/r', ac.signal);
    ac.abort();
    await assert.rejects(b, isCanceled);
    await assert.rejects(b, /waiting for ingest "a\/r" to finish writing/);
    assert.equal(claims.waiting(D), 0);
    await assert.rejects(claims.acquire(E, 'c/r', AbortSignal.abort()), isCanceled);
    assert.equal(claims.holder(E), undefined);
    a.release();
    assert.equal(claims.holder(D), undefined);
  });
});
