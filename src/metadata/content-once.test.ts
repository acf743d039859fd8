import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { LocalContentStore } from '../content/index.js';
import type { Writer } from '../core/content/index.js';
import {
  isAlreadyExists,
  isCanceled,
  isFailedPrecondition,
  isNotFound,
} from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { MetadataContentStore } from './content.js';
import { MetadataDB } from './db.js';
import { SqliteLeaseManager } from './leases.js';

const ctxIn = (namespace: string, lease?: string, signal?: AbortSignal): OpContext => ({
  namespace,
  ...(lease !== undefined && { lease }),
  signal: signal ?? new AbortController().signal,
  log: nullLogger,
});
const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const noGc = { schedule: () => {}, collect: async () => ({ removed: {}, pauseNanos: 0n }) };

/** A promise's state without waiting for it. */
function track<T>(p: Promise<T>): { settled: () => boolean; promise: Promise<T> } {
  let settled = false;
  p.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  return { settled: () => settled, promise: p };
}

/** Lets pending I/O and promise callbacks run, so a writer that would not wait has opened. */
const settle = () => sleep(50);

describe('MetadataContentStore: a blob being written is written once', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let store: MetadataContentStore;
  let leases: SqliteLeaseManager;
  const data = randomBytes(256 * 1024);
  const digest = digestOf(data);
  const open = (ns: string, ref = `layer-${digest}`, lease?: string, signal?: AbortSignal) =>
    store.writer(ctxIn(ns, lease, signal), { ref, total: data.length, expected: digest });
  const resources = async (ns: string, id: string) =>
    (await leases.listResources(ctxIn(ns), id)).map((r) => `${r.type}:${r.id}`).sort();

  beforeEach(() => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    store = new MetadataContentStore(mdb, new LocalContentStore(join(dir.path, 'content')));
    leases = new SqliteLeaseManager(mdb, noGc);
  });
  afterEach(() => {
    mdb.close();
    dir.remove();
  });

  async function writeAll(w: Writer): Promise<string> {
    await w.write(data.subarray(0, 1000));
    await w.write(data.subarray(1000));
    return w.commit(data.length, digest);
  }

  it('makes a second namespace wait, then answers already_exists with the blob there and leased', async () => {
    await leases.create(ctxIn('a'), { id: 'pull-a' });
    const first = await open('a', undefined, 'pull-a');
    await first.write(data.subarray(0, 1000));
    await leases.create(ctxIn('b'), { id: 'pull-b' });
    const second = track(open('b', undefined, 'pull-b'));
    await settle();
    assert.equal(second.settled(), false, 'the second writer waits');
    assert.equal(store.claims.waiting(digest), 1);
    // Waiting leaves no trace in the waiter's namespace.
    assert.deepEqual(await store.listStatuses(ctxIn('b')), []);
    assert.deepEqual(await resources('b', 'pull-b'), []);

    await first.write(data.subarray(1000));
    assert.equal(await first.commit(data.length, digest), digest);
    await assert.rejects(second.promise, isAlreadyExists);
    assert.equal((await store.info(ctxIn('b'), digest)).size, data.length);
    assert.deepEqual(await resources('b', 'pull-b'), [`content:${digest}`]);
    assert.deepEqual(await store.listStatuses(ctxIn('b')), []);
    assert.equal(store.claims.holder(digest), undefined);
  });

  it('lets a waiter write when the first writer closes without committing', async () => {
    const first = await open('a');
    await first.write(data.subarray(0, 1000));
    const second = track(open('b'));
    await settle();
    assert.equal(second.settled(), false);
    await first.close();
    const w = await second.promise;
    assert.equal((await w.status()).offset, 0, 'the waiter starts its own ingest');
    assert.equal(await writeAll(w), digest);
    assert.equal((await store.info(ctxIn('b'), digest)).size, data.length);
    await assert.rejects(store.info(ctxIn('a'), digest), isNotFound);
    // The first namespace's ingest stays, resumable; naming the digest now finds it committed.
    assert.equal((await store.status(ctxIn('a'), `layer-${digest}`)).offset, 1000);
    await assert.rejects(open('a'), isAlreadyExists);
  });

  it('lets a waiter write when the first ingest is aborted under its open writer', async () => {
    const first = await open('a');
    await first.write(data.subarray(0, 1000));
    const second = track(open('b'));
    await settle();
    assert.equal(second.settled(), false);
    await store.abort(ctxIn('a'), `layer-${digest}`);
    const w = await second.promise;
    assert.equal(await writeAll(w), digest);
    // The aborted writer cannot commit; closing it later changes nothing.
    await assert.rejects(first.commit(1000), isNotFound);
    await first.close();
    assert.equal(store.claims.holder(digest), undefined);
  });

  it('lets a waiter write when the first commit fails', async () => {
    const first = await open('a');
    await first.write(Buffer.from('not the expected bytes'));
    const second = track(open('b'));
    await settle();
    await assert.rejects(first.commit(0, digest), isFailedPrecondition);
    assert.equal(await writeAll(await second.promise), digest);
  });

  it('stops waiting when the waiter gives up, leaving nothing behind', async () => {
    const first = await open('a');
    await leases.create(ctxIn('b'), { id: 'pull-b' });
    const ac = new AbortController();
    const second = track(open('b', undefined, 'pull-b', ac.signal));
    await settle();
    assert.equal(second.settled(), false);
    ac.abort();
    await assert.rejects(second.promise, isCanceled);
    assert.equal(store.claims.waiting(digest), 0);
    assert.deepEqual(await store.listStatuses(ctxIn('b')), []);
    assert.deepEqual(await resources('b', 'pull-b'), []);
    // The first writer is unaffected.
    assert.equal(await writeAll(first), digest);
    await assert.rejects(store.info(ctxIn('b'), digest), isNotFound);
    // An already aborted signal does not even queue.
    await assert.rejects(open('c', undefined, undefined, AbortSignal.abort()), isCanceled);
  });

  it('does not make a writer of the same ref wait on its own ingest', async () => {
    const first = await open('a');
    await first.write(data.subarray(0, 1000));
    // A client reopening its ref before the server closed the first writer:
    // the ref lock hands over when the first closes, no wait on the digest.
    const reopened = track(open('a'));
    await settle();
    await first.close();
    const w = await reopened.promise;
    assert.equal((await w.status()).offset, 1000, 'it resumes');
    // The resumed writer holds the digest for its ref: another namespace waits on it.
    assert.equal(store.claims.holder(digest), `a/layer-${digest}`);
    const other = track(open('b'));
    await settle();
    assert.equal(other.settled(), false);
    await w.write(data.subarray(1000));
    assert.equal(await w.commit(data.length, digest), digest);
    await assert.rejects(other.promise, isAlreadyExists);
  });

  it('leases the blob for a writer of the same ref that finds it committed when the ref is handed over', async () => {
    const first = await open('a');
    await leases.create(ctxIn('a'), { id: 'second-pull' });
    const second = track(open('a', undefined, 'second-pull'));
    await settle();
    assert.equal(await writeAll(first), digest);
    await assert.rejects(second.promise, isAlreadyExists);
    assert.ok((await resources('a', 'second-pull')).includes(`content:${digest}`));
  });

  it('resumes a closed ingest of the same ref at once', async () => {
    const first = await open('a');
    await first.write(data.subarray(0, 1000));
    await first.close();
    const w = await open('a');
    assert.equal((await w.status()).offset, 1000);
    await w.write(data.subarray(1000));
    assert.equal(await w.commit(data.length, digest), digest);
  });

  it('queues three waiters: one takes over when the writer lets go, the rest find its blob', async () => {
    const first = await open('a');
    const waiters = ['b', 'c', 'd'].map((ns) => track(open(ns)));
    await settle();
    assert.equal(store.claims.waiting(digest), 3);
    await first.close();
    const b = await waiters[0]!.promise;
    await settle();
    assert.equal(waiters[1]!.settled() || waiters[2]!.settled(), false, 'c and d wait for b');
    assert.equal(store.claims.holder(digest), `b/layer-${digest}`);
    assert.equal(await writeAll(b), digest);
    await assert.rejects(waiters[1]!.promise, isAlreadyExists);
    await assert.rejects(waiters[2]!.promise, isAlreadyExists);
    for (const ns of ['b', 'c', 'd']) {
      assert.equal((await store.info(ctxIn(ns), digest)).size, data.length);
    }
    await assert.rejects(store.info(ctxIn('a'), digest), isNotFound);
  });

  it('makes a writer of another ref in the same namespace wait too', async () => {
    const first = await open('a', 'fetch-1');
    const second = track(open('a', 'fetch-2'));
    await settle();
    assert.equal(second.settled(), false);
    assert.equal(await writeAll(first), digest);
    await assert.rejects(second.promise, isAlreadyExists);
  });

  it('does not wait for writers without an expected digest', async () => {
    const first = await open('a');
    const plain = await store.writer(ctxIn('b'), { ref: 'plain' });
    await plain.write(data);
    assert.equal(await plain.commit(data.length, digest), digest);
    // The blob was committed under the first writer: its commit records it in its namespace.
    await first.write(data);
    assert.equal(await first.commit(data.length, digest), digest);
    assert.equal((await store.info(ctxIn('a'), digest)).size, data.length);
  });
});
