import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ctxOf, imageStores, type TestStores } from '../../test/helpers/image-stores.js';
import { type BuiltImage, buildImage, busyboxImage } from '../../test/helpers/images.js';
import { layoutResolver } from '../../test/helpers/layout-resolver.js';
import {
  addImage,
  addIndex,
  addLayer,
  fileEntry,
  MemoryRegistry,
  sha256,
  type TestImage,
} from '../../test/helpers/memory-registry.js';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { decompressStream, readTar, writeTar } from '../archive/index.js';
import { isNotFound } from '../core/errdefs/index.js';
import type { Progress } from '../core/transfer/index.js';
import { exportArchive } from './export.js';
import { type ImportReference, importArchive } from './import.js';
import { pull } from './pull.js';
import { isUnpacked } from './unpack.js';

const exec = promisify(execFile);
const REF = '127.0.0.1:5000/test/app:v1';
const ctx = ctxOf('default');

/** skopeo with its own policy and registries.conf under `dir`. */
async function skopeo(dir: string, ...args: string[]): Promise<void> {
  const cfg = join(dir, 'skopeo-cfg');
  mkdirSync(join(cfg, 'tmp'), { recursive: true });
  writeFileSync(
    join(cfg, 'policy.json'),
    JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }),
  );
  writeFileSync(join(cfg, 'registries.conf'), 'unqualified-search-registries = []\n');
  await exec(
    'skopeo',
    ['--policy', join(cfg, 'policy.json'), '--tmpdir', join(cfg, 'tmp'), ...args],
    {
      env: {
        ...process.env,
        CONTAINERS_REGISTRIES_CONF: join(cfg, 'registries.conf'),
        TMPDIR: join(cfg, 'tmp'),
      },
      maxBuffer: 64 << 20,
    },
  );
}

async function* fileChunks(path: string): AsyncGenerator<Buffer> {
  for await (const c of createReadStream(path, { highWaterMark: 256 * 1024 })) yield c as Buffer;
}

/** The names and JSON files of an archive on disk. */
async function listArchive(path: string): Promise<{ names: string[]; json: Map<string, unknown> }> {
  const names: string[] = [];
  const json = new Map<string, unknown>();
  for await (const e of readTar(fileChunks(path))) {
    names.push(e.header.name);
    if (e.header.name.endsWith('.json') || e.header.name === 'oci-layout') {
      const parts: Buffer[] = [];
      for await (const c of e.body) parts.push(c);
      json.set(e.header.name, JSON.parse(Buffer.concat(parts).toString()));
    }
  }
  return { names, json };
}

/**
 * A docker save (uncompressed layer linked from `<id>/layer.tar`,
 * manifest.json first): one image per list of RepoTags, all of the same
 * layer, each with its own config (so its own manifest digest).
 */
async function dockerSave(dir: string, ...repoTags: string[][]) {
  const reg = new MemoryRegistry();
  const gz = await addLayer(reg, [fileEntry('hello', 'world')]);
  // The same layer uncompressed, as docker save writes it.
  const parts: Buffer[] = [];
  for await (const c of decompressStream(
    'gzip',
    (async function* () {
      yield reg.blobs.get(gz.desc.digest)!;
    })(),
  ))
    parts.push(c);
  const tar = Buffer.concat(parts);
  const configs = repoTags.map((_, i) =>
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        ...(i > 0 && { config: { Labels: { n: String(i) } } }),
        rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
      }),
    ),
  );
  const hex = (b: Buffer) => sha256(b).slice(7);
  const manifest = Buffer.from(
    JSON.stringify(
      repoTags.map((tags, i) => ({
        Config: `${hex(configs[i]!)}.json`,
        RepoTags: tags,
        Layers: ['abc/layer.tar'],
      })),
    ),
  );
  const file = (name: string, body: Buffer) => ({
    header: { name, type: 'file' as const, mode: 0o644, size: body.length },
    body,
  });
  const archive = join(dir, 'save.tar');
  const out = createWriteStream(archive);
  for await (const c of writeTar([
    file('manifest.json', manifest),
    { header: { name: 'abc/', type: 'dir' as const, mode: 0o755 } },
    {
      header: {
        name: 'abc/layer.tar',
        type: 'symlink' as const,
        linkname: `../blobs/sha256/${hex(tar)}`,
        mode: 0o777,
      },
    },
    ...configs.map((c) => file(`${hex(c)}.json`, c)),
    file(`blobs/sha256/${hex(tar)}`, tar),
    file('repositories', Buffer.from('{"hello":{"1":"x"}}')),
  ]))
    out.write(c);
  out.end();
  await finished(out);

  return { archive, tar, gz, reg };
}

describe('import and export', () => {
  let tmp: TempDir;
  let dir: string;
  let stores: TestStores;
  let other: TestStores;
  let n = 0;
  let busybox: BuiltImage;

  before(async () => {
    tmp = tempDir('berth-images-archive-');
    busybox = await buildImage(join(tmp.path, 'build'), busyboxImage());
  });
  after(() => tmp.remove());
  beforeEach(() => {
    dir = join(tmp.path, `t${n++}`);
    mkdirSync(join(dir, 'a'), { recursive: true });
    mkdirSync(join(dir, 'b'), { recursive: true });
    stores = imageStores(join(dir, 'a'));
    other = imageStores(join(dir, 'b'));
  });
  afterEach(async () => {
    await stores.close();
    await other.close();
  });

  async function exportTo(
    s: TestStores,
    file: string,
    images: Parameters<typeof exportArchive>[3],
    opts = {},
  ) {
    const out = createWriteStream(file);
    await exportArchive(ctx, s, out, images, opts);
    out.end();
    await finished(out);
  }

  async function multi(reg: MemoryRegistry): Promise<TestImage[]> {
    const imgs: TestImage[] = [];
    for (const p of ['linux/amd64', 'linux/arm64/v8']) {
      imgs.push(
        await addImage(reg, [[fileEntry('a', `a ${p}`)], [fileEntry('b', `b ${p}`)]], {
          platform: p,
        }),
      );
    }
    reg.tag(REF, addIndex(reg, imgs));
    return imgs;
  }

  it('export → import round-trips names, targets and blobs', async () => {
    const reg = new MemoryRegistry();
    const imgs = await multi(reg);
    const single = await addImage(reg, [[fileEntry('s', 's')]]);
    reg.tag('127.0.0.1:5000/test/single:1', single.manifest);
    const a = await pull(ctx, stores, reg.resolver(), REF, { allPlatforms: true });
    const b = await pull(ctx, stores, reg.resolver(), '127.0.0.1:5000/test/single:1');
    const file = join(dir, 'out.tar');
    await exportTo(stores, file, [a, b], { allPlatforms: true });

    const { names, json } = await listArchive(file);
    assert.deepEqual(names, [...names].sort(), 'entries sorted by name');
    assert.ok(
      names.includes('oci-layout') &&
        names.includes('index.json') &&
        names.includes('manifest.json'),
    );
    assert.ok(!names.includes('repositories'));
    assert.deepEqual(json.get('oci-layout'), { imageLayoutVersion: '1.0.0' });
    const index = json.get('index.json') as {
      manifests: { digest: string; annotations: Record<string, string> }[];
    };
    assert.deepEqual(
      index.manifests.map((m) => [
        m.digest,
        m.annotations['io.containerd.image.name'],
        m.annotations['org.opencontainers.image.ref.name'],
      ]),
      [
        [a.target.digest, REF, 'v1'],
        [b.target.digest, '127.0.0.1:5000/test/single:1', '1'],
      ],
    );
    assert.equal(
      index.manifests[0]!.annotations['containerd.io/distribution.source.127.0.0.1'],
      'test/app',
    );
    // With all platforms, Docker's manifest.json has only the manifest images (containerd's rule).
    assert.deepEqual(json.get('manifest.json'), [
      {
        Config: `blobs/sha256/${single.config.digest.slice(7)}`,
        RepoTags: ['127.0.0.1:5000/test/single:1'],
        Layers: single.layers.map((l) => `blobs/sha256/${l.desc.digest.slice(7)}`),
      },
    ]);

    const events: Progress[] = [];
    const imported = await importArchive(ctx, other, fileChunks(file), {
      allPlatforms: true,
      onProgress: (p) => events.push(p),
    });
    assert.deepEqual(
      imported.map((i) => [i.name, i.target.digest, i.target.mediaType, i.target.size]),
      [
        [REF, a.target.digest, a.target.mediaType, a.target.size],
        ['127.0.0.1:5000/test/single:1', b.target.digest, b.target.mediaType, b.target.size],
      ],
    );
    const want = new Set((await stores.content.list(ctx)).map((i) => i.digest));
    const got = new Set((await other.content.list(ctx)).map((i) => i.digest));
    for (const d of want) assert.ok(got.has(d), `blob ${d} round-tripped`);
    for (const img of imgs) {
      const info = await other.content.info(ctx, img.manifest.digest);
      assert.equal(info.labels['containerd.io/gc.ref.content.config'], img.config.digest);
    }
    assert.ok(events.some((e) => e.event === 'saved' && e.name === REF));
    assert.deepEqual(await other.leases.list(ctx), []);
    // After the lease: the records keep everything.
    await other.gc.collect();
    for (const d of want) assert.ok((await other.content.info(ctx, d)).size >= 0);
  });

  it('exports the host platform by default, with a Docker manifest.json entry for it', async () => {
    const reg = new MemoryRegistry();
    const imgs = await multi(reg);
    const a = await pull(ctx, stores, reg.resolver(), REF, { allPlatforms: true });
    const file = join(dir, 'out.tar');
    await exportTo(stores, file, [{ name: 'docker.io/library/app:latest', target: a.target }], {
      platforms: ['linux/amd64'],
    });
    const { names, json } = await listArchive(file);
    assert.ok(names.includes(`blobs/sha256/${imgs[0]!.config.digest.slice(7)}`));
    assert.ok(!names.includes(`blobs/sha256/${imgs[1]!.config.digest.slice(7)}`));
    assert.deepEqual(json.get('manifest.json'), [
      {
        Config: `blobs/sha256/${imgs[0]!.config.digest.slice(7)}`,
        RepoTags: ['app:latest'],
        Layers: imgs[0]!.layers.map((l) => `blobs/sha256/${l.desc.digest.slice(7)}`),
      },
    ]);
  });

  it('skips blobs of other platforms missing from the archive, and says so', async () => {
    const reg = new MemoryRegistry();
    const imgs = await multi(reg);
    const a = await pull(ctx, stores, reg.resolver(), REF, { platforms: ['linux/amd64'] });
    const file = join(dir, 'out.tar');
    const out = createWriteStream(join(dir, 'x.tar'));
    await assert.rejects(
      exportArchive(ctx, stores, out, [a], { allPlatforms: true }),
      (e: Error) => isNotFound(e) && e.message.includes(`manifest ${imgs[1]!.manifest.digest}`),
    );
    out.end();
    await finished(out);
    assert.equal(
      statSync(join(dir, 'x.tar')).size,
      0,
      'nothing written before the missing blob was found',
    );
    await exportTo(stores, file, [a], { allPlatforms: true, skipMissing: true });
    const events: Progress[] = [];
    const warnings: string[] = [];
    const wctx = {
      ...ctx,
      log: { ...ctx.log, warn: (o: unknown, m?: string) => warnings.push(String(m ?? o)) },
    };
    const imported = await importArchive(wctx, other, fileChunks(file), {
      allPlatforms: true,
      platforms: ['linux/amd64'],
      onProgress: (p) => events.push(p),
    });
    assert.deepEqual(
      imported.map((i) => i.name),
      [REF],
    );
    assert.ok(events.some((e) => e.event === 'skipped' && e.name === imgs[1]!.manifest.digest));
    assert.ok(
      warnings.some((w) => /linux\/arm64.*skipped/.test(w)),
      warnings.join('\n'),
    );
    // The arm64 platform asked for is an error: its blobs are not there.
    await assert.rejects(
      importArchive(ctx, other, fileChunks(file), { platforms: ['linux/arm64'] }),
      (e: Error) => isNotFound(e) && /linux\/arm64/.test(e.message),
    );
  });

  it('imports a docker-save archive made by skopeo (plain and gzip), and unpacks it', async () => {
    const file = join(dir, 'docker.tar');
    await skopeo(
      dir,
      'copy',
      '--quiet',
      `oci:${busybox.layout}:${busybox.tag}`,
      `docker-archive:${file}:busybox:1.36`,
    );
    const { names } = await listArchive(file);
    assert.ok(names.includes('manifest.json'));
    const images = await importArchive(ctx, stores, fileChunks(file), {
      unpack: [{ snapshotter: 'native' }],
    });
    assert.deepEqual(
      images.map((i) => i.name),
      ['docker.io/library/busybox:1.36'],
    );
    const image = images[0]!;
    // A Docker schema 2 manifest made from manifest.json, its layer typed by its (lack of) compression.
    assert.equal(image.target.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    const manifest = JSON.parse(
      (
        await (async () => {
          const parts: Buffer[] = [];
          for await (const c of stores.content.read(ctx, image.target.digest)) parts.push(c);
          return Buffer.concat(parts);
        })()
      ).toString(),
    );
    assert.equal(manifest.config.mediaType, 'application/vnd.docker.container.image.v1+json');
    assert.match(
      manifest.layers[0].mediaType,
      /^application\/vnd\.docker\.image\.rootfs\.diff\.tar/,
    );
    assert.equal(await isUnpacked(ctx, stores, image, { snapshotter: 'native' }), true);
    const snaps = await stores.snapshotter('native').list(ctx);
    assert.equal(snaps.length, 1);
    const root = join(dir, 'a', 'snapshots-native', 'snapshots');
    assert.ok(existsSync(root));

    await exec('gzip', ['-k', file]);
    const gz = await importArchive(ctx, other, fileChunks(`${file}.gz`), {
      labels: { from: 'gzip' },
    });
    assert.deepEqual(
      gz.map((i) => [i.name, i.target.digest, i.labels]),
      [[image.name, image.target.digest, { from: 'gzip' }]],
    );
  });

  it('imports an OCI layout made by umoci (tarred), naming it through baseName', async () => {
    const file = join(dir, 'oci.tar');
    await exec('tar', ['-C', busybox.layout, '-cf', file, '.']);
    const images = await importArchive(ctx, stores, fileChunks(file), {
      baseName: 'localhost/berth/busybox',
      digests: true,
      indexName: 'localhost/berth/index:1',
    });
    const byName = Object.fromEntries(images.map((i) => [i.name, i.target.digest]));
    assert.equal(byName[`localhost/berth/busybox:${busybox.tag}`], busybox.manifest.digest);
    assert.equal(
      byName[`localhost/berth/busybox@${busybox.manifest.digest}`],
      busybox.manifest.digest,
    );
    assert.ok(byName['localhost/berth/index:1']);
    const layer = busybox.layers[0]!;
    assert.equal((await stores.content.info(ctx, layer.digest)).size, layer.size);
  });

  it('imports a docker save with manifest.json first and layers named through symlinks', async () => {
    const { archive, tar, gz, reg } = await dockerSave(dir, ['hello:1', 'quay.io/x/hello:2']);
    const images = await importArchive(ctx, stores, fileChunks(archive));
    assert.deepEqual(
      images.map((i) => i.name),
      ['docker.io/library/hello:1', 'quay.io/x/hello:2'],
    );
    const read = async (d: string) => {
      const b: Buffer[] = [];
      for await (const c of stores.content.read(ctx, d)) b.push(c);
      return JSON.parse(Buffer.concat(b).toString());
    };
    const m = await read(images[0]!.target.digest);
    assert.deepEqual(m.layers, [
      {
        mediaType: 'application/vnd.docker.image.rootfs.diff.tar',
        digest: sha256(tar),
        size: tar.length,
      },
    ]);
    const index = await read(
      (await stores.content.list(ctx)).find((i) => i.labels['containerd.io/gc.ref.content.m.0'])!
        .digest,
    );
    assert.deepEqual(
      index.manifests.map(
        (d: { annotations: Record<string, string> }) =>
          d.annotations['org.opencontainers.image.ref.name'],
      ),
      ['1', '2'],
    );

    // A compressed blob labelled as this layer uncompressed is preferred (containerd's resolveLayers).
    const w = await other.content.writer(ctx, { ref: 'gz', expected: gz.desc.digest });
    await w.write(reg.blobs.get(gz.desc.digest)!);
    await w.commit(gz.desc.size, gz.desc.digest, {
      labels: { 'containerd.io/uncompressed': sha256(tar), 'containerd.io/gc.root': 'x' },
    });
    const again = await importArchive(ctx, other, fileChunks(archive));
    const b: Buffer[] = [];
    for await (const c of other.content.read(ctx, again[0]!.target.digest)) b.push(c);
    assert.deepEqual(JSON.parse(Buffer.concat(b).toString()).layers, [
      {
        mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
        digest: gz.desc.digest,
        size: gz.desc.size,
      },
    ]);
  });

  it('names imported manifests as containerd 1.7 transfer image store prefix references do', async () => {
    const { archive } = await dockerSave(
      dir,
      ['hello:1', 'quay.io/x/hello:2'],
      [],
      ['localhost/berth/app:3'],
    );
    const names = async (references: ImportReference[]) => {
      const images = await importArchive(ctx, stores, fileChunks(archive), { references });
      return {
        names: [...new Set(images.map((i) => i.name))].sort(),
        digests: [...new Set(images.map((i) => i.target.digest))],
      };
    };
    const hello = 'docker.io/library/hello';
    // ctr --base-name: full names not under the prefix are dropped.
    assert.deepEqual((await names([{ name: hello }])).names, [`${hello}:1`]);
    // With allowOverwrite (ctr's default import-<date> prefix) the archive's full names are kept.
    const named = await names([{ name: 'import-x', allowOverwrite: true }]);
    assert.deepEqual(named.names, [`${hello}:1`, 'localhost/berth/app:3', 'quay.io/x/hello:2']);
    // The three images' manifests, in the archive's order; the second has no name.
    const [d0, unnamed, d2] = (
      await names([{ name: 'import-x', allowOverwrite: true, addDigest: true }])
    ).digests;
    assert.deepEqual(named.digests, [d0, d2]);
    // --digests (skip_named_digest): `<prefix>@<digest>` only for what got no name from an entry.
    assert.deepEqual(
      (
        await names([
          { name: 'import-x', allowOverwrite: true, addDigest: true, skipNamedDigest: true },
        ])
      ).names,
      [`${hello}:1`, `import-x@${unnamed}`, 'localhost/berth/app:3', 'quay.io/x/hello:2'],
    );
    // Without skip_named_digest every manifest also gets one.
    assert.deepEqual(
      (await names([{ name: 'import-x', allowOverwrite: true, addDigest: true }])).names,
      [
        `${hello}:1`,
        ...[d0, unnamed, d2].map((d) => `import-x@${d}`).sort(),
        'localhost/berth/app:3',
        'quay.io/x/hello:2',
      ].sort(),
    );
    // --base-name with --digests: the entries whose names are dropped are named by digest.
    assert.deepEqual(
      (await names([{ name: hello, addDigest: true, skipNamedDigest: true }])).names,
      [`${hello}:1`, ...[d0, unnamed, d2].map((d) => `${hello}@${d}`)].sort(),
    );
  });

  it('force_compress gzips the uncompressed layers of a docker save, labelled with their digest', async () => {
    const { archive, tar } = await dockerSave(dir, ['hello:1']);
    const [image] = await importArchive(ctx, stores, fileChunks(archive), {
      forceCompress: true,
      unpack: [{ snapshotter: 'native' }],
    });
    const read = async (d: string) => {
      const b: Buffer[] = [];
      for await (const c of stores.content.read(ctx, d)) b.push(c);
      return Buffer.concat(b);
    };
    const m = JSON.parse((await read(image!.target.digest)).toString());
    assert.equal(m.layers.length, 1);
    const layer = m.layers[0];
    assert.equal(layer.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
    assert.notEqual(layer.digest, sha256(tar));
    const info = await stores.content.info(ctx, layer.digest);
    assert.equal(info.size, layer.size);
    assert.equal(info.labels['containerd.io/uncompressed'], sha256(tar));
    const parts: Buffer[] = [];
    for await (const c of decompressStream('gzip', stores.content.read(ctx, layer.digest)))
      parts.push(c);
    assert.ok(Buffer.concat(parts).equals(tar));
    assert.equal(await isUnpacked(ctx, stores, image!, { snapshotter: 'native' }), true);
    // Without it the layer stays as it is in the archive.
    const [plain] = await importArchive(ctx, other, fileChunks(archive));
    const b: Buffer[] = [];
    for await (const c of other.content.read(ctx, plain!.target.digest)) b.push(c);
    assert.equal(JSON.parse(Buffer.concat(b).toString()).layers[0].digest, sha256(tar));
  });

  it('skipNonDistributable leaves non-distributable layer blobs out of an export', async () => {
    const reg = new MemoryRegistry();
    const base = await addLayer(reg, [fileEntry('base', 'windows base, say')]);
    const top = await addLayer(reg, [fileEntry('app', 'app')]);
    const foreign = {
      ...base.desc,
      mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
    };
    const config = reg.addJson(
      {
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [base.diffId, top.diffId] },
      },
      'application/vnd.oci.image.config.v1+json',
    );
    const manifest = reg.addJson(
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config,
        layers: [foreign, top.desc],
      },
      'application/vnd.oci.image.manifest.v1+json',
    );
    reg.tag(REF, manifest);
    const image = await pull(ctx, stores, reg.resolver(), REF);
    const blob = (d: string) => `blobs/sha256/${d.slice('sha256:'.length)}`;
    const skipping = join(dir, 'skip.tar');
    await exportTo(stores, skipping, [image], { skipNonDistributable: true });
    const { names } = await listArchive(skipping);
    assert.ok(!names.includes(blob(base.desc.digest)), 'the non-distributable layer is left out');
    for (const d of [manifest.digest, config.digest, top.desc.digest]) {
      assert.ok(names.includes(blob(d)), d);
    }
    const all = join(dir, 'all.tar');
    await exportTo(stores, all, [image]);
    assert.ok((await listArchive(all)).names.includes(blob(base.desc.digest)));
  });

  it('pulls a umoci-built image through a directory resolver and unpacks a working rootfs', async () => {
    const image = await pull(
      ctx,
      stores,
      layoutResolver(busybox.layout),
      `localhost/bb:${busybox.tag}`,
      {
        unpack: [{ snapshotter: 'native' }],
      },
    );
    assert.equal(image.target.digest, busybox.manifest.digest);
    const sn = stores.snapshotter('native');
    const top = (await sn.list(ctx)).find((i) => i.kind === 'committed')!;
    assert.equal(top.name, busybox.layers[0]!.diffId);
    const [m] = await sn.view(ctx, 'look', top.name);
    assert.equal(m?.type, 'bind');
    assert.ok(statSync(join(m!.source, 'bin/busybox')).size > 100_000);
    assert.equal(readlinkSync(join(m!.source, 'bin/sh')), 'busybox');
    await sn.remove(ctx, 'look');
  });

  it('refuses what is not an image archive, leaving nothing behind', async () => {
    const file = join(dir, 'junk.tar');
    await exec('tar', ['-C', dir, '-cf', file, 'a/meta.db']);
    await assert.rejects(importArchive(ctx, other, fileChunks(file)), /unrecognized image format/);
    await other.gc.collect();
    assert.deepEqual(await other.content.list(ctx), []);
    assert.deepEqual(await other.leases.list(ctx), []);
  });
});
