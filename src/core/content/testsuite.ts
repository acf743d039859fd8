/**
 * The content store conformance suite: one set of cases for every
 * {@link ContentStore} (the local files, the namespaced metadata store, the
 * gRPC service through a real socket). It uses only the interface and the
 * context it is given, and it behaves as containerd does where the contract
 * leaves room. Register it from a test file:
 *
 * ```ts
 * contentSuite('local', async () => ({ store, ctx, cleanup }), { labels: false });
 * ```
 *
 * Each case gets a fresh fixture. Refs and blob contents are random, so the
 * cases also hold on a store that is not empty.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type ErrorKind, kindOf } from '../errdefs/index.js';
import type { OpContext } from '../namespaces/index.js';
import type { ContentStore, ReadOptions, Writer } from './types.js';

export interface ContentSuiteFixture {
  store: ContentStore;
  /** The context every call is made with (namespace, lease, signal, log). */
  ctx: OpContext;
  /** Releases the fixture, including stores returned by `reopen`. */
  cleanup(): Promise<void>;
  /**
   * A new store instance on the same state, as after a daemon restart (all
   * writers of the old one are closed first). Without it the restart case is
   * skipped.
   */
  reopen?(): Promise<ContentStore>;
}

export interface ContentSuiteCaps {
  /** The store keeps labels (commit labels, `update`, `labels.*` filters). */
  labels: boolean;
}

const MiB = 1 << 20;

export function contentSuite(
  name: string,
  make: () => Promise<ContentSuiteFixture>,
  caps: ContentSuiteCaps,
): void {
  describe(`content store conformance: ${name}`, () => {
    let fx: ContentSuiteFixture;
    let store: ContentStore;
    let ctx: OpContext;
    /** A ref unique to this run, so that cases hold on a shared store. */
    let prefix: string;
    const ref = (suffix: string) => `${prefix}-${suffix}`;

    beforeEach(async () => {
      fx = await make();
      store = fx.store;
      ctx = fx.ctx;
      prefix = `conformance-${randomBytes(6).toString('hex')}`;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('writes in chunks, commits, and reads back whole and by range', async () => {
      const data = randomBytes(5 * MiB + 123);
      const digest = sha256(data);
      const w = await store.writer(ctx, { ref: ref('a'), total: data.length });
      assert.equal(w.ref, ref('a'));
      let st = await w.status();
      assert.equal(st.ref, ref('a'));
      assert.equal(st.offset, 0);
      assert.equal(st.total, data.length);
      const cuts = [0, MiB, 4 * MiB, data.length];
      for (let i = 1; i < cuts.length; i++) {
        await w.write(data.subarray(cuts[i - 1], cuts[i]));
        st = await w.status();
        assert.equal(st.offset, cuts[i]);
      }
      assert.equal((await store.status(ctx, ref('a'))).offset, data.length);
      assert.equal(w.digest(), digest);
      assert.equal(await w.commit(data.length, digest), digest);
      assert.equal(w.digest(), digest);

      const info = await store.info(ctx, digest);
      assert.equal(info.digest, digest);
      assert.equal(info.size, data.length);
      assert.deepEqual(info.labels, {});
      assert.ok(info.createdAt > 0n);
      assert.ok(info.updatedAt >= info.createdAt);

      const chunks = await readChunks(store, ctx, digest);
      assert.ok(chunks.length > 1, 'a 5 MiB blob is read in several chunks');
      assert.ok(Buffer.concat(chunks).equals(data));

      const ranges: ReadonlyArray<[ReadOptions, number, number]> = [
        [{ offset: 10, size: 100 }, 10, 110],
        [{ offset: data.length - 5 }, data.length - 5, data.length],
        [{ offset: 3 * MiB + 7, size: 0 }, 3 * MiB + 7, data.length],
        [{ offset: 5, size: data.length * 2 }, 5, data.length],
        [{ offset: MiB - 1, size: MiB + 2 }, MiB - 1, 2 * MiB + 1],
        [{ offset: data.length }, data.length, data.length],
      ];
      for (const [opts, from, to] of ranges) {
        const got = await readAll(store, ctx, digest, opts);
        assert.ok(got.equals(data.subarray(from, to)), `read ${JSON.stringify(opts)}`);
      }
      await rejectsWith(readAll(store, ctx, digest, { offset: data.length + 1 }), 'out_of_range');

      await rejectsWith(store.status(ctx, ref('a')), 'not_found');
      assert.deepEqual(await store.listStatuses(ctx, [`ref==${ref('a')}`]), []);
      const listed = await store.list(ctx, [`digest==${digest}`]);
      assert.deepEqual(
        listed.map((i) => [i.digest, i.size]),
        [[digest, data.length]],
      );
      assert.ok((await store.list(ctx)).some((i) => i.digest === digest));
    });

    it('commits without an expected digest or size', async () => {
      const data = randomBytes(1000);
      const w = await store.writer(ctx, { ref: ref('plain') });
      await w.write(data);
      assert.equal(await w.commit(0), sha256(data));
      assert.ok((await readAll(store, ctx, sha256(data))).equals(data));
    });

    it('resumes an ingest after close, from its offset and with its hash', async () => {
      const data = randomBytes(3 * MiB + 17);
      const digest = sha256(data);
      const half = 2 * MiB + 5;
      const w1 = await store.writer(ctx, { ref: ref('r'), total: data.length, expected: digest });
      await w1.write(data.subarray(0, half));
      await w1.close();

      const st = await store.status(ctx, ref('r'));
      assert.equal(st.ref, ref('r'));
      assert.equal(st.offset, half);
      assert.equal(st.total, data.length);
      assert.ok(st.startedAt > 0n);
      assert.ok(st.updatedAt >= st.startedAt);

      const w2 = await store.writer(ctx, { ref: ref('r'), total: data.length, expected: digest });
      const resumed = await w2.status();
      assert.equal(resumed.offset, half);
      assert.equal(resumed.total, data.length);
      assert.equal(w2.digest(), sha256(data.subarray(0, half)));
      await w2.write(data.subarray(half));
      assert.equal(await w2.commit(data.length, digest), digest);
      assert.ok((await readAll(store, ctx, digest)).equals(data));
      await rejectsWith(store.status(ctx, ref('r')), 'not_found');
    });

    it('resumes an ingest on a reopened store (restart)', async (t) => {
      if (fx.reopen === undefined) {
        t.skip('the fixture cannot reopen its store');
        return;
      }
      const data = randomBytes(2 * MiB + 3);
      const digest = sha256(data);
      const part = MiB + 1;
      const w1 = await store.writer(ctx, { ref: ref('restart'), total: data.length });
      await w1.write(data.subarray(0, part));
      await w1.close();

      const reopened = await fx.reopen();
      assert.equal((await reopened.status(ctx, ref('restart'))).offset, part);
      const w2 = await reopened.writer(ctx, { ref: ref('restart'), total: data.length });
      assert.equal((await w2.status()).offset, part);
      assert.equal(w2.digest(), sha256(data.subarray(0, part)));
      await w2.write(data.subarray(part));
      assert.equal(await w2.commit(data.length, digest), digest);
      assert.ok((await readAll(reopened, ctx, digest)).equals(data));
    });

    it('allows one writer per ref', async () => {
      const w1 = await store.writer(ctx, { ref: ref('lock') });
      await rejectsWith(store.writer(ctx, { ref: ref('lock') }), 'unavailable', [
        ref('lock'),
        'locked',
      ]);
      const other = await store.writer(ctx, { ref: ref('other') });
      await other.close();

      // Racing writers: exactly one wins.
      const race = await Promise.allSettled([
        store.writer(ctx, { ref: ref('race') }),
        store.writer(ctx, { ref: ref('race') }),
      ]);
      const won = race.filter((r) => r.status === 'fulfilled');
      const lost = race.filter((r) => r.status === 'rejected');
      assert.equal(won.length, 1);
      assert.equal(lost.length, 1);
      assert.equal(kindOf(lost[0]?.reason), 'unavailable');
      await (won[0] as PromiseFulfilledResult<Writer>).value.close();

      // close releases the ref, and so does commit.
      await w1.close();
      const w2 = await store.writer(ctx, { ref: ref('lock') });
      await w2.write(Buffer.from('locked once'));
      await w2.commit(0);
      const w3 = await store.writer(ctx, { ref: ref('lock') });
      assert.equal((await w3.status()).offset, 0);
      await w3.close();

      for (const r of ['lock', 'other', 'race']) await store.abort(ctx, ref(r));
    });

    it('refuses a commit with the wrong digest and keeps the ingest', async () => {
      const data = randomBytes(4096);
      const actual = sha256(data);
      const wrong = sha256(Buffer.from('something else'));
      const w = await store.writer(ctx, { ref: ref('bad-digest') });
      await w.write(data);
      await rejectsWith(w.commit(data.length, wrong), 'failed_precondition', [actual, wrong]);
      await rejectsWith(store.info(ctx, actual), 'not_found');
      await rejectsWith(store.info(ctx, wrong), 'not_found');
      assert.ok(!(await store.list(ctx)).some((i) => i.digest === actual || i.digest === wrong));
      // As containerd: the ingest stays, and the failed commit released the ref.
      assert.equal((await store.status(ctx, ref('bad-digest'))).offset, data.length);
      const again = await store.writer(ctx, { ref: ref('bad-digest') });
      assert.equal((await again.status()).offset, data.length);
      assert.equal(await again.commit(data.length, actual), actual);
    });

    it('refuses a commit with the wrong size and keeps the ingest', async () => {
      const data = randomBytes(3);
      const w = await store.writer(ctx, { ref: ref('bad-size') });
      await w.write(data);
      await rejectsWith(w.commit(4), 'failed_precondition', ['3', '4']);
      await rejectsWith(store.info(ctx, sha256(data)), 'not_found');
      assert.equal((await store.status(ctx, ref('bad-size'))).offset, 3);
      const again = await store.writer(ctx, { ref: ref('bad-size') });
      await rejectsWith(again.commit(2, sha256(data)), 'failed_precondition', ['3', '2']);
      await store.abort(ctx, ref('bad-size'));
    });

    it('answers already_exists for a committed blob, on writer and on commit', async () => {
      const data = randomBytes(2048);
      const digest = await put(store, ctx, ref('first'), data);

      await rejectsWith(
        store.writer(ctx, { ref: ref('second'), expected: digest, total: data.length }),
        'already_exists',
      );

      const w = await store.writer(ctx, { ref: ref('third') });
      await w.write(data);
      await rejectsWith(w.commit(data.length, digest), 'already_exists');
      // As containerd: the ingest is removed and the ref released.
      await rejectsWith(store.status(ctx, ref('third')), 'not_found');
      const again = await store.writer(ctx, { ref: ref('third') });
      assert.equal((await again.status()).offset, 0);
      await again.close();
      await store.abort(ctx, ref('third'));

      assert.equal((await store.info(ctx, digest)).size, data.length);
      assert.ok((await readAll(store, ctx, digest)).equals(data));
    });

    it('aborts ingests', async () => {
      const w = await store.writer(ctx, { ref: ref('abort'), total: 10 });
      await w.write(Buffer.from('01234'));
      await w.close();
      await store.abort(ctx, ref('abort'));
      await rejectsWith(store.status(ctx, ref('abort')), 'not_found');
      assert.deepEqual(await store.listStatuses(ctx, [`ref==${ref('abort')}`]), []);
      await rejectsWith(store.abort(ctx, ref('abort')), 'not_found');

      const fresh = await store.writer(ctx, { ref: ref('abort') });
      assert.equal((await fresh.status()).offset, 0);
      assert.equal(fresh.digest(), sha256(Buffer.alloc(0)));
      await fresh.close();
      await store.abort(ctx, ref('abort'));
    });

    it('lists ingests, filtered by ref', async () => {
      const writers: Writer[] = [];
      for (const [suffix, size] of [
        ['a', 1],
        ['b', 2],
        ['c', 3],
      ] as const) {
        const w = await store.writer(ctx, { ref: ref(suffix), total: 10 * size });
        await w.write(Buffer.alloc(size, suffix));
        writers.push(w);
      }
      await writers[2]?.close(); // closed and active ingests both count

      const mine = await store.listStatuses(ctx, [`ref~=^${prefix}-`]);
      assert.deepEqual(mine.map((s) => [s.ref, s.offset, s.total]).sort(), [
        [ref('a'), 1, 10],
        [ref('b'), 2, 20],
        [ref('c'), 3, 30],
      ]);
      for (const s of mine) {
        assert.ok(s.startedAt > 0n && s.updatedAt >= s.startedAt, `times of ${s.ref}`);
      }
      assert.deepEqual(
        (await store.listStatuses(ctx, [`ref==${ref('b')}`])).map((s) => s.ref),
        [ref('b')],
      );
      assert.deepEqual(
        (await store.listStatuses(ctx, [`ref==${ref('a')}`, `ref==${ref('c')}`]))
          .map((s) => s.ref)
          .sort(),
        [ref('a'), ref('c')],
      );
      assert.deepEqual(await store.listStatuses(ctx, [`ref==${ref('none')}`]), []);
      assert.ok((await store.listStatuses(ctx)).length >= 3);
      await rejectsWith(store.listStatuses(ctx, ['ref=="unterminated']), 'invalid_argument');

      for (const w of writers) await w.close();
      for (const s of ['a', 'b', 'c']) await store.abort(ctx, ref(s));
    });

    it('deletes blobs, without disturbing a read in progress', async () => {
      const small = randomBytes(100);
      const digest = await put(store, ctx, ref('del'), small);
      await store.delete(ctx, digest);
      await rejectsWith(store.info(ctx, digest), 'not_found');
      await rejectsWith(readAll(store, ctx, digest), 'not_found');
      await rejectsWith(store.delete(ctx, digest), 'not_found');
      assert.deepEqual(await store.list(ctx, [`digest==${digest}`]), []);

      const big = randomBytes(4 * MiB + 1);
      const bigDigest = await put(store, ctx, ref('del-big'), big);
      const it = store.read(ctx, bigDigest)[Symbol.asyncIterator]();
      const first = await it.next();
      assert.equal(first.done, false);
      const chunks = [Buffer.from(first.value as Buffer)];
      await store.delete(ctx, bigDigest);
      for (let r = await it.next(); !r.done; r = await it.next()) chunks.push(Buffer.from(r.value));
      assert.ok(Buffer.concat(chunks).equals(big), 'the reader saw the whole blob');
      await rejectsWith(store.info(ctx, bigDigest), 'not_found');
    });

    it('answers not_found for unknown blobs and ingests', async () => {
      const missing = sha256(randomBytes(32));
      await rejectsWith(store.info(ctx, missing), 'not_found');
      await rejectsWith(readAll(store, ctx, missing), 'not_found');
      await rejectsWith(store.delete(ctx, missing), 'not_found');
      await rejectsWith(store.status(ctx, ref('missing')), 'not_found');
      await rejectsWith(store.abort(ctx, ref('missing')), 'not_found');
      if (caps.labels) {
        await rejectsWith(store.update(ctx, { digest: missing, labels: {} }), 'not_found');
      }
    });

    it('refuses invalid digests and refs', async () => {
      const bad = [
        'sha256:abc',
        `sha256:${'A'.repeat(64)}`,
        `sha512:${'a'.repeat(128)}`,
        `md5:${'a'.repeat(32)}`,
        'nodigest',
      ];
      for (const digest of bad) {
        await rejectsWith(store.info(ctx, digest), 'invalid_argument', [], digest);
        await rejectsWith(readAll(store, ctx, digest), 'invalid_argument', [], digest);
        await rejectsWith(store.delete(ctx, digest), 'invalid_argument', [], digest);
        await rejectsWith(
          store.writer(ctx, { ref: ref('bad'), expected: digest }),
          'invalid_argument',
          [],
          digest,
        );
      }
      const w = await store.writer(ctx, { ref: ref('bad') });
      await w.write(Buffer.from('x'));
      await rejectsWith(w.commit(1, 'sha256:abc'), 'invalid_argument');
      await rejectsWith(store.info(ctx, sha256(Buffer.from('x'))), 'not_found');
      const again = await store.writer(ctx, { ref: ref('bad') });
      await again.close();
      await store.abort(ctx, ref('bad'));
      await rejectsWith(store.writer(ctx, { ref: '' }), 'invalid_argument');
      await rejectsWith(store.list(ctx, ['digest=="unterminated']), 'invalid_argument');
    });

    it('restarts an ingest on truncate(0)', async () => {
      const w = await store.writer(ctx, { ref: ref('trunc') });
      await w.write(Buffer.from('hello, '));
      await w.write(Buffer.from('world'));
      await w.truncate(0);
      assert.equal((await w.status()).offset, 0);
      assert.equal(w.digest(), sha256(Buffer.alloc(0)));
      assert.equal((await store.status(ctx, ref('trunc'))).offset, 0);
      const data = Buffer.from('again');
      await w.write(data);
      assert.equal(await w.commit(data.length, sha256(data)), sha256(data));
      assert.ok((await readAll(store, ctx, sha256(data))).equals(data));
    });

    it('stores a 0-byte blob', async () => {
      const empty = sha256(Buffer.alloc(0));
      const w = await store.writer(ctx, { ref: ref('empty') });
      assert.equal(w.digest(), empty);
      const committed = await w.commit(0, empty).catch((err: unknown) => {
        // A store shared with other users may hold it already.
        if (kindOf(err) !== 'already_exists') throw err;
        return empty;
      });
      assert.equal(committed, empty);
      const info = await store.info(ctx, empty);
      assert.equal(info.size, 0);
      assert.equal((await readAll(store, ctx, empty)).length, 0);
      assert.deepEqual(await readChunks(store, ctx, empty), []);
      await rejectsWith(readAll(store, ctx, empty, { offset: 1 }), 'out_of_range');
    });

    if (caps.labels) {
      it('keeps and updates labels', async () => {
        const data = randomBytes(64);
        const w = await store.writer(ctx, { ref: ref('labels') });
        await w.write(data);
        const digest = await w.commit(data.length, sha256(data), { labels: { a: '1', b: '2' } });
        assert.deepEqual((await store.info(ctx, digest)).labels, { a: '1', b: '2' });

        let info = await store.update(ctx, { digest, labels: { c: '3', a: 'x' } }, ['labels.c']);
        assert.deepEqual(info.labels, { a: '1', b: '2', c: '3' });
        info = await store.update(ctx, { digest, labels: {} }, ['labels.a']);
        assert.deepEqual(info.labels, { b: '2', c: '3' });
        info = await store.update(ctx, { digest, labels: { only: 'y' } });
        assert.deepEqual(info.labels, { only: 'y' });
        info = await store.update(ctx, { digest, labels: { z: '9' } }, ['labels']);
        assert.deepEqual(info.labels, { z: '9' });
        assert.deepEqual((await store.info(ctx, digest)).labels, { z: '9' });
        await rejectsWith(store.update(ctx, { digest, labels: {} }, ['size']), 'invalid_argument');
        assert.deepEqual(
          (await store.list(ctx, [`labels.z==9,digest==${digest}`])).map((i) => i.digest),
          [digest],
        );
        assert.deepEqual(await store.list(ctx, [`labels.z==8,digest==${digest}`]), []);
      });
    } else {
      it('refuses label updates (the store keeps no labels)', async () => {
        const data = randomBytes(64);
        const digest = await put(store, ctx, ref('nolabels'), data);
        await rejectsWith(store.update(ctx, { digest, labels: { a: '1' } }), 'not_implemented');
        assert.deepEqual((await store.info(ctx, digest)).labels, {});
      });
    }
  });
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function put(store: ContentStore, ctx: OpContext, ref: string, data: Buffer) {
  const digest = sha256(data);
  const w = await store.writer(ctx, { ref, total: data.length, expected: digest });
  await w.write(data);
  return w.commit(data.length, digest);
}

async function readChunks(
  store: ContentStore,
  ctx: OpContext,
  digest: string,
  opts?: ReadOptions,
): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of store.read(ctx, digest, opts)) {
    chunks.push(Buffer.from(chunk));
  }
  return chunks;
}

async function readAll(store: ContentStore, ctx: OpContext, digest: string, opts?: ReadOptions) {
  return Buffer.concat(await readChunks(store, ctx, digest, opts));
}

/** Asserts that `promise` rejects with `kind`, its message holding each of `includes`. */
async function rejectsWith(
  promise: Promise<unknown>,
  kind: ErrorKind,
  includes: readonly string[] = [],
  doc = '',
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.equal(kindOf(err), kind, `${doc} ${String(err)}`.trim());
    const message = err instanceof Error ? err.message : String(err);
    for (const text of includes) {
      assert.ok(message.includes(text), `${JSON.stringify(message)} names ${text}`);
    }
    return true;
  });
}
