import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ctxOf, imageStores, type TestStores } from '../../../test/helpers/image-stores.js';
import {
  type BuiltImage,
  buildAndPush,
  busyboxImage,
  DEFAULT_PATH,
  type Pushed,
  pushImage,
} from '../../../test/helpers/images.js';
import { Registry } from '../../../test/helpers/registry.js';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import type {
  AuthConfig,
  ImageStatusResponse,
  ListImagesResponse,
  PullImageResponse,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { isNotFound, isUnauthenticated } from '../../core/errdefs/index.js';
import { imageSize } from '../../images/index.js';
import type { Handler } from '../../server/service.js';
import { imageCreate, imageDelete } from '../../wire/event-payloads.js';
import { SnapshotUsageStore } from '../stats/snapshot-usage.js';
import {
  CRI_NAMESPACE,
  type CriImageOps,
  CriImages,
  imageServiceHandlers,
  loadCriImageOps,
} from './index.js';

/**
 * CriImages over real local stores (overlayfs) pulling from Debian's
 * docker-registry on 127.0.0.1 behind htpasswd auth, reached through a
 * hosts.toml mirror for a registry name that does not exist
 * (`registry.berth.test`), as critest's images are mirrored.
 */

const isRoot = process.getuid?.() === 0;
const ctx = ctxOf(CRI_NAMESPACE);
const HOST = 'registry.berth.test';
const REPO = `${HOST}/e2e/busybox`;
const USER = { username: 'alice', password: 's3cret' };

function auth(over: Partial<AuthConfig>): AuthConfig {
  return {
    username: '',
    password: '',
    auth: '',
    serverAddress: '',
    identityToken: '',
    registryToken: '',
    ...over,
  };
}

/** Calls a unary handler as the server would. */
async function call<Res>(h: Handler | undefined, req: unknown): Promise<Res> {
  assert.ok(h !== undefined && h.kind === 'unary');
  return (await h.fn(ctxOf(''), req)) as Res;
}

describe('CRI images over a registry with auth and a hosts.toml mirror (root)', {
  skip: !isRoot && 'needs root to mount overlayfs',
}, () => {
  let dir: TempDir;
  let reg: Registry;
  let stores: TestStores;
  let images: CriImages;
  let handlers: Record<string, Handler>;
  let usage: SnapshotUsageStore;
  let user: BuiltImage & { pushed: Pushed };
  let other: BuiltImage & { pushed: Pushed };
  let pulls = 0;
  const events: { topic: string; name: string }[] = [];

  before(async () => {
    dir = tempDir('berth-cri-images-');
    // Push while open, then serve the same storage behind htpasswd.
    const open = await Registry.start(dir);
    try {
      user = await buildAndPush(
        dir,
        open,
        busyboxImage({ config: { cmd: ['sh'], env: [DEFAULT_PATH], user: '1002:1003' } }),
        'e2e/busybox:1.0',
      );
      await pushImage(open, user.layout, user.tag, 'e2e/busybox:alias');
      other = await buildAndPush(
        join(dir.path, 'other'),
        open,
        busyboxImage({
          config: { cmd: ['true'], env: [DEFAULT_PATH], user: 'www-data' },
          epoch: 1_700_000_000,
        }),
        'e2e/pause:1',
      );
    } finally {
      await open.stop();
    }
    reg = await Registry.start(dir, {
      storage: open.storage,
      htpasswd: { [USER.username]: USER.password },
    });
    const certs = join(dir.path, 'certs.d');
    mkdirSync(join(certs, HOST), { recursive: true });
    writeFileSync(
      join(certs, HOST, 'hosts.toml'),
      `server = "${reg.url}"\n\n[host."${reg.url}"]\n  capabilities = ["pull", "resolve"]\n`,
    );
    const storeDir = join(dir.path, 'stores');
    mkdirSync(storeDir);
    stores = imageStores(storeDir, { snapshotters: ['overlayfs'] });
    const counting = async (): Promise<CriImageOps> => {
      const real = await loadCriImageOps();
      return {
        ...real,
        pull: (...args) => {
          pulls++;
          return real.pull(...args);
        },
      };
    };
    images = new CriImages({
      stores,
      gc: stores.gc,
      snapshotter: 'overlayfs',
      sandboxImage: `${HOST}/e2e/pause:1`,
      registry: {
        configPath: certs,
        // The sandbox image is pulled with the CRI config's credentials for the mirror's host.
        auths: { [reg.host]: { ...USER, auth: '', identityToken: '' } },
        headers: {},
      },
      maxConcurrentDownloads: 3,
      log: ctx.log,
      ops: counting,
      publisher: {
        async publish(pctx, topic, payload) {
          assert.equal(pctx.namespace, CRI_NAMESPACE);
          const codec = topic === '/images/delete' ? imageDelete : imageCreate;
          events.push({ topic, name: codec.decode(payload.value).name });
        },
      },
    });
    usage = new SnapshotUsageStore(stores.snapshotter('overlayfs'), ctx);
    handlers = imageServiceHandlers(images, {
      usage,
      mountpoint: join(storeDir, 'snapshots-overlayfs'),
    });
  });

  after(async () => {
    await stores?.close();
    await reg?.stop();
    dir?.remove();
  });

  const records = async () =>
    (await stores.images.list(ctx)).map((r) => ({
      name: r.name,
      target: r.target.digest,
      labels: r.labels,
    }));

  it('refuses a pull with wrong credentials, or with credentials for another server, leaving nothing', async () => {
    // The request's credentials replace the configured ones, even when they are wrong.
    await assert.rejects(
      call(handlers.PullImage, {
        image: { image: `${REPO}:1.0` },
        auth: auth({ username: 'alice', password: 'wrong' }),
      }),
      (err: unknown) => isUnauthenticated(err),
    );
    await assert.rejects(
      call(handlers.PullImage, {
        image: { image: `${REPO}:1.0` },
        auth: auth({ ...USER, serverAddress: 'https://elsewhere.test' }),
      }),
      (err: unknown) => isUnauthenticated(err),
    );
    assert.deepEqual(await records(), []);
  });

  it('pulls through the mirror with the request credentials and records tag, repo digest and ID', async () => {
    const before = pulls;
    // Two concurrent pulls of the same reference share one pull.
    const [a, b] = await Promise.all([
      call<PullImageResponse>(handlers.PullImage, {
        image: { image: `${REPO}:1.0` },
        auth: auth(USER),
      }),
      call<PullImageResponse>(handlers.PullImage, {
        image: { image: `${REPO}:1.0` },
        auth: auth(USER),
      }),
    ]);
    assert.equal(pulls - before, 1);
    // Announced as containerd's image service announces them.
    assert.deepEqual(
      events.map((e) => `${e.topic} ${e.name}`).sort(),
      [
        `/images/create ${REPO}:1.0`,
        `/images/create ${REPO}@${user.pushed.digest}`,
        `/images/create ${user.config.digest}`,
      ].sort(),
    );
    assert.equal(a.imageRef, user.config.digest);
    assert.equal(b.imageRef, user.config.digest);
    const managed = { 'io.cri-containerd.image': 'managed' };
    assert.deepEqual(
      (await records()).sort((x, y) => (x.name < y.name ? -1 : 1)),
      [
        { name: `${REPO}:1.0`, target: user.pushed.digest, labels: managed },
        { name: `${REPO}@${user.pushed.digest}`, target: user.pushed.digest, labels: managed },
        { name: user.config.digest, target: user.pushed.digest, labels: managed },
      ].sort((x, y) => (x.name < y.name ? -1 : 1)),
    );
    // Unpacked into the snapshotter under the top layer's chain ID.
    const status = await call<ImageStatusResponse>(handlers.ImageStatus, {
      image: { image: `${REPO}:1.0` },
      verbose: true,
    });
    const info = JSON.parse(status.info.info ?? '{}');
    await stores.snapshotter('overlayfs').stat(ctx, info.chainID);
    assert.equal(info.imageSpec.config.User, '1002:1003');
  });

  it('answers ImageStatus alike by tag, repo digest, ID and ID prefix', async () => {
    const byTag = await call<ImageStatusResponse>(handlers.ImageStatus, {
      image: { image: `${REPO}:1.0` },
      verbose: false,
    });
    const img = byTag.image;
    assert.ok(img);
    assert.deepEqual(img, {
      id: user.config.digest,
      repoTags: [`${REPO}:1.0`],
      repoDigests: [`${REPO}@${user.pushed.digest}`],
      size: BigInt(
        await imageSize(ctx, stores, {
          name: `${REPO}:1.0`,
          target: (await stores.images.get(ctx, `${REPO}:1.0`)).target,
        }),
      ),
      uid: { value: 1002n },
      username: '',
      pinned: false,
    });
    for (const ref of [
      `${REPO}@${user.pushed.digest}`,
      user.config.digest,
      user.config.digest.slice(7, 19),
    ]) {
      const s = await call<ImageStatusResponse>(handlers.ImageStatus, {
        image: { image: ref },
        verbose: false,
      });
      assert.deepEqual(s.image, img, ref);
    }
    const missing = await call<ImageStatusResponse>(handlers.ImageStatus, {
      image: { image: `${REPO}:nope` },
      verbose: false,
    });
    assert.equal(missing.image, undefined);
  });

  it('adds a second tag of the same image to it, and lists images with and without a filter', async () => {
    await call(handlers.PullImage, {
      image: { image: `${REPO}:alias` },
      auth: auth({ auth: Buffer.from('alice:s3cret').toString('base64') }),
    });
    const list = await call<ListImagesResponse>(handlers.ListImages, {});
    assert.equal(list.images.length, 1);
    assert.deepEqual(list.images[0]?.repoTags, [`${REPO}:1.0`, `${REPO}:alias`]);
    const filtered = await call<ListImagesResponse>(handlers.ListImages, {
      filter: { image: { image: `${REPO}:alias` } },
    });
    assert.equal(filtered.images[0]?.id, user.config.digest);
    // A repository alone: every image with a reference in it.
    const byRepo = await call<ListImagesResponse>(handlers.ListImages, {
      filter: { image: { image: REPO } },
    });
    assert.deepEqual(
      byRepo.images.map((i) => i.id),
      [user.config.digest],
    );
    const byId = await call<ListImagesResponse>(handlers.ListImages, {
      filter: { image: { image: user.config.digest } },
    });
    assert.deepEqual(
      byId.images.map((i) => i.id),
      [user.config.digest],
    );
    const none = await call<ListImagesResponse>(handlers.ListImages, {
      filter: { image: { image: 'nothing:here' } },
    });
    assert.deepEqual(none.images, []);
  });

  it('pulls the sandbox image when missing with the configured credentials, and pins it', async () => {
    const img = await images.ensure(ctx, `${HOST}/e2e/pause:1`);
    assert.equal(img.id, other.config.digest);
    assert.equal(img.pinned, true);
    assert.ok(img.chainId.startsWith('sha256:'));
    assert.equal((img.config.config as { User?: string }).User, 'www-data');
    const s = await call<ImageStatusResponse>(handlers.ImageStatus, {
      image: { image: img.id },
      verbose: false,
    });
    assert.equal(s.image?.username, 'www-data');
    assert.equal(s.image?.uid, undefined);
    assert.equal(s.image?.pinned, true);
    const again = pulls;
    await images.ensure(ctx, `${HOST}/e2e/pause:1`);
    assert.equal(pulls, again, 'present: not pulled again');
    const resolved = await images.resolve(ctx, other.config.digest);
    assert.equal(resolved.target.digest, other.pushed.digest);
  });

  it('reports the snapshots in ImageFsInfo', async () => {
    await usage.sync();
    const fs = await call<{
      imageFilesystems: {
        usedBytes?: { value: bigint };
        inodesUsed?: { value: bigint };
        fsId?: { mountpoint: string };
      }[];
    }>(handlers.ImageFsInfo, {});
    const [u] = fs.imageFilesystems;
    assert.ok((u?.usedBytes?.value ?? 0n) > 1_000_000n, 'busybox is more than 1 MB');
    assert.ok((u?.inodesUsed?.value ?? 0n) > 2n);
    assert.ok(u?.fsId?.mountpoint.endsWith('snapshots-overlayfs'));
  });

  it('removes every record of an image by ID, and the collection takes its blobs and snapshots', async () => {
    const img = await images.resolve(ctx, `${REPO}:1.0`);
    const blobs = [user.pushed.digest, user.config.digest, ...user.layers.map((l) => l.digest)];
    await call(handlers.RemoveImage, { image: { image: img.id } });
    const left = (await records()).map((r) => r.name);
    assert.deepEqual(
      left.filter((n) => n.startsWith(REPO) || n === img.id),
      [],
    );
    const status = await call<ImageStatusResponse>(handlers.ImageStatus, {
      image: { image: `${REPO}:alias` },
      verbose: false,
    });
    assert.equal(status.image, undefined);
    // The two images were built with different mtimes: they share no blob and no snapshot.
    const have = new Set((await stores.content.list(ctx)).map((i) => i.digest));
    for (const d of blobs) assert.ok(!have.has(d), `${d} collected`);
    await assert.rejects(stores.snapshotter('overlayfs').stat(ctx, img.chainId), isNotFound);
    // A missing image removes fine.
    await call(handlers.RemoveImage, { image: { image: img.id } });
    // Removing the sandbox image too leaves the namespace without images, blobs or snapshots.
    await call(handlers.RemoveImage, { image: { image: other.config.digest } });
    assert.deepEqual(await records(), []);
    // busybox: two tags, its repo digest and ID; the sandbox image: tag, repo digest, ID.
    assert.equal(events.filter((e) => e.topic === '/images/delete').length, 7);
    assert.deepEqual(await stores.content.list(ctx), []);
    assert.deepEqual(await stores.snapshotter('overlayfs').list(ctx), []);
    const blobDir = join(dir.path, 'stores', 'content', 'blobs', 'sha256');
    assert.deepEqual(existsSync(blobDir) ? readdirSync(blobDir) : [], []);
  });
});
