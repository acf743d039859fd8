import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  createReadStream,
  existsSync,
  lchownSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, posix } from 'node:path';
import type { Registry } from './registry.js';
import type { TempDir } from './tmp.js';

/** Debian's busybox-static: a static binary, so one layer makes a working rootfs. */
export const BUSYBOX = '/bin/busybox';

/** The applets `busyboxImage()` links into /bin (enough for `ctr run` tests). */
export const BUSYBOX_APPLETS = [
  'sh',
  'echo',
  'ls',
  'cat',
  'sleep',
  'true',
  'false',
  'tty',
  'stty',
  'env',
  'id',
] as const;

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Every entry, and every created/history time, gets this mtime (2024-01-01T00:00:00Z). */
export const DEFAULT_EPOCH = 1_704_067_200;

export const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

/** Layer compression in the built image. umoci writes gzip; zstd and none are re-encoded here. */
export type Compression = 'gzip' | 'zstd' | 'none';

/** Manifest schema pushed to the registry: OCI as built, or Docker schema 2 converted by skopeo. */
export type ManifestFormat = 'oci' | 'v2s2';

interface Owned {
  /** Owner in the layer (needs root to build); default 0:0. */
  uid?: number;
  gid?: number;
}

/**
 * One entry of a layer. Paths are relative to the image root (a leading `/`
 * is ignored; `..` is refused: hostile layers go through `{ tar }`). Parent
 * directories are created 0755.
 */
export type Entry =
  | ({
      type: 'file';
      path: string;
      /** Contents (default empty), or `from`: a host file to copy. */
      content?: string | Uint8Array;
      from?: string;
      /** Default 0644, or the mode of `from`. */
      mode?: number;
    } & Owned)
  | ({ type: 'dir'; path: string; mode?: number } & Owned)
  | ({ type: 'symlink'; path: string; target: string } & Owned)
  /** A hard link to `target`, an earlier entry of the same layer (image-root relative). */
  | { type: 'hardlink'; path: string; target: string }
  /** `.wh.<name>`: deletes `path` from the layers below. */
  | { type: 'whiteout'; path: string }
  /** A directory with `.wh..wh..opq`: hides everything the layers below had in it. */
  | ({ type: 'opaque'; path: string; mode?: number } & Owned);

/** A layer from entries (archived with GNU tar), or a ready uncompressed tar added verbatim. */
export type LayerSpec =
  | { entries: Entry[]; createdBy?: string }
  | { tar: string; createdBy?: string };

export interface ImageConfig {
  cmd?: string[];
  entrypoint?: string[];
  /** Default: [DEFAULT_PATH]. */
  env?: string[];
  workingDir?: string;
  user?: string;
  labels?: Record<string, string>;
}

export interface ImageSpec {
  /** Tag inside the OCI layout; default `latest`. */
  tag?: string;
  layers: LayerSpec[];
  config?: ImageConfig;
  /** Default: the host's, in Go's spelling (amd64, arm64). */
  architecture?: string;
  os?: string;
  /** Default gzip. */
  compression?: Compression;
  /** Wrap the manifest in an OCI image index with one platform entry (push with skopeo --all). */
  index?: boolean;
  /** Seconds since the epoch for every mtime and created time; default DEFAULT_EPOCH. */
  epoch?: number;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface BuiltLayer extends Descriptor {
  /** sha256 of the uncompressed tar (the config's diff_id). */
  diffId: string;
  /** The uncompressed tar this layer was made from (kept under the build dir). */
  tarPath: string;
}

export interface BuiltImage {
  /** The OCI image layout directory. */
  layout: string;
  /** The tag inside the layout (what pushImage takes). */
  tag: string;
  /** The image manifest. */
  manifest: Descriptor;
  /** The image index wrapping it, when spec.index. */
  index?: Descriptor;
  config: Descriptor;
  layers: BuiltLayer[];
  platform: { architecture: string; os: string };
  /** Build time in ms. */
  ms: number;
}

export interface PushOptions {
  /** Default oci: the layout's manifests and blobs are pushed byte for byte (--preserve-digests). */
  format?: ManifestFormat;
}

export interface Pushed {
  /** `127.0.0.1:PORT/name:tag`, what ctr pulls. */
  ref: string;
  /** Digest of what the tag points to in the registry (manifest, or index). */
  digest: string;
  /** Media type the registry serves for the tag. */
  mediaType: string;
  ms: number;
}

// ---------------------------------------------------------------------------
// Ready-made specs

/** One layer: /bin/busybox and symlinks for the applets; Cmd ["sh"], Env PATH. */
export function busyboxImage(opts: Partial<ImageSpec> = {}): ImageSpec {
  return {
    layers: [busyboxLayer()],
    config: { cmd: ['sh'], env: [DEFAULT_PATH] },
    ...opts,
  };
}

/** The layer busyboxImage() is made of. */
export function busyboxLayer(applets: readonly string[] = BUSYBOX_APPLETS): LayerSpec {
  return {
    createdBy: 'busybox',
    entries: [
      { type: 'dir', path: 'bin' },
      { type: 'file', path: 'bin/busybox', from: BUSYBOX, mode: 0o755 },
      ...applets.map((a): Entry => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    ],
  };
}

/**
 * busybox with its httpd serving `/www` (index.html = `page`) on port 80 in
 * the foreground. `-vv`: httpd logs each request to stderr, `<client>:
 * url:/path` then `<client>: response:200` (`-v` alone logs only the response).
 */
export function httpdImage(page: string): ImageSpec {
  return {
    layers: [
      busyboxLayer([...BUSYBOX_APPLETS, 'httpd']),
      { createdBy: 'the page', entries: [{ type: 'file', path: 'www/index.html', content: page }] },
    ],
    config: { cmd: ['httpd', '-f', '-vv', '-p', '80', '-h', '/www'], env: [DEFAULT_PATH] },
  };
}

/**
 * Three layers:
 * - L1: busybox, as busyboxImage();
 * - L2: /etc/berth/{a,b}.txt, /data/dir/{keep,old}.txt;
 * - L3: a whiteout for /etc/berth/a.txt, and /data/dir made opaque with only new.txt.
 *
 * The merged rootfs has /etc/berth/b.txt, no a.txt, and /data/dir/new.txt alone.
 */
export function multiLayerImage(opts: Partial<ImageSpec> = {}): ImageSpec {
  return {
    layers: [
      busyboxLayer(),
      {
        createdBy: 'berth files',
        entries: [
          { type: 'file', path: 'etc/berth/a.txt', content: 'a\n' },
          { type: 'file', path: 'etc/berth/b.txt', content: 'b\n' },
          { type: 'file', path: 'data/dir/keep.txt', content: 'keep\n' },
          { type: 'file', path: 'data/dir/old.txt', content: 'old\n' },
        ],
      },
      {
        createdBy: 'whiteout a.txt, opaque /data/dir',
        entries: [
          { type: 'whiteout', path: 'etc/berth/a.txt' },
          { type: 'opaque', path: 'data/dir' },
          { type: 'file', path: 'data/dir/new.txt', content: 'new\n' },
        ],
      },
    ],
    config: { cmd: ['sh'], env: [DEFAULT_PATH] },
    ...opts,
  };
}

// ---------------------------------------------------------------------------
// Building

let buildSeq = 0;

/**
 * Builds an OCI image layout under `dir` (a fresh `image-N` directory):
 * each layer is archived with GNU tar (sorted, fixed mtime, numeric owners)
 * and appended with `umoci raw add-layer`, the config set with
 * `umoci config`, then layers re-encoded for zstd/none and the manifest
 * wrapped in an index if asked. The same spec gives the same digests.
 */
export async function buildImage(dir: TempDir | string, spec: ImageSpec): Promise<BuiltImage> {
  const t0 = performance.now();
  const base = typeof dir === 'string' ? dir : dir.path;
  const work = join(base, `image-${++buildSeq}-${process.pid}`);
  mkdirSync(work, { recursive: true });
  const layout = join(work, 'oci');
  const tag = spec.tag ?? 'latest';
  const epoch = spec.epoch ?? DEFAULT_EPOCH;
  const created = new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');
  const image = `${layout}:${tag}`;
  const platform = { architecture: spec.architecture ?? goArch(), os: spec.os ?? 'linux' };

  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', image]);

  const tars: string[] = [];
  for (const [i, layer] of spec.layers.entries()) {
    const tar =
      'tar' in layer ? layer.tar : await archiveLayer(join(work, `layer-${i}`), layer, epoch);
    tars.push(tar);
    await run('umoci', [
      'raw',
      'add-layer',
      '--image',
      image,
      '--history.created',
      created,
      '--history.created_by',
      layer.createdBy ?? `layer ${i}`,
      tar,
    ]);
  }

  const c = spec.config ?? {};
  const cfgArgs = [
    'config',
    '--image',
    image,
    '--no-history',
    '--created',
    created,
    '--architecture',
    platform.architecture,
    '--os',
    platform.os,
  ];
  for (const e of c.env ?? [DEFAULT_PATH]) cfgArgs.push('--config.env', e);
  for (const a of c.cmd ?? []) cfgArgs.push('--config.cmd', a);
  for (const a of c.entrypoint ?? []) cfgArgs.push('--config.entrypoint', a);
  if (c.workingDir !== undefined) cfgArgs.push('--config.workingdir', c.workingDir);
  if (c.user !== undefined) cfgArgs.push('--config.user', c.user);
  for (const [k, v] of Object.entries(c.labels ?? {})) cfgArgs.push('--config.label', `${k}=${v}`);
  await run('umoci', cfgArgs);

  const oci = new OciLayout(layout);
  let manifestDesc = oci.tagged(tag);
  const manifest = oci.readJson(manifestDesc.digest) as {
    config: Descriptor;
    layers: Descriptor[];
    [k: string]: unknown;
  };
  const config = oci.readJson(manifest.config.digest) as { rootfs: { diff_ids: string[] } };
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== tars.length || manifest.layers.length !== tars.length) {
    throw new Error(`umoci made ${manifest.layers.length} layers of ${tars.length}`);
  }
  for (const [i, tar] of tars.entries()) {
    const d = await sha256File(tar);
    if (diffIds[i] !== d) throw new Error(`layer ${i}: diff_id ${diffIds[i]} is not sha256 ${d}`);
  }

  const compression = spec.compression ?? 'gzip';
  if (compression !== 'gzip') {
    const layers: Descriptor[] = [];
    for (const [i, tar] of tars.entries()) {
      if (compression === 'zstd') {
        const out = join(work, `layer-${i}.tar.zst`);
        await run('zstd', ['-q', '-3', '--no-progress', '-f', '-o', out, tar]);
        layers.push(await oci.addBlobFile(out, MEDIA_TYPES.layerZstd));
      } else {
        layers.push(await oci.addBlobFile(tar, MEDIA_TYPES.layerTar));
      }
    }
    manifestDesc = oci.writeBlob(
      Buffer.from(JSON.stringify({ ...manifest, layers })),
      MEDIA_TYPES.manifest,
    );
    oci.setTag(tag, manifestDesc);
    manifest.layers = layers;
  }

  let indexDesc: Descriptor | undefined;
  if (spec.index === true) {
    indexDesc = oci.writeBlob(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MEDIA_TYPES.index,
          manifests: [{ ...manifestDesc, platform }],
        }),
      ),
      MEDIA_TYPES.index,
    );
    oci.setTag(tag, indexDesc);
  }

  await run('umoci', ['gc', '--layout', layout]);

  const built: BuiltImage = {
    layout,
    tag,
    manifest: manifestDesc,
    config: manifest.config,
    layers: manifest.layers.map((l, i) => ({
      mediaType: l.mediaType,
      digest: l.digest,
      size: l.size,
      diffId: diffIds[i]!,
      tarPath: tars[i]!,
    })),
    platform,
    ms: 0,
  };
  if (indexDesc !== undefined) built.index = indexDesc;
  built.ms = Math.round(performance.now() - t0);
  return built;
}

/** Writes the entries into `<work>/rootfs` and archives them to `<work>/layer.tar`. */
async function archiveLayer(
  work: string,
  layer: { entries: Entry[] },
  epoch: number,
): Promise<string> {
  const root = join(work, 'rootfs');
  mkdirSync(root, { recursive: true });
  const asRoot = process.getuid?.() === 0;
  const chown = (p: string, e: Owned) => {
    if (e.uid === undefined && e.gid === undefined) {
      if (asRoot) lchownSync(p, 0, 0);
      return;
    }
    if (!asRoot) throw new Error(`entry ${p}: uid/gid need root`);
    lchownSync(p, e.uid ?? 0, e.gid ?? 0);
  };
  const parents = (rel: string) => {
    let cur = root;
    for (const part of rel.split('/').slice(0, -1)) {
      cur = join(cur, part);
      if (!existsSync(cur)) {
        mkdirSync(cur);
        chmodSync(cur, 0o755);
        chown(cur, {});
      }
    }
  };
  for (const e of layer.entries) {
    const rel = clean(e.path);
    parents(rel);
    const p = join(root, rel);
    switch (e.type) {
      case 'file': {
        if (e.from !== undefined) copyFileSync(e.from, p);
        else writeFileSync(p, e.content ?? '');
        chown(p, e);
        chmodSync(p, e.mode ?? (e.from !== undefined ? statSync(e.from).mode & 0o7777 : 0o644));
        break;
      }
      case 'dir':
      case 'opaque': {
        if (!existsSync(p)) mkdirSync(p);
        chown(p, e);
        chmodSync(p, e.mode ?? 0o755);
        if (e.type === 'opaque') {
          const m = join(p, '.wh..wh..opq');
          writeFileSync(m, '');
          chmodSync(m, 0o644);
          chown(m, {});
        }
        break;
      }
      case 'symlink':
        symlinkSync(e.target, p);
        chown(p, e);
        break;
      case 'hardlink':
        linkSync(join(root, clean(e.target)), p);
        break;
      case 'whiteout': {
        const w = join(dirname(p), `.wh.${posix.basename(rel)}`);
        writeFileSync(w, '');
        chmodSync(w, 0o644);
        chown(w, {});
        break;
      }
    }
  }
  const tar = join(work, 'layer.tar');
  const top = readdirSync(root).sort();
  const args = [
    '--create',
    '--file',
    tar,
    '--directory',
    root,
    '--format=gnu',
    '--sort=name',
    `--mtime=@${epoch}`,
    '--numeric-owner',
    ...(asRoot ? [] : ['--owner=0', '--group=0']),
  ];
  if (top.length === 0) args.push('--files-from=/dev/null');
  else args.push('--', ...top);
  await run('tar', args);
  return tar;
}

function clean(path: string): string {
  const rel = posix.normalize(path.replace(/^\/+/, '')).replace(/\/+$/, '');
  if (rel === '' || rel === '.' || rel.split('/').includes('..')) {
    throw new Error(
      `bad layer path ${JSON.stringify(path)} (use a { tar } layer for hostile ones)`,
    );
  }
  return rel;
}

function goArch(): string {
  const m: Record<string, string> = { x64: 'amd64', ia32: '386', arm: 'arm', arm64: 'arm64' };
  return m[process.arch] ?? process.arch;
}

// ---------------------------------------------------------------------------
// Pushing

/**
 * Copies a built image's layout to a skopeo destination
 * (`oci-archive:<file>:v1`, `docker-archive:<file>:<ref>`), for tests that
 * import archives.
 */
export function skopeoCopy(built: Pick<BuiltImage, 'layout' | 'tag'>, dest: string): void {
  execFileSync('skopeo', [
    '--insecure-policy',
    'copy',
    '--quiet',
    `oci:${built.layout}:${built.tag}`,
    dest,
  ]);
}

/**
 * Pushes `layout:tag` to `registry` as `ref` (`name[:tag]`, no host) with
 * skopeo. `oci` pushes byte for byte (an index stays an index, zstd stays
 * zstd); `v2s2` lets skopeo convert to Docker schema 2 (gzip layers only).
 * skopeo runs with its own policy, registries.conf and auth file under the
 * layout's build dir, and no credentials. One thing it writes outside: as
 * root, skopeo keeps its blob-info cache in
 * /var/lib/containers/cache/blob-info-cache-v1.boltdb (no flag moves it), so
 * afterwards the registry's manifests are checked to name the layout's own
 * layer blobs.
 */
export async function pushImage(
  registry: Registry | string,
  layout: string,
  tag: string,
  ref: string,
  opts: PushOptions = {},
): Promise<Pushed> {
  const t0 = performance.now();
  const host = typeof registry === 'string' ? registry : registry.host;
  const full = `${host}/${ref}`;
  const format = opts.format ?? 'oci';
  const oci = new OciLayout(layout);
  const top = oci.tagged(tag);
  const isIndex = top.mediaType === MEDIA_TYPES.index;
  if (format === 'v2s2') {
    for (const m of isIndex ? oci.indexManifests(top.digest) : [top]) {
      const man = oci.readJson(m.digest) as { layers: Descriptor[] };
      const bad = man.layers.find((l) => l.mediaType !== MEDIA_TYPES.layerGzip);
      if (bad) throw new Error(`v2s2 needs gzip layers; ${bad.digest} is ${bad.mediaType}`);
    }
  }

  const cfg = join(dirname(layout), 'skopeo');
  mkdirSync(join(cfg, 'registries.d'), { recursive: true });
  mkdirSync(join(cfg, 'tmp'), { recursive: true });
  writeFileSync(
    join(cfg, 'policy.json'),
    JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }),
  );
  writeFileSync(join(cfg, 'registries.conf'), 'unqualified-search-registries = []\n');
  writeFileSync(join(cfg, 'auth.json'), '{"auths":{}}\n');
  const digestFile = join(cfg, 'digest');

  const args = [
    '--policy',
    join(cfg, 'policy.json'),
    '--registries.d',
    join(cfg, 'registries.d'),
    '--tmpdir',
    join(cfg, 'tmp'),
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    '--dest-no-creds',
    '--digestfile',
    digestFile,
  ];
  if (isIndex) args.push('--all');
  args.push(...(format === 'oci' ? ['--preserve-digests'] : ['--format', 'v2s2']));
  args.push(`oci:${layout}:${tag}`, `docker://${full}`);
  await run('skopeo', args, {
    env: {
      ...process.env,
      CONTAINERS_REGISTRIES_CONF: join(cfg, 'registries.conf'),
      REGISTRY_AUTH_FILE: join(cfg, 'auth.json'),
      TMPDIR: join(cfg, 'tmp'),
    },
  });
  const digest = readFileSync(digestFile, 'utf8').trim();

  // What the registry now serves must carry the layout's layer blobs, byte
  // for byte: skopeo may otherwise substitute blobs its cache knows of.
  const name = ref.replace(/[:@].*$/, '');
  const reference = ref.includes('@')
    ? ref.slice(ref.indexOf('@') + 1)
    : ref.includes(':')
      ? ref.slice(ref.lastIndexOf(':') + 1)
      : 'latest';
  const served = await getManifest(host, name, reference);
  const mediaType = served.mediaType;
  if (served.digest !== digest) {
    throw new Error(`${full}: registry serves ${served.digest}, skopeo pushed ${digest}`);
  }
  if (format === 'oci' && digest !== top.digest) {
    throw new Error(`${full}: pushed ${digest}, the layout has ${top.digest}`);
  }
  const want = (isIndex ? oci.indexManifests(top.digest) : [top]).map(
    (m) => (oci.readJson(m.digest) as { layers: Descriptor[] }).layers,
  );
  const got = isIndex
    ? await Promise.all(
        (JSON.parse(served.body.toString()) as { manifests: Descriptor[] }).manifests.map(
          async (m) => (await getManifest(host, name, m.digest)).body,
        ),
      )
    : [served.body];
  for (const [i, body] of got.entries()) {
    const layers = (JSON.parse(body.toString()) as { layers: Descriptor[] }).layers;
    const a = layers.map((l) => `${l.digest}/${l.size}`).join(' ');
    const b = (want[i] ?? []).map((l) => `${l.digest}/${l.size}`).join(' ');
    if (a !== b) throw new Error(`${full}: registry has layers ${a}, the layout ${b}`);
  }
  return { ref: full, digest, mediaType, ms: Math.round(performance.now() - t0) };
}

const ACCEPT = [
  MEDIA_TYPES.manifest,
  MEDIA_TYPES.index,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

async function getManifest(
  host: string,
  name: string,
  reference: string,
): Promise<{ mediaType: string; digest: string; body: Buffer }> {
  const r = await fetch(`http://${host}/v2/${name}/manifests/${reference}`, {
    headers: { accept: ACCEPT },
  });
  const body = Buffer.from(await r.arrayBuffer());
  if (r.status !== 200) {
    throw new Error(`GET ${host}/v2/${name}/manifests/${reference}: ${r.status} ${body}`);
  }
  return {
    mediaType: r.headers.get('content-type') ?? '',
    digest: r.headers.get('docker-content-digest') ?? '',
    body,
  };
}

/** buildImage then pushImage, for tests that need nothing in between. */
export async function buildAndPush(
  dir: TempDir | string,
  registry: Registry | string,
  spec: ImageSpec,
  ref: string,
  opts: PushOptions = {},
): Promise<BuiltImage & { pushed: Pushed }> {
  const built = await buildImage(dir, spec);
  const pushed = await pushImage(registry, built.layout, built.tag, ref, opts);
  return { ...built, pushed };
}

// ---------------------------------------------------------------------------
// The OCI layout, as far as these helpers need it

class OciLayout {
  constructor(readonly path: string) {}

  blobPath(digest: string): string {
    const [alg, hex] = digest.split(':');
    if (alg !== 'sha256' || hex === undefined || !/^[0-9a-f]{64}$/.test(hex)) {
      throw new Error(`bad digest ${digest}`);
    }
    return join(this.path, 'blobs', alg, hex);
  }

  readJson(digest: string): unknown {
    return JSON.parse(readFileSync(this.blobPath(digest), 'utf8'));
  }

  writeBlob(bytes: Buffer, mediaType: string): Descriptor {
    const digest = sha256(bytes);
    writeFileSync(this.blobPath(digest), bytes);
    return { mediaType, digest, size: bytes.length };
  }

  /** Copies a file into the blob store. */
  async addBlobFile(path: string, mediaType: string): Promise<Descriptor> {
    const digest = await sha256File(path);
    copyFileSync(path, this.blobPath(digest));
    return { mediaType, digest, size: statSync(path).size };
  }

  private index(): { manifests: (Descriptor & { annotations?: Record<string, string> })[] } {
    return JSON.parse(readFileSync(join(this.path, 'index.json'), 'utf8'));
  }

  tagged(tag: string): Descriptor {
    const m = this.index().manifests.find(
      (d) => d.annotations?.['org.opencontainers.image.ref.name'] === tag,
    );
    if (!m) throw new Error(`${this.path}: no tag ${tag}`);
    return { mediaType: m.mediaType, digest: m.digest, size: m.size };
  }

  indexManifests(digest: string): Descriptor[] {
    return (this.readJson(digest) as { manifests: Descriptor[] }).manifests;
  }

  setTag(tag: string, desc: Descriptor): void {
    const idx = this.index();
    const name = 'org.opencontainers.image.ref.name';
    idx.manifests = idx.manifests.filter((d) => d.annotations?.[name] !== tag);
    idx.manifests.push({ ...desc, annotations: { [name]: tag } });
    writeFileSync(join(this.path, 'index.json'), JSON.stringify(idx));
  }
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** sha256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

// ---------------------------------------------------------------------------
// Processes

/** Runs a command; resolves with its stdout, rejects with its stderr. */
function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<Buffer> {
  return new Promise((res, rej) => {
    execFile(
      cmd,
      args,
      {
        encoding: 'buffer',
        maxBuffer: 512 * 1024 * 1024,
        timeout: 120_000,
        env: opts.env ?? process.env,
      },
      (err, stdout, stderr) => {
        if (err) {
          rej(
            new Error(
              `${cmd} ${args.join(' ')} failed (${err.message.split('\n')[0]}):\n${stderr.toString()}`,
            ),
          );
        } else {
          res(stdout);
        }
      },
    );
  });
}
