import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import {
  assertWaitsForCollect,
  CountingGc,
  RecordingPublisher,
} from '../../../test/helpers/doubles.js';
import { namespaceMetadata, promiseCall, serveForTest } from '../../../test/helpers/grpc-server.js';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import { ImageCreate, ImageDelete, ImageUpdate } from '../../api/containerd/events/image.js';
import {
  type Image as ImagePb,
  ImagesClient,
} from '../../api/containerd/services/images/v1/images.js';
import { MetadataDB, SqliteImageStore } from '../../metadata/index.js';
import type { GrpcServer } from '../../server/server.js';
import { imagesService } from './service.js';

type KindError = Error & { kind: string };

const INDEX = 'application/vnd.oci.image.index.v1+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

/** The generated client, promisified, with containerd's namespace header. */
function images(client: ImagesClient, namespace?: string) {
  const md = () => namespaceMetadata(namespace);
  const call = promiseCall;
  return {
    get: (name: string) => call<{ image?: ImagePb }>((cb) => client.get({ name }, md(), cb)),
    list: (...filters: string[]) =>
      call<{ images: ImagePb[] }>((cb) => client.list({ filters }, md(), cb)),
    create: (image: Partial<ImagePb>) =>
      call<{ image?: ImagePb }>((cb) =>
        client.create({ image: { name: '', labels: {}, ...image } }, md(), cb),
      ),
    update: (image: Partial<ImagePb>, updateMask?: string[]) =>
      call<{ image?: ImagePb }>((cb) =>
        client.update(
          { image: { name: '', labels: {}, ...image }, ...(updateMask && { updateMask }) },
          md(),
          cb,
        ),
      ),
    delete: (name: string, sync = false) =>
      call<unknown>((cb) => client.delete({ name, sync }, md(), cb)),
  };
}

function target(digest = D1, size = 1024n, annotations: Record<string, string> = {}) {
  return { mediaType: INDEX, digest, size, annotations };
}

describe('Images service over a socket', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let server: GrpcServer;
  let client: ImagesClient;
  let publisher: RecordingPublisher;
  let gc: CountingGc;
  let a: ReturnType<typeof images>;

  before(async () => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    publisher = new RecordingPublisher();
    gc = new CountingGc();
    const socket = join(dir.path, 'images.sock');
    server = await serveForTest(socket, [imagesService(new SqliteImageStore(mdb), publisher, gc)]);
    client = new ImagesClient(`unix:${socket}`, credentials.createInsecure());
    a = images(client, 'a');
  });
  after(async () => {
    client.close();
    await server.stop();
    mdb.close();
    dir.remove();
  });
  beforeEach(() => {
    publisher.events.length = 0;
    gc.schedules = 0;
    gc.collects = 0;
  });

  it('creates, gets and lists images with times and bigint sizes', async () => {
    const before = BigInt(Math.floor(Date.now() / 1000));
    const { image } = await a.create({
      name: 'docker.io/library/busybox:1',
      labels: { k: 'v' },
      target: target(D1, 2n ** 40n, { 'org.example': 'x' }),
    });
    assert.ok(image?.createdAt && image.updatedAt);
    assert.ok(image.createdAt.seconds >= before);
    assert.deepEqual(image.updatedAt, image.createdAt);
    assert.deepEqual(image.target, target(D1, 2n ** 40n, { 'org.example': 'x' }));
    assert.deepEqual((await a.get('docker.io/library/busybox:1')).image, image);
    assert.deepEqual((await a.list()).images, [image]);
    await a.delete('docker.io/library/busybox:1');
  });

  it('publishes /images/create, /images/update and /images/delete', async () => {
    await a.create({ name: 'img', labels: { k: 'v' }, target: target() });
    await a.update({ name: 'img', labels: { k2: 'v2' } }, ['labels.k2']);
    await a.delete('img');
    assert.deepEqual(
      publisher.events.map((e) => [e.namespace, e.topic, e.event.typeUrl]),
      [
        ['a', '/images/create', 'containerd.services.images.v1.ImageCreate'],
        ['a', '/images/update', 'containerd.services.images.v1.ImageUpdate'],
        ['a', '/images/delete', 'containerd.services.images.v1.ImageDelete'],
      ],
    );
    const [create, update, del] = publisher.events.map((e) => e.event.value);
    assert.deepEqual(ImageCreate.decode(create!), { name: 'img', labels: { k: 'v' } });
    assert.deepEqual(ImageUpdate.decode(update!), { name: 'img', labels: { k: 'v', k2: 'v2' } });
    assert.deepEqual(ImageDelete.decode(del!), { name: 'img' });
  });

  it('publishes nothing when the change fails', async () => {
    await assert.rejects(a.update({ name: 'missing', labels: {} }, ['labels']));
    await assert.rejects(a.delete('missing'));
    await assert.rejects(a.create({ name: 'bad', target: target('sha256:00') }));
    assert.deepEqual(publisher.events, []);
    assert.equal(gc.schedules + gc.collects, 0);
  });

  it('updates with field masks over the wire', async () => {
    await a.create({ name: 'm', labels: { keep: '1', drop: '2' }, target: target() });
    let got = await a.update({ name: 'm', labels: { add: '3' } }, ['labels.add', 'labels.drop']);
    assert.deepEqual(got.image?.labels, { keep: '1', add: '3' });
    got = await a.update(
      { name: 'm', target: { mediaType: MANIFEST, digest: D2, size: 5n, annotations: { a: 'b' } } },
      ['annotations.a'],
    );
    assert.deepEqual(got.image?.target, target(D1, 1024n, { a: 'b' }));
    got = await a.update(
      { name: 'm', target: { mediaType: MANIFEST, digest: D2, size: 5n, annotations: {} } },
      ['target'],
    );
    assert.deepEqual(got.image?.target, {
      mediaType: MANIFEST,
      digest: D2,
      size: 5n,
      annotations: {},
    });
    // No mask: the whole image is replaced.
    got = await a.update({ name: 'm', labels: { only: 'x' }, target: target() });
    assert.deepEqual(got.image?.labels, { only: 'x' });
    assert.deepEqual(got.image?.target, target());
    await assert.rejects(a.update({ name: 'm', labels: {} }, ['name']), (e: KindError) => {
      return (
        e.kind === 'invalid_argument' &&
        e.message === 'cannot update "name" field on image "m": invalid argument'
      );
    });
    await a.delete('m');
  });

  it('supports the tag flow of ctr (Get, then Create under another name)', async () => {
    await a.create({ name: 'src:1', labels: { l: '1' }, target: target() });
    const { image } = await a.get('src:1');
    assert.ok(image);
    const tagged = await a.create({ ...image, name: 'dst:1' });
    assert.deepEqual(tagged.image?.target, image.target);
    assert.deepEqual(tagged.image?.labels, { l: '1' });
    await assert.rejects(a.create({ ...image, name: 'dst:1' }), (e: KindError) => {
      return e.kind === 'already_exists' && e.message === 'image "dst:1": already exists';
    });
    assert.deepEqual(
      (await a.list('name~=^(src|dst)')).images.map((i) => i.name),
      ['dst:1', 'src:1'],
    );
    await a.delete('src:1');
    await a.delete('dst:1');
  });

  it('filters List in containerd syntax', async () => {
    await a.create({ name: 'f1', labels: { team: 'x' }, target: target(D1) });
    await a.create({ name: 'f2', target: { ...target(D2), mediaType: MANIFEST } });
    const names = async (...f: string[]) => (await a.list(...f)).images.map((i) => i.name);
    assert.deepEqual(await names('labels.team==x'), ['f1']);
    assert.deepEqual(await names(`target.digest==${D2}`), ['f2']);
    assert.deepEqual(await names(`target.mediatype==${INDEX}`, 'name==f2'), ['f1', 'f2']);
    await assert.rejects(a.list('name=='), (e: KindError) => e.kind === 'invalid_argument');
    await a.delete('f1');
    await a.delete('f2');
  });

  it('keeps namespaces apart and requires one', async () => {
    await a.create({ name: 'mine', target: target() });
    const b = images(client, 'b');
    await assert.rejects(b.get('mine'), (e: KindError) => {
      return e.kind === 'not_found' && e.message === 'image "mine": not found';
    });
    assert.deepEqual((await b.list()).images, []);
    await assert.rejects(images(client).list(), (e: KindError) => {
      return e.kind === 'failed_precondition' && /namespace is required/.test(e.message);
    });
    await assert.rejects(images(client, 'not valid').list(), (e: KindError) => {
      return e.kind === 'invalid_argument';
    });
    await a.delete('mine');
  });

  it('answers containerd errors for bad requests', async () => {
    await assert.rejects(a.create({ name: '', target: target() }), (e: KindError) => {
      return e.kind === 'invalid_argument' && /Image\.Name required/.test(e.message);
    });
    await assert.rejects(a.update({ name: '' }), (e: KindError) => e.kind === 'invalid_argument');
    await assert.rejects(a.create({ name: 'no-target' }), (e: KindError) => {
      return e.kind === 'invalid_argument' && /Target\.Digest "" invalid/.test(e.message);
    });
    await assert.rejects(a.create({ name: 'neg', target: target(D1, -1n) }), (e: KindError) => {
      return (
        e.kind === 'invalid_argument' && /Target\.Size must be greater than zero/.test(e.message)
      );
    });
    await assert.rejects(a.get('nope'), (e: KindError) => e.kind === 'not_found');
  });

  it('deletes: schedules GC, and with sync answers after a collection', async () => {
    await a.create({ name: 'd1', target: target() });
    await a.create({ name: 'd2', target: target() });
    await a.delete('d1');
    assert.deepEqual([gc.schedules, gc.collects], [1, 0]);

    await assertWaitsForCollect(gc, () => a.delete('d2', true));
    assert.equal(gc.schedules, 1);
  });
});
