import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serveForTest } from '../../../test/helpers/grpc-server.js';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import {
  answerAuth,
  collectProgress,
  receiveStream,
  sendStream,
  TransferTestClient,
} from '../../../test/helpers/transfer-client.js';
import type { Descriptor } from '../../core/content/index.js';
import {
  invalidArgument,
  isAlreadyExists,
  isInvalidArgument,
  isNotFound,
  isNotImplemented,
  notFound,
} from '../../core/errdefs/index.js';
import type { Image } from '../../core/images/index.js';
import type { Resolver } from '../../core/remotes/index.js';
import type {
  ImageStoreEndpoint,
  ImageStores,
  TransferEndpoint,
} from '../../core/transfer/index.js';
import { MetadataDB, SqliteImageStore } from '../../metadata/index.js';
import type { GrpcServer } from '../../server/server.js';
import type { CredentialsFn } from '../../transfer/credentials.js';
import { LocalTransfer } from '../../transfer/local.js';
import type { ImageOps } from '../../transfer/ops.js';
import { StreamRegistry } from '../../transfer/streams.js';
import { streamingService } from '../streaming/service.js';
import { transferService } from './service.js';

const MANIFEST: Descriptor = {
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${'a'.repeat(64)}`,
  size: 500,
};
const LAYER: Descriptor = {
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  digest: `sha256:${'b'.repeat(64)}`,
  size: 3_000_000,
};

function imageStore(over: Partial<ImageStoreEndpoint> = {}): ImageStoreEndpoint {
  return {
    kind: 'imageStore',
    name: '',
    labels: {},
    platforms: [],
    allMetadata: false,
    manifestLimit: 0,
    extraReferences: [],
    unpacks: [],
    ...over,
  };
}

/** What the fake image operations saw, per call. */
interface Seen {
  resolverOpts?: Parameters<ImageOps['newResolver']>[0];
  credentials?: Awaited<ReturnType<CredentialsFn>>;
  pull?: { ref: string; opts: unknown };
  push?: { ref: string; image: string; opts: unknown };
  imported?: { sha256: string; size: number; opts: unknown };
  exported?: { names: string[]; opts: unknown };
}

/**
 * Fakes of src/images and src/remotes (their branches are written in
 * parallel): they do what the transfer relies on (ask for credentials,
 * report progress, read the archive, write one, create records) and record
 * what they were asked.
 */
function fakeOps(seen: Seen, behaviour: { importFails?: boolean; exportBytes?: Buffer }) {
  const ops: ImageOps = {
    newResolver(opts) {
      seen.resolverOpts = opts;
      const resolver: Resolver = {
        async resolve(ref) {
          seen.credentials = await opts.credentials?.('registry.test:5000');
          return { name: ref, desc: MANIFEST };
        },
        fetcher: () => Promise.reject(new Error('not used')),
        pusher: () => Promise.reject(new Error('not used')),
      };
      return resolver;
    },
    async pull(ctx, s, resolver, ref, opts = {}) {
      if (ref.endsWith(':missing'))
        throw notFound(`registry.test:5000: manifest ${JSON.stringify(ref)}`);
      seen.pull = { ref, opts };
      await resolver.resolve(ref);
      const p = opts.onProgress;
      p?.({ event: 'resolving', name: ref, progress: 0, total: 0 });
      p?.({
        event: 'waiting',
        name: MANIFEST.digest,
        progress: 0,
        total: MANIFEST.size,
        desc: MANIFEST,
      });
      p?.({
        event: 'downloaded',
        name: MANIFEST.digest,
        progress: 500,
        total: 500,
        desc: MANIFEST,
      });
      p?.({
        event: 'waiting',
        name: LAYER.digest,
        parents: [MANIFEST.digest],
        progress: 0,
        total: LAYER.size,
        desc: LAYER,
      });
      for (let n = 1; n <= 30; n++) {
        p?.({
          event: 'downloading',
          name: LAYER.digest,
          parents: [MANIFEST.digest],
          progress: n * 100_000,
          total: LAYER.size,
          desc: LAYER,
        });
      }
      p?.({
        event: 'downloaded',
        name: LAYER.digest,
        parents: [MANIFEST.digest],
        progress: LAYER.size,
        total: LAYER.size,
        desc: LAYER,
      });
      return s.images.create(ctx, {
        name: opts.name ?? ref,
        target: MANIFEST,
        labels: opts.labels ?? {},
      });
    },
    async push(_ctx, _s, resolver, ref, image, opts = {}) {
      await resolver.resolve(ref);
      seen.push = { ref, image: (image as Image).name, opts };
      opts.onProgress?.({
        event: 'uploading',
        name: LAYER.digest,
        progress: 10,
        total: LAYER.size,
        desc: LAYER,
      });
      opts.onProgress?.({
        event: 'pushed',
        name: LAYER.digest,
        progress: LAYER.size,
        total: LAYER.size,
        desc: LAYER,
      });
    },
    async importArchive(ctx, s, input, opts = {}) {
      const h = createHash('sha256');
      let size = 0;
      for await (const chunk of input) {
        h.update(chunk);
        size += chunk.length;
        // A consumer slower than the client: the window holds the client back.
        if (size % (256 * 1024) < chunk.length) await new Promise((r) => setTimeout(r, 5));
        if (behaviour.importFails && size > 100_000)
          throw invalidArgument('archive: not a tar stream');
      }
      seen.imported = { sha256: h.digest('hex'), size, opts };
      const name = `${opts.references?.[0]?.name ?? 'import'}:latest`;
      return [await s.images.create(ctx, { name, target: MANIFEST, labels: opts.labels ?? {} })];
    },
    async exportArchive(_ctx, _s, output, images, opts = {}) {
      seen.exported = { names: images.map((i) => i.name), opts };
      const data = behaviour.exportBytes ?? Buffer.alloc(0);
      for (let off = 0; off < data.length; off += 10_000) {
        const chunk = data.subarray(off, off + 10_000);
        if (!output.write(chunk)) await new Promise((r) => output.once('drain', r));
      }
      output.end();
    },
  };
  return ops;
}

describe('Transfer and Streaming services (local transfer over fakes of the image operations)', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let server: GrpcServer;
  let client: TransferTestClient;
  let registry: StreamRegistry;
  let stores: ImageStores;
  const seen: Seen = {};
  const behaviour: { importFails?: boolean; exportBytes?: Buffer } = {};
  let socket: string;

  before(async () => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    const images = new SqliteImageStore(mdb);
    stores = {
      images,
      content: undefined as never,
      leases: undefined as never,
      snapshotter: () => {
        throw new Error('no snapshotters here');
      },
      applier: undefined as never,
    };
    registry = new StreamRegistry();
    const transferrer = new LocalTransfer(
      stores,
      registry,
      {
        hostsDir: '/etc/berth-test/certs.d',
        maxConcurrentDownloads: 3,
        maxConcurrentUploads: 2,
        unpackPlatforms: [{ platform: 'linux/amd64', snapshotter: 'overlayfs' }],
        defaultSnapshotter: 'overlayfs',
      },
      async () => fakeOps(seen, behaviour),
    );
    socket = join(dir.path, 'berth.sock');
    server = await serveForTest(socket, [streamingService(registry), transferService(transferrer)]);
    client = new TransferTestClient(socket);
  });

  after(async () => {
    client.close();
    await server.stop(100);
    mdb.close();
    dir.remove();
  });

  async function streamsGone(): Promise<void> {
    const deadline = Date.now() + 2_000;
    while (registry.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(registry.size, 0, 'every stream is forgotten once it ends');
  }

  it('pulls: credentials asked on the auth stream, progress in ctr 1.7 events, records and unpacks as asked', async () => {
    const ref = 'registry.test:5000/library/busybox:1.36';
    const progress = await client.createStream('progress-1');
    const auth = await client.createStream('creds-1');
    const asked = answerAuth(auth, () => ({
      kind: 'authResponse',
      authType: 'credentials',
      username: 'alice',
      secret: 's3cret',
    }));
    const events = collectProgress(progress);
    await client.transfer({
      source: {
        kind: 'registry',
        reference: ref,
        authStream: 'creds-1',
        headers: { 'X-Test': 'yes' },
        hostDir: '',
        defaultScheme: '',
      },
      destination: imageStore({
        name: ref,
        labels: { team: 'berth' },
        platforms: ['linux/amd64'],
        allMetadata: true,
        manifestLimit: 2,
        unpacks: [
          { platform: 'linux/amd64', snapshotter: '' },
          { platform: 'linux/arm64', snapshotter: 'overlayfs' },
        ],
        extraReferences: [
          {
            name: 'registry.test:5000/library/busybox',
            isPrefix: false,
            allowOverwrite: false,
            addDigest: true,
            skipNamedDigest: false,
          },
        ],
      }),
      progressStream: 'progress-1',
    });

    assert.deepEqual(asked, [{ host: 'registry.test:5000', reference: ref }]);
    assert.deepEqual(seen.credentials, { username: 'alice', secret: 's3cret' });
    assert.equal(seen.resolverOpts?.hostsDir, '/etc/berth-test/certs.d');
    assert.equal(
      seen.resolverOpts?.dockerConfig,
      false,
      "berthd's own Docker config is never read",
    );
    assert.deepEqual(seen.resolverOpts?.headers, { 'X-Test': 'yes' });
    assert.deepEqual(seen.pull, {
      ref,
      opts: {
        platforms: ['linux/amd64'],
        allMetadata: true,
        manifestLimit: 2,
        unpack: [{ snapshotter: 'overlayfs', platform: 'linux/amd64' }],
        name: ref,
        labels: { team: 'berth' },
        maxConcurrentDownloads: 3,
        onProgress: ((seen.pull?.opts ?? {}) as { onProgress?: unknown }).onProgress,
      },
    });

    assert.equal(
      typeof ((seen.pull?.opts ?? {}) as { onProgress?: unknown }).onProgress,
      'function',
    );
    const got = await events;
    const status = got.filter((e) => e.name === '').map((e) => e.event);
    assert.deepEqual(status, [
      `Resolving from OCI Registry (${ref})`,
      `Pulling from OCI Registry (${ref})`,
      `Completed pull from OCI Registry (${ref})`,
    ]);
    assert.ok(got.some((e) => e.event === 'fetching image content' && e.name === ref));
    assert.ok(
      !got.some((e) => e.event === 'resolving'),
      'the transfer says resolving in its status line',
    );
    const layer = got.filter((e) => e.name === `layer-${LAYER.digest}`);
    assert.deepEqual(
      layer[0]?.parents,
      [`manifest-${MANIFEST.digest}`],
      'a layer hangs under its manifest',
    );
    assert.deepEqual(got.find((e) => e.name === `manifest-${MANIFEST.digest}`)?.parents, [ref]);
    assert.equal(layer.at(-1)?.event, 'complete');
    assert.equal(layer.at(-1)?.progress, LAYER.size);
    const downloading = layer.filter((e) => e.event === 'downloading');
    assert.ok(
      downloading.length >= 1 && downloading.length < 30,
      `byte counts are coalesced (${downloading.length} of 30 sent)`,
    );
    const saved = got.filter((e) => e.event === 'saved').map((e) => e.name);
    assert.deepEqual(saved, [ref, `registry.test:5000/library/busybox@${MANIFEST.digest}`]);

    const ctx = {
      namespace: 'default',
      signal: new AbortController().signal,
      log: undefined as never,
    };
    const img = await stores.images.get(ctx, ref);
    assert.deepEqual(img.labels, { team: 'berth' });
    assert.equal((await stores.images.get(ctx, saved[1] ?? '')).target.digest, MANIFEST.digest);
    assert.equal(await progress.done, undefined, 'the progress stream ends OK');
    assert.equal(await auth.done, undefined, 'the auth stream ends OK');
    await streamsGone();
  });

  it('pulls anonymously when ctr answers an empty refresh token (no --user)', async () => {
    const auth = await client.createStream('creds-2');
    answerAuth(auth, () => ({
      kind: 'authResponse',
      authType: 'refresh',
      username: '',
      secret: '',
    }));
    await client.transfer({
      source: {
        kind: 'registry',
        reference: 'registry.test:5000/x:1',
        authStream: 'creds-2',
        headers: {},
        hostDir: '/etc/client-certs.d',
        defaultScheme: 'http',
      },
      destination: imageStore({ name: 'registry.test:5000/x:1' }),
      progressStream: '',
    });
    assert.equal(seen.credentials, undefined);
    assert.equal(seen.resolverOpts?.hostsDir, '/etc/client-certs.d', "containerd 2.0's host_dir");
    assert.equal(seen.resolverOpts?.plainHttp, true, "containerd 2.0's default_scheme http");
    assert.deepEqual(
      ((seen.pull?.opts ?? {}) as { allPlatforms?: boolean }).allPlatforms,
      true,
      'no platforms: all',
    );
    await streamsGone();
  });

  it('a pull of a missing tag fails NOT_FOUND naming the reference, and ends its streams', async () => {
    const progress = await client.createStream('progress-3');
    const events = collectProgress(progress);
    await assert.rejects(
      client.transfer({
        source: {
          kind: 'registry',
          reference: 'registry.test:5000/x:missing',
          authStream: '',
          headers: {},
          hostDir: '',
          defaultScheme: '',
        },
        destination: imageStore({ name: 'registry.test:5000/x:missing' }),
        progressStream: 'progress-3',
      }),
      (err: Error) => isNotFound(err) && err.message.includes('registry.test:5000/x:missing'),
    );
    await events;
    await streamsGone();
  });

  it('pushes an image with progress; a missing image is NOT_FOUND', async () => {
    const progress = await client.createStream('progress-4');
    const events = collectProgress(progress);
    const name = 'registry.test:5000/library/busybox:1.36';
    await client.transfer({
      source: imageStore({ name }),
      destination: {
        kind: 'registry',
        reference: 'registry.test:5000/copy:1',
        authStream: '',
        headers: {},
        hostDir: '',
        defaultScheme: '',
      },
      progressStream: 'progress-4',
    });
    assert.equal(seen.push?.ref, 'registry.test:5000/copy:1');
    assert.equal(seen.push?.image, name);
    // As containerd 1.7's Transfer push: every platform, every blob (non-distributable too).
    const pushOpts = seen.push?.opts as Record<string, unknown>;
    assert.equal(pushOpts.allPlatforms, true);
    assert.equal(pushOpts.allowNonDistributable, true);
    const got = await events;
    assert.deepEqual(
      got.map((e) => `${e.event} ${e.name}`),
      [
        'Pushing to OCI Registry (registry.test:5000/copy:1) ',
        `pushing content ${name}`,
        `uploading layer-${LAYER.digest}`,
        `complete layer-${LAYER.digest}`,
        `pushed content ${name}`,
        'Completed push to OCI Registry (registry.test:5000/copy:1) ',
      ],
    );
    await assert.rejects(
      client.transfer({
        source: imageStore({ name: 'no/such:image' }),
        destination: {
          kind: 'registry',
          reference: 'registry.test:5000/copy:2',
          authStream: '',
          headers: {},
          hostDir: '',
          defaultScheme: '',
        },
        progressStream: '',
      }),
      (err: Error) => isNotFound(err) && err.message.includes('no/such:image'),
    );
  });

  it('imports an archive sent within the window, 32 KiB messages, and names images by the base name', async () => {
    const archive = randomBytes(1024 * 1024 + 17);
    const stream = await client.createStream('import-5');
    const progress = await client.createStream('progress-5');
    const events = collectProgress(progress);
    const sending = sendStream(stream, archive);
    await client.transfer({
      source: { kind: 'importStream', stream: 'import-5', mediaType: '', forceCompress: true },
      destination: imageStore({
        platforms: ['linux/amd64'],
        extraReferences: [
          {
            name: 'example.com/imported',
            isPrefix: true,
            allowOverwrite: false,
            addDigest: true,
            skipNamedDigest: true,
          },
        ],
        unpacks: [{ platform: 'linux/amd64', snapshotter: 'overlayfs' }],
      }),
      progressStream: 'progress-5',
    });
    const stats = await sending;
    assert.equal(stats.overrun, 0, 'never more than the window');
    assert.equal(stats.maxMessage, 32 * 1024);
    assert.deepEqual(seen.imported?.sha256, createHash('sha256').update(archive).digest('hex'));
    assert.equal(seen.imported?.size, archive.length);
    const opts = seen.imported?.opts as Record<string, unknown>;
    // The prefix reference as containerd's image store names imports with it, and force_compress.
    assert.deepEqual(opts.references, [
      {
        name: 'example.com/imported',
        allowOverwrite: false,
        addDigest: true,
        skipNamedDigest: true,
      },
    ]);
    assert.equal(opts.forceCompress, true);
    assert.deepEqual(opts.unpack, [{ snapshotter: 'overlayfs', platform: 'linux/amd64' }]);
    const got = (await events).map((e) => `${e.event}|${e.name}`);
    assert.deepEqual(got, ['Importing|', 'saved|example.com/imported:latest', 'Completed import|']);
    assert.equal(await stream.done, undefined);
    await streamsGone();
  });

  it('an import that fails mid-archive fails the transfer and ends the import stream', async () => {
    behaviour.importFails = true;
    try {
      const stream = await client.createStream('import-6');
      const sending = sendStream(stream, randomBytes(512 * 1024)).catch((err: Error) => err);
      await assert.rejects(
        client.transfer({
          source: { kind: 'importStream', stream: 'import-6', mediaType: '', forceCompress: false },
          destination: imageStore({ name: 'x' }),
          progressStream: '',
        }),
        (err: Error) => isInvalidArgument(err) && /not a tar stream/.test(err.message),
      );
      const sent = await sending;
      assert.ok(sent instanceof Error, 'the client learns that its stream ended');
      await stream.done;
      await streamsGone();
    } finally {
      behaviour.importFails = false;
    }
  });

  it('exports to the client within the windows it grants', async () => {
    behaviour.exportBytes = randomBytes(300 * 1024 + 5);
    const stream = await client.createStream('export-7');
    // A client slow to write each message: the transfer must not answer before it has written the last.
    const receiving = receiveStream(stream, { writeMs: 3 });
    const name = 'registry.test:5000/library/busybox:1.36';
    await client.transfer({
      source: imageStore({
        extraReferences: [
          {
            name,
            isPrefix: false,
            allowOverwrite: false,
            addDigest: false,
            skipNamedDigest: false,
          },
        ],
      }),
      destination: {
        kind: 'exportStream',
        stream: 'export-7',
        mediaType: '',
        platforms: ['linux/amd64'],
        allPlatforms: false,
        skipCompatibilityManifest: true,
        skipNonDistributable: false,
      },
      progressStream: '',
    });
    const writtenAtAnswer = receiving.written();
    const got = await receiving.result;
    assert.equal(
      writtenAtAnswer,
      behaviour.exportBytes.length,
      'answered once the client had written it all',
    );
    assert.equal(got.overrun, 0, 'the daemon kept within the window');
    assert.ok(
      got.data.equals(behaviour.exportBytes),
      'the client received the archive byte for byte',
    );
    assert.deepEqual(seen.exported?.names, [name]);
    assert.deepEqual(((seen.exported?.opts ?? {}) as Record<string, unknown>).platforms, [
      'linux/amd64',
    ]);
    assert.equal(((seen.exported?.opts ?? {}) as Record<string, unknown>).skipDockerManifest, true);
    await streamsGone();
  });

  it('tags: image store to image store', async () => {
    await client.transfer({
      source: imageStore({ name: 'registry.test:5000/library/busybox:1.36' }),
      destination: imageStore({ name: 'example.com/tagged:v1', labels: { a: 'b' } }),
      progressStream: '',
    });
    const ctx = {
      namespace: 'default',
      signal: new AbortController().signal,
      log: undefined as never,
    };
    const img = await stores.images.get(ctx, 'example.com/tagged:v1');
    assert.equal(img.target.digest, MANIFEST.digest);
    assert.deepEqual(img.labels, { a: 'b' });
  });

  it('echoes an import stream into an export stream', async () => {
    const data = randomBytes(200 * 1024);
    const input = await client.createStream('echo-in');
    const output = await client.createStream('echo-out');
    const sending = sendStream(input, data);
    const receiving = receiveStream(output);
    await client.transfer({
      source: { kind: 'importStream', stream: 'echo-in', mediaType: '', forceCompress: false },
      destination: {
        kind: 'exportStream',
        stream: 'echo-out',
        mediaType: '',
        platforms: [],
        allPlatforms: false,
        skipCompatibilityManifest: false,
        skipNonDistributable: false,
      },
      progressStream: '',
    });
    await sending;
    assert.ok((await receiving.result).data.equals(data));
    await streamsGone();
  });

  it('refuses what it cannot do: unknown pairs and types UNIMPLEMENTED, unknown streams NOT_FOUND', async () => {
    const reg: TransferEndpoint = {
      kind: 'registry',
      reference: 'a.test/x:1',
      authStream: '',
      headers: {},
      hostDir: '',
      defaultScheme: '',
    };
    await assert.rejects(
      client.transfer({ source: reg, destination: reg, progressStream: '' }),
      (err: Error) =>
        isNotImplemented(err) &&
        err.message.includes(
          'unable to transfer from OCI Registry (a.test/x:1) to OCI Registry (a.test/x:1)',
        ),
    );
    await assert.rejects(
      client.transfer({
        source: imageStore({ name: 'x' }),
        destination: imageStore({ name: 'y' }),
        progressStream: 'nope',
      }),
      (err: Error) => isNotFound(err) && err.message.includes('stream "nope"'),
    );
    await assert.rejects(
      client.transfer({
        source: { ...reg, authStream: 'gone' },
        destination: imageStore({ name: 'x' }),
        progressStream: '',
      }),
      (err: Error) => isNotFound(err) && err.message.includes('stream "gone"'),
    );
    await assert.rejects(
      client.transfer({
        source: { ...reg, defaultScheme: 'ftp' },
        destination: imageStore({ name: 'x' }),
        progressStream: '',
      }),
      (err: Error) => isInvalidArgument(err) && err.message.includes('"ftp"'),
    );
  });

  it('streams are per namespace, ids unique; a client that goes away leaves nothing registered', async () => {
    const s = await client.createStream('dup');
    await assert.rejects(
      client.createStream('dup'),
      (err: Error) => isAlreadyExists(err) || /already exists/.test(err.message),
    );
    const other = new TransferTestClient(socket, 'other');
    try {
      await assert.rejects(
        other.transfer({
          source: imageStore({ name: 'x' }),
          destination: imageStore({ name: 'y' }),
          progressStream: 'dup',
        }),
        (err: Error) => isNotFound(err) && err.message.includes('namespace "other"'),
      );
      const mine = await other.createStream('dup');
      assert.equal(registry.size, 2, 'the same id in another namespace is another stream');
      mine.cancel();
    } finally {
      other.close();
    }
    s.cancel();
    await streamsGone();
  });
});
