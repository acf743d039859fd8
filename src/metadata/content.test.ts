import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { LocalContentStore } from '../content/index.js';
import { contentSuite } from '../core/content/testsuite.js';
import { isAlreadyExists, isFailedPrecondition, isNotFound } from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { MetadataContentStore } from './content.js';
import { MetadataDB } from './db.js';
import { SqliteLeaseManager } from './leases.js';

const ctxIn = (namespace?: string, lease?: string): OpContext => ({
  ...(namespace !== undefined && { namespace }),
  ...(lease !== undefined && { lease }),
  signal: new AbortController().signal,
  log: nullLogger,
});
const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const noGc = { schedule: () => {}, collect: async () => ({ removed: {}, pauseNanos: 0n }) };

contentSuite(
  'metadata (namespaced) over local files',
  async () => {
    const dir = tempDir();
    const open = () => {
      const mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
      return {
        mdb,
        store: new MetadataContentStore(mdb, new LocalContentStore(join(dir.path, 'content'))),
      };
    };
    let current = open();
    return {
      store: current.store,
      ctx: ctxIn('default'),
      cleanup: async () => {
        current.mdb.close();
        dir.remove();
      },
      reopen: async () => {
        current.mdb.close();
        current = open();
        return current.store;
      },
    };
  },
  { labels: true },
);

describe('MetadataContentStore namespaces and leases', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let store: MetadataContentStore;

  beforeEach(() => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    store = new MetadataContentStore(mdb, new LocalContentStore(join(dir.path, 'content')));
  });
  afterEach(() => {
    mdb.close();
    dir.remove();
  });

  async function put(ctx: OpContext, data: Buffer, ref = 'r') {
    const w = await store.writer(ctx, { ref });
    await w.write(data);
    return w.commit(data.length, digestOf(data));
  }

  it('requires a namespace', async () => {
    await assert.rejects(store.list(ctxIn()), isFailedPrecondition);
    await assert.rejects(store.writer(ctxIn(), { ref: 'x' }), isFailedPrecondition);
  });

  it('shows a blob only in namespaces that wrote or named it', async () => {
    const data = Buffer.from('shared bytes');
    const d = await put(ctxIn('a'), data);
    await assert.rejects(store.info(ctxIn('b'), d), isNotFound);
    assert.throws(() => store.read(ctxIn('b'), d), isNotFound);
    // Naming it as expected in b makes it visible there without a write.
    await assert.rejects(store.writer(ctxIn('b'), { ref: 'x', expected: d }), isAlreadyExists);
    assert.equal((await store.info(ctxIn('b'), d)).size, data.length);
    assert.deepEqual(await store.listStatuses(ctxIn('b')), []);
  });

  it('keeps ingests apart per namespace, even with the same ref', async () => {
    const wa = await store.writer(ctxIn('a'), { ref: 'same' });
    const wb = await store.writer(ctxIn('b'), { ref: 'same' });
    await wa.write(Buffer.from('aaaa'));
    await wb.write(Buffer.from('b'));
    assert.equal((await store.status(ctxIn('a'), 'same')).offset, 4);
    assert.equal((await store.status(ctxIn('b'), 'same')).offset, 1);
    assert.deepEqual(
      (await store.listStatuses(ctxIn('a'))).map((s) => s.ref),
      ['same'],
    );
    await wa.close();
    await wb.close();
    await store.abort(ctxIn('a'), 'same');
    await assert.rejects(store.status(ctxIn('a'), 'same'), isNotFound);
    assert.equal((await store.status(ctxIn('b'), 'same')).offset, 1);
  });

  it('adds what a leased call writes to the lease', async () => {
    const leases = new SqliteLeaseManager(mdb, noGc);
    await leases.create(ctxIn('a'), { id: 'pull-1' });
    const w = await store.writer(ctxIn('a', 'pull-1'), { ref: 'layer' });
    await w.write(Buffer.from('leased'));
    const d = await w.commit(6, digestOf(Buffer.from('leased')));
    const res = await leases.listResources(ctxIn('a'), 'pull-1');
    assert.deepEqual(res.map((r) => `${r.type}:${r.id}`).sort(), [`content:${d}`, 'ingests:layer']);
    await assert.rejects(store.writer(ctxIn('a', 'nope'), { ref: 'z' }), isNotFound);
  });

  it('adds a blob the namespace already has to the lease of a writer told it exists', async () => {
    const leases = new SqliteLeaseManager(mdb, noGc);
    const data = Buffer.from('present');
    const w = await store.writer(ctxIn('a'), { ref: 'first' });
    await w.write(data);
    const d = await w.commit(data.length, digestOf(data));
    await leases.create(ctxIn('a'), { id: 'import-1' });
    // Opening a writer for it: ALREADY_EXISTS, and the blob is leased.
    await assert.rejects(
      store.writer(ctxIn('a', 'import-1'), { ref: 'again', expected: d }),
      isAlreadyExists,
    );
    // Committing the same bytes under another ref: the same.
    await leases.create(ctxIn('a'), { id: 'import-2' });
    const w2 = await store.writer(ctxIn('a', 'import-2'), { ref: 'again' });
    await w2.write(data);
    await assert.rejects(w2.commit(data.length, d), isAlreadyExists);
    const resources = async (id: string) =>
      (await leases.listResources(ctxIn('a'), id)).map((r) => `${r.type}:${r.id}`).sort();
    assert.deepEqual(await resources('import-1'), [`content:${d}`]);
    assert.deepEqual(await resources('import-2'), [`content:${d}`, 'ingests:again']);
    // The ingest record of the second writer is gone with its commit.
    await assert.rejects(store.status(ctxIn('a'), 'again'), isNotFound);
  });

  it('records labels given at commit and updates them by field path', async () => {
    const w = await store.writer(ctxIn('a'), { ref: 'l' });
    await w.write(Buffer.from('x'));
    const d = await w.commit(1, undefined, { labels: { a: '1', b: '2' } });
    assert.deepEqual((await store.info(ctxIn('a'), d)).labels, { a: '1', b: '2' });
    await store.update(ctxIn('a'), { digest: d, labels: { a: '', c: '3' } }, [
      'labels.a',
      'labels.c',
    ]);
    assert.deepEqual((await store.info(ctxIn('a'), d)).labels, { b: '2', c: '3' });
    assert.deepEqual(
      (await store.list(ctxIn('a'), ['labels.c==3'])).map((i) => i.digest),
      [d],
    );
    await assert.rejects(
      store.update(ctxIn('a'), { digest: d, labels: {} }, ['size']),
      /cannot update "size"/,
    );
  });
});
