import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import {
  isAlreadyExists,
  isFailedPrecondition,
  isInvalidArgument,
  isNotFound,
} from '../core/errdefs/index.js';
import type { Image } from '../core/images/index.js';
import { nullLogger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { MetadataDB } from './db.js';
import { SqliteImageStore } from './images.js';
import { SqliteNamespaceStore } from './namespaces.js';

const INDEX = 'application/vnd.oci.image.index.v1+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

function ctx(namespace?: string): OpContext {
  return { namespace, signal: new AbortController().signal, log: nullLogger };
}

function image(name: string, over: Partial<Omit<Image, 'createdAt' | 'updatedAt'>> = {}) {
  return {
    name,
    labels: {},
    target: { mediaType: INDEX, digest: D1, size: 100 },
    ...over,
  };
}

/** Asserts a rejection of the given kind whose message matches `re`. */
async function rejects(p: Promise<unknown>, kind: (e: unknown) => boolean, re: RegExp) {
  await assert.rejects(p, (e: Error) => kind(e) && re.test(e.message));
}

describe('SqliteImageStore', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let store: SqliteImageStore;
  const a = ctx('a');

  beforeEach(() => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    store = new SqliteImageStore(mdb);
  });
  afterEach(() => {
    mdb.close();
    dir.remove();
  });

  it('creates and gets an image with times, labels and annotations', async () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    const created = await store.create(
      a,
      image('docker.io/library/busybox:latest', {
        labels: { k: 'v', empty: '' },
        target: { mediaType: INDEX, digest: D1, size: 1234, annotations: { x: 'y', e: '' } },
      }),
    );
    assert.ok(created.createdAt >= before);
    assert.equal(created.updatedAt, created.createdAt);
    assert.deepEqual(created.labels, { k: 'v' }, 'empty values are not stored');
    assert.deepEqual(created.target, {
      mediaType: INDEX,
      digest: D1,
      size: 1234,
      annotations: { x: 'y' },
    });
    assert.deepEqual(await store.get(a, 'docker.io/library/busybox:latest'), created);
  });

  it('creates the namespace on first create', async () => {
    const namespaces = new SqliteNamespaceStore(mdb);
    assert.equal(namespaces.get('fresh'), undefined);
    await store.create(ctx('fresh'), image('img'));
    assert.ok(namespaces.get('fresh'));
    await assert.rejects(namespaces.delete('fresh'), isFailedPrecondition);
  });

  it('keeps namespaces apart', async () => {
    await store.create(a, image('img'));
    await rejects(store.get(ctx('b'), 'img'), isNotFound, /^image "img"$/);
    assert.deepEqual(await store.list(ctx('b')), []);
    await rejects(store.delete(ctx('b'), 'img'), isNotFound, /image "img"/);
    await store.create(ctx('b'), image('img', { labels: { ns: 'b' } }));
    assert.deepEqual((await store.get(a, 'img')).labels, {});
    assert.deepEqual((await store.get(ctx('b'), 'img')).labels, { ns: 'b' });
  });

  it('requires a valid namespace', async () => {
    await rejects(store.get(ctx(), 'img'), isFailedPrecondition, /namespace is required/);
    await rejects(store.create(ctx(), image('img')), isFailedPrecondition, /namespace/);
    await rejects(store.list(ctx('bad ns')), isInvalidArgument, /namespace validation/);
  });

  it('refuses duplicates and invalid images as containerd does', async () => {
    await store.create(a, image('img'));
    await rejects(store.create(a, image('img')), isAlreadyExists, /^image "img"$/);
    await rejects(store.create(a, image('')), isInvalidArgument, /image name must not be empty/);
    const bad = (target: object) => store.create(a, image('x', { target: target as never }));
    await rejects(
      bad({ mediaType: INDEX, digest: 'nope', size: 1 }),
      isInvalidArgument,
      /^Target\.Digest "nope" invalid: invalid checksum digest format$/,
    );
    await rejects(
      bad({ mediaType: INDEX, digest: `md5:${'a'.repeat(32)}`, size: 1 }),
      isInvalidArgument,
      /Target\.Digest .* unsupported digest algorithm/,
    );
    await rejects(
      bad({ mediaType: INDEX, digest: 'sha256:abc', size: 1 }),
      isInvalidArgument,
      /Target\.Digest "sha256:abc" invalid/,
    );
    await rejects(
      bad({ mediaType: INDEX, digest: D1, size: 0 }),
      isInvalidArgument,
      /^Target\.Size must be greater than zero$/,
    );
    await rejects(
      bad({ mediaType: '', digest: D1, size: 1 }),
      isInvalidArgument,
      /^Target\.MediaType must be set$/,
    );
    await rejects(
      store.create(a, image('x', { labels: { k: 'v'.repeat(4096) } })),
      isInvalidArgument,
      /^image\.labels: label key and value greater than maximum size/,
    );
    assert.deepEqual(
      (await store.list(a)).map((i) => i.name),
      ['img'],
      'refused creates leave nothing behind',
    );
  });

  it('updates labels by path and replaces everything without a mask', async () => {
    const created = await store.create(a, image('img', { labels: { keep: '1', drop: '2' } }));
    const u1 = await store.update(a, image('img', { labels: { add: '3', keep: 'ignored' } }), [
      'labels.add',
      'labels.drop',
    ]);
    assert.deepEqual(u1.labels, { keep: '1', add: '3' });
    assert.deepEqual(u1.target, created.target, 'target untouched by label paths');
    assert.equal(u1.createdAt, created.createdAt);
    assert.ok(u1.updatedAt >= created.updatedAt);

    const u2 = await store.update(a, image('img', { labels: { only: 'x' } }), ['labels']);
    assert.deepEqual(u2.labels, { only: 'x' });

    const replaced = await store.update(
      a,
      image('img', {
        labels: { fresh: 'y' },
        target: { mediaType: MANIFEST, digest: D2, size: 7 },
      }),
    );
    assert.deepEqual(replaced.labels, { fresh: 'y' });
    assert.deepEqual(replaced.target, { mediaType: MANIFEST, digest: D2, size: 7 });
    assert.equal(replaced.createdAt, created.createdAt);
    assert.deepEqual(await store.get(a, 'img'), replaced);
  });

  it('updates the target as a unit and annotations by path', async () => {
    await store.create(
      a,
      image('img', {
        labels: { l: '1' },
        target: { mediaType: INDEX, digest: D1, size: 1, annotations: { a: '1', b: '2' } },
      }),
    );
    const incoming = image('img', {
      labels: { l: 'ignored' },
      target: { mediaType: MANIFEST, digest: D2, size: 2, annotations: { b: '', c: '3' } },
    });
    let got = await store.update(a, incoming, ['annotations.b', 'annotations.c']);
    assert.deepEqual(got.target, {
      mediaType: INDEX,
      digest: D1,
      size: 1,
      annotations: { a: '1', c: '3' },
    });
    got = await store.update(a, incoming, ['annotations']);
    assert.deepEqual(got.target.annotations, { c: '3' });
    got = await store.update(a, incoming, ['target']);
    assert.deepEqual(got.target, {
      mediaType: MANIFEST,
      digest: D2,
      size: 2,
      annotations: { c: '3' },
    });
    assert.deepEqual(got.labels, { l: '1' });
  });

  it('refuses bad updates and changes nothing', async () => {
    const created = await store.create(a, image('img', { labels: { k: 'v' } }));
    await rejects(
      store.update(a, image('img'), ['labels.x', 'name']),
      isInvalidArgument,
      /^cannot update "name" field on image "img"$/,
    );
    await rejects(store.update(a, image('missing'), []), isNotFound, /^image "missing"$/);
    await rejects(
      store.update(a, image(''), ['labels']),
      isInvalidArgument,
      /image name is required for update/,
    );
    // Without a mask the incoming image must be valid on its own.
    await rejects(
      store.update(a, { name: 'img', labels: {}, target: { mediaType: '', digest: '', size: 0 } }),
      isInvalidArgument,
      /Target\.Digest "" invalid/,
    );
    assert.deepEqual(await store.get(a, 'img'), created);
  });

  it('deletes, and answers not found afterwards', async () => {
    await store.create(a, image('img'));
    await store.delete(a, 'img');
    await rejects(store.get(a, 'img'), isNotFound, /image "img"/);
    await rejects(store.delete(a, 'img'), isNotFound, /^image "img"$/);
  });

  it("filters List with containerd's image fields", async () => {
    await store.create(
      a,
      image('docker.io/library/alpine:3', {
        labels: { 'io.example/tier': 'gold', team: 'a' },
        target: {
          mediaType: INDEX,
          digest: D1,
          size: 1,
          annotations: { 'org.opencontainers.x': 'y' },
        },
      }),
    );
    await store.create(
      a,
      image('docker.io/library/busybox:1', {
        labels: { team: 'b' },
        target: { mediaType: MANIFEST, digest: D2, size: 1 },
      }),
    );
    await store.create(a, image('localhost:5000/busybox:1'));
    const names = async (...filters: string[]) => (await store.list(a, filters)).map((i) => i.name);
    assert.deepEqual(await names(), [
      'docker.io/library/alpine:3',
      'docker.io/library/busybox:1',
      'localhost:5000/busybox:1',
    ]);
    assert.deepEqual(await names('name==docker.io/library/busybox:1'), [
      'docker.io/library/busybox:1',
    ]);
    assert.deepEqual(await names('name~=busybox'), [
      'docker.io/library/busybox:1',
      'localhost:5000/busybox:1',
    ]);
    assert.deepEqual(await names(`target.digest==${D2}`), ['docker.io/library/busybox:1']);
    assert.deepEqual(await names(`target.mediatype==${MANIFEST}`), ['docker.io/library/busybox:1']);
    assert.deepEqual(await names('labels."io.example/tier"==gold'), ['docker.io/library/alpine:3']);
    assert.deepEqual(await names('labels.team'), [
      'docker.io/library/alpine:3',
      'docker.io/library/busybox:1',
    ]);
    assert.deepEqual(await names('annotations.org.opencontainers.x==y'), [
      'docker.io/library/alpine:3',
    ]);
    assert.deepEqual(await names('labels.team==a', 'labels.team==b'), [
      'docker.io/library/alpine:3',
      'docker.io/library/busybox:1',
    ]);
    assert.deepEqual(await names('labels.team==a,name~=busybox'), []);
    assert.deepEqual(await names('target.size==1'), [], 'size is not a filter field');
    await rejects(store.list(a, ['name==']), isInvalidArgument, /filter "name=="/);
  });

  it('keeps the size and times exact across reopen', async () => {
    const big = 2 ** 40 + 3;
    const created = await store.create(
      a,
      image('img', { target: { mediaType: INDEX, digest: D1, size: big } }),
    );
    mdb.close();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    store = new SqliteImageStore(mdb);
    const got = await store.get(a, 'img');
    assert.equal(got.target.size, big);
    assert.equal(typeof got.createdAt, 'bigint');
    assert.deepEqual(got, created);
  });
});
