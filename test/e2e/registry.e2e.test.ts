import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Containerd } from '../helpers/containerd.js';
import { type CtrResult, ctr, table } from '../helpers/ctr.js';
import {
  BUSYBOX_APPLETS,
  type BuiltImage,
  buildImage,
  busyboxImage,
  type ImageSpec,
  MEDIA_TYPES,
  multiLayerImage,
  type Pushed,
  pushImage,
  sha256,
} from '../helpers/images.js';
import { Registry } from '../helpers/registry.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

/**
 * The pull-test infrastructure against the real containerd: a real
 * docker-registry on 127.0.0.1, images built offline from busybox-static
 * with umoci and pushed with skopeo, then pulled, fetched and mounted by
 * Debian's containerd 1.6 through the real ctr. This is also the reference
 * for what containerd does with these images.
 */

const root = process.getuid?.() === 0;

interface Variant {
  name: string;
  spec: ImageSpec;
  format: 'oci' | 'v2s2';
  /** What the registry serves for the tag. */
  mediaType: string;
  multi: boolean;
}

const VARIANTS: Variant[] = [
  {
    name: 'busybox',
    spec: busyboxImage(),
    format: 'oci',
    mediaType: MEDIA_TYPES.manifest,
    multi: false,
  },
  {
    name: 'multi',
    spec: multiLayerImage(),
    format: 'oci',
    mediaType: MEDIA_TYPES.manifest,
    multi: true,
  },
  {
    name: 'multi-v2s2',
    spec: multiLayerImage(),
    format: 'v2s2',
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    multi: true,
  },
  {
    name: 'multi-zstd',
    spec: multiLayerImage({ compression: 'zstd' }),
    format: 'oci',
    mediaType: MEDIA_TYPES.manifest,
    multi: true,
  },
  {
    name: 'multi-plain',
    spec: multiLayerImage({ compression: 'none' }),
    format: 'oci',
    mediaType: MEDIA_TYPES.manifest,
    multi: true,
  },
  {
    name: 'multi-index',
    spec: multiLayerImage({ index: true }),
    format: 'oci',
    mediaType: MEDIA_TYPES.index,
    multi: true,
  },
  {
    name: 'multi-list-v2s2',
    spec: multiLayerImage({ index: true }),
    format: 'v2s2',
    mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
    multi: true,
  },
];

interface Image {
  v: Variant;
  built: BuiltImage;
  pushed: Pushed;
}

describe('registry and image helpers with the real containerd', {
  skip: !root && 'needs root',
}, () => {
  let dir: TempDir | undefined;
  let cdDir: TempDir | undefined;
  let reg: Registry | undefined;
  let cd: Containerd | undefined;
  const images: Image[] = [];
  const timings: string[] = [];
  const mounted: { ns: string; target: string }[] = [];

  const sock = () => cd!.socket;
  const img = (name: string) => {
    const i = images.find((x) => x.v.name === name);
    assert.ok(i, `no image ${name}`);
    return i;
  };

  /** Everything one needs to see why a ctr call failed. */
  const diagnostics = (args: string[], r?: CtrResult) =>
    [
      `ctr ${args.join(' ')}${r ? ` exited ${r.code}` : ''}`,
      r ? `--- stdout\n${r.stdout}--- stderr\n${r.stderr}` : '',
      `--- containerd (tail)\n${cd?.output.slice(-4000) ?? ''}`,
      `--- registry (tail)\n${reg?.output.slice(-4000) ?? ''}`,
      `--- registry: ${reg?.host}, storage ${reg?.storage}`,
    ].join('\n');

  const ctrOk = (ns: string, args: string[]) => {
    const r = ctr(sock(), args, { namespace: ns });
    if (r.code !== 0) assert.fail(diagnostics(['-n', ns, ...args], r));
    return r.stdout;
  };

  before(async () => {
    dir = tempDir();
    let t0 = performance.now();
    reg = await Registry.start(dir);
    timings.push(`registry start: ${Math.round(performance.now() - t0)} ms`);
    for (const v of VARIANTS) {
      const built = await buildImage(dir, v.spec);
      const pushed = await pushImage(reg, built.layout, built.tag, `berth/${v.name}:v1`, {
        format: v.format,
      });
      images.push({ v, built, pushed });
      timings.push(`${v.name}: build ${built.ms} ms, push ${pushed.ms} ms (${v.format})`);
    }
    cdDir = tempDir();
    t0 = performance.now();
    cd = await Containerd.start(cdDir);
    timings.push(`containerd start: ${Math.round(performance.now() - t0)} ms`);
  });

  after(async () => {
    const problems: string[] = [];
    for (const m of mounted.splice(0).reverse()) {
      const r = cd
        ? ctr(sock(), ['images', 'unmount', '--rm', m.target], { namespace: m.ns })
        : undefined;
      if (r?.code !== 0) problems.push(`unmount ${m.target}: ${r?.stderr}`);
    }
    await cd?.stop();
    await reg?.stop();
    // Never recurse into a live mount: whatever is still mounted under our
    // own temporary directories is reported, unmounted by path, then removed.
    for (const d of [cdDir, dir]) {
      if (!d) continue;
      for (const m of mountsUnder(d.path).reverse()) {
        problems.push(`left mounted: ${m}`);
        spawnSync('umount', [m]);
      }
      if (mountsUnder(d.path).length === 0) d.remove();
      else problems.push(`not removed (still mounted): ${d.path}`);
    }
    assert.deepEqual(problems, []);
  });

  it('reports build and push times', (t) => {
    for (const l of timings) t.diagnostic(l);
  });

  it('builds layers with the whiteout and opaque markers, from the tars their diff_ids name', () => {
    const m = img('multi').built;
    assert.equal(m.layers.length, 3);
    const names = m.layers.map((l) => tarNames(l.tarPath));
    assert.deepEqual(names[0], [
      'bin/',
      ...['busybox', ...BUSYBOX_APPLETS].map((a) => `bin/${a}`).sort(),
    ]);
    assert.deepEqual(names[1], [
      'data/',
      'data/dir/',
      'data/dir/keep.txt',
      'data/dir/old.txt',
      'etc/',
      'etc/berth/',
      'etc/berth/a.txt',
      'etc/berth/b.txt',
    ]);
    assert.deepEqual(names[2], [
      'data/',
      'data/dir/',
      'data/dir/.wh..wh..opq',
      'data/dir/new.txt',
      'etc/',
      'etc/berth/',
      'etc/berth/.wh.a.txt',
    ]);
    for (const { v, built } of images) {
      for (const l of built.layers) {
        const blob = readFileSync(blobPath(built.layout, l.digest));
        assert.equal(sha256(blob), l.digest);
        assert.equal(blob.length, l.size);
        const tar =
          l.mediaType === MEDIA_TYPES.layerGzip
            ? gunzipSync(blob)
            : l.mediaType === MEDIA_TYPES.layerZstd
              ? spawnSync('zstd', ['-dc', blobPath(built.layout, l.digest)], {
                  maxBuffer: 64 << 20,
                }).stdout
              : blob;
        assert.equal(sha256(tar), l.diffId, `${v.name} ${l.digest}`);
      }
    }
  });

  it('builds deterministically: the same spec gives the same digests', async () => {
    const again = await buildImage(dir!, multiLayerImage());
    const first = img('multi').built;
    assert.equal(again.manifest.digest, first.manifest.digest);
    assert.deepEqual(
      again.layers.map((l) => l.digest),
      first.layers.map((l) => l.digest),
    );
    // The variants only differ where they should.
    assert.equal(img('multi-index').built.manifest.digest, first.manifest.digest);
    assert.notEqual(img('multi-zstd').built.manifest.digest, first.manifest.digest);
  });

  it('builds custom specs: modes, owners, links, raw tar layers', async () => {
    const raw = join(dir!.path, 'raw.tar');
    const made = spawnSync('tar', ['-cf', raw, '--files-from=/dev/null']);
    assert.equal(made.status, 0);
    const b = await buildImage(dir!, {
      tag: 'custom',
      layers: [
        {
          entries: [
            { type: 'dir', path: '/srv', mode: 0o750, uid: 1000, gid: 1000 },
            { type: 'file', path: '/srv/x', content: 'x', mode: 0o4755, uid: 1000, gid: 50 },
            { type: 'hardlink', path: '/srv/y', target: '/srv/x' },
            { type: 'symlink', path: '/srv/z', target: 'x' },
          ],
        },
        { tar: raw, createdBy: 'empty raw layer' },
      ],
      config: { entrypoint: ['/srv/x'], workingDir: '/srv', labels: { a: 'b' } },
    });
    assert.equal(b.tag, 'custom');
    assert.equal(b.layers.length, 2);
    const r = spawnSync('tar', ['-tvf', b.layers[0]!.tarPath], { encoding: 'utf8' });
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/));
    const byName = new Map(rows.map((c) => [c[5], c]));
    assert.deepEqual(byName.get('srv/')?.slice(0, 2), ['drwxr-x---', '1000/1000'], r.stdout);
    assert.deepEqual(byName.get('srv/x')?.slice(0, 2), ['-rwsr-xr-x', '1000/50'], r.stdout);
    assert.equal(byName.get('srv/y')?.[0]?.[0], 'h', r.stdout);
    assert.deepEqual(byName.get('srv/z')?.slice(6), ['->', 'x'], r.stdout);
    assert.equal(b.layers[1]!.diffId, sha256(readFileSync(raw)));
    const cfg = JSON.parse(readFileSync(blobPath(b.layout, b.config.digest), 'utf8'));
    assert.deepEqual(cfg.config.Entrypoint, ['/srv/x']);
    assert.equal(cfg.config.WorkingDir, '/srv');
    assert.deepEqual(cfg.config.Labels, { a: 'b' });
    assert.equal(cfg.created, '2024-01-01T00:00:00Z');
  });

  it('the registry serves every pushed tag with the expected media type', async () => {
    const repos = await reg!.catalog();
    for (const { v, pushed, built } of images) {
      assert.ok(repos.includes(`berth/${v.name}`), `${v.name} not in ${repos.join(',')}`);
      assert.equal(pushed.mediaType, v.mediaType, v.name);
      if (v.format === 'oci') {
        assert.equal(pushed.digest, (built.index ?? built.manifest).digest, v.name);
      }
      const m = await reg!.manifest(`berth/${v.name}`, 'v1');
      assert.equal(m.digest, pushed.digest);
      assert.equal(sha256(m.body), pushed.digest);
    }
  });

  it('ctr images pull --plain-http pulls and unpacks every variant', () => {
    for (const { v, pushed } of images) {
      const out = ctrOk('pull', ['images', 'pull', '--plain-http', pushed.ref]);
      assert.match(out, /done|unpacking/i, v.name);
    }
    const ls = ctrOk('pull', ['images', 'ls']);
    const rows = table(ls);
    assert.deepEqual(rows[0]?.slice(0, 4), ['REF', 'TYPE', 'DIGEST', 'SIZE']);
    for (const { v, pushed } of images) {
      const row = rows.find((r) => r[0] === pushed.ref);
      assert.ok(row, `${pushed.ref} not in images ls:\n${ls}`);
      assert.equal(row[1], v.mediaType, v.name);
      assert.equal(row[2], pushed.digest, v.name);
      assert.match(ls, /linux\/amd64|linux\/arm64/);
    }
    const check = ctrOk('pull', ['images', 'check']);
    for (const { pushed } of images) {
      const line = check.split('\n').find((l) => l.startsWith(`${pushed.ref} `));
      assert.ok(line, `${pushed.ref} not in images check:\n${check}`);
      assert.match(line, /complete/, line);
    }
  });

  it('ctr content ls lists every blob of the pulled images', () => {
    const ls = ctrOk('pull', ['content', 'ls']);
    const digests = new Set(table(ls).map((r) => r[0]));
    for (const { v, built, pushed } of images) {
      for (const l of built.layers) {
        // skopeo re-encodes nothing for oci pushes; v2s2 keeps the gzip bytes too.
        assert.ok(digests.has(l.digest), `${v.name}: layer ${l.digest} missing:\n${ls}`);
      }
      assert.ok(digests.has(built.config.digest), `${v.name}: config missing`);
      assert.ok(digests.has(pushed.digest), `${v.name}: ${pushed.digest} missing`);
    }
    assert.equal(ctrOk('pull', ['content', 'active']).trim().split('\n').length, 1);
  });

  it('ctr snapshots ls shows the committed chain of the multi-layer image', () => {
    const rows = table(ctrOk('pull', ['snapshots', 'ls']));
    assert.deepEqual(rows[0], ['KEY', 'PARENT', 'KIND']);
    const committed = rows.slice(1).filter((r) => r.at(-1) === 'Committed');
    // busybox's one layer is L1 of every multi image: 3 chain ids in all.
    assert.equal(committed.length, 3, JSON.stringify(rows));
    assert.equal(committed.filter((r) => r.length === 2).length, 1, 'one snapshot has no parent');
  });

  it('ctr content fetch --plain-http fetches every blob', () => {
    for (const name of ['busybox', 'multi', 'multi-zstd', 'multi-index']) {
      const { built, pushed } = img(name);
      const ns = `fetch-${name}`;
      ctrOk(ns, ['content', 'fetch', '--plain-http', pushed.ref]);
      const ls = ctrOk(ns, ['content', 'ls']);
      const rows = table(ls).slice(1);
      const want = [
        pushed.digest,
        ...(built.index ? [built.manifest.digest] : []),
        built.config.digest,
        ...built.layers.map((l) => l.digest),
      ].sort();
      assert.deepEqual(rows.map((r) => r[0]).sort(), want, `${name}:\n${ls}`);
      for (const d of want) {
        const r = spawnSync('ctr', ['--address', sock(), '-n', ns, 'content', 'get', d], {
          maxBuffer: 64 << 20,
        });
        assert.equal(r.status, 0, r.stderr?.toString());
        assert.equal(sha256(r.stdout), d);
      }
      assert.equal(ctrOk(ns, ['content', 'active']).trim().split('\n').length, 1);
      // fetch records an image but does not unpack it
      assert.ok(table(ctrOk(ns, ['images', 'ls'])).some((r) => r[0] === pushed.ref));
      assert.equal(table(ctrOk(ns, ['snapshots', 'ls'])).length, 1, 'no snapshots after fetch');
    }
  });

  it('ctr images mount shows whiteouts and opaque directories applied', (t) => {
    if (!readFileSync('/proc/filesystems', 'utf8').includes('overlay')) {
      t.skip('no overlayfs here');
      return;
    }
    for (const { v, pushed } of images) {
      const target = join(cdDir!.path, 'mnt', v.name);
      mkdirSync(target, { recursive: true });
      ctrOk('pull', ['images', 'mount', pushed.ref, target]);
      mounted.push({ ns: 'pull', target });
      const what = `${v.name} at ${target}:\n${listing(target)}`;
      assert.ok(statSync(join(target, 'bin/busybox')).isFile(), what);
      assert.equal(readlinkSync(join(target, 'bin/sh')), 'busybox', what);
      if (v.multi) {
        assert.deepEqual(readdirSync(join(target, 'etc/berth')), ['b.txt'], what);
        assert.equal(readFileSync(join(target, 'etc/berth/b.txt'), 'utf8'), 'b\n');
        assert.deepEqual(readdirSync(join(target, 'data/dir')), ['new.txt'], what);
        assert.equal(readFileSync(join(target, 'data/dir/new.txt'), 'utf8'), 'new\n');
      } else {
        assert.deepEqual(readdirSync(target), ['bin'], what);
      }
      const r = spawnSync(join(target, 'bin/busybox'), ['echo', 'hi']);
      assert.equal(r.stdout?.toString(), 'hi\n');
      ctrOk('pull', ['images', 'unmount', '--rm', target]);
      mounted.pop();
      assert.deepEqual(mountsUnder(target), [], `${what} still mounted`);
    }
  });
});

function blobPath(layout: string, digest: string): string {
  return join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

/** `ls -lR`-ish, for failure messages. */
function listing(dir: string): string {
  return (readdirSync(dir, { recursive: true }) as string[])
    .sort()
    .map((p) => {
      const st = lstatSync(join(dir, p));
      return `${(st.mode & 0o7777).toString(8).padStart(4, '0')} ${st.uid}:${st.gid} ${p}`;
    })
    .join('\n');
}

function tarNames(tar: string): string[] {
  const r = spawnSync('tar', ['-tf', tar], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l !== '');
}

/** Mount points at or below `path`, from /proc/self/mountinfo (octal escapes decoded). */
function mountsUnder(path: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined)
    .map((m) =>
      m.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))),
    )
    .filter((m) => m === path || m.startsWith(`${path}/`));
}
