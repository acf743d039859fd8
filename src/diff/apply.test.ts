import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { MEDIA_TYPES, type TarWriteEntry } from '../archive/index.js';
import { kindOf } from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import { removeTree } from '../sys/remove-tree.js';
import { INLINE_MAX, WalkingApplier } from './apply.js';
import { ApplyWorkers } from './apply-workers.js';
import { fingerprint, gzipOf, MemoryContent, sha256, tarOf } from './testing.js';

const ctx = { namespace: 'default', signal: new AbortController().signal, log: nullLogger };
const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;
const T = { sec: 1_700_000_000, nsec: 123_456_789 };

const file = (name: string, body: string, mode = 0o644): TarWriteEntry => ({
  header: { name, type: 'file', mode, uid, gid, size: Buffer.byteLength(body), mtime: T },
  body: Buffer.from(body),
});
const dir = (name: string, mode = 0o755): TarWriteEntry => ({
  header: { name, type: 'dir', mode, uid, gid, mtime: T },
});
const symlink = (name: string, linkname: string): TarWriteEntry => ({
  header: { name, type: 'symlink', linkname, mode: 0o777, uid, gid, mtime: T },
});
const hardlink = (name: string, linkname: string): TarWriteEntry => ({
  header: { name, type: 'hardlink', linkname, mode: 0o644, uid, gid, mtime: T },
});
const raw = (nameBytes: Buffer): TarWriteEntry => ({
  header: { name: 'x', nameBytes, type: 'file', mode: 0o644, uid, gid, size: 0, mtime: T },
});

describe('WalkingApplier (bind target)', () => {
  let tmp: TempDir;
  let target: string;
  let outside: string;
  let content: MemoryContent;
  let applier: WalkingApplier;

  before(() => {
    tmp = tempDir('berth-diff-');
  });
  after(() => tmp.remove());
  beforeEach(() => {
    removeTree(join(tmp.path, 'w'), tmp.path);
    target = join(tmp.path, 'w/snap');
    outside = join(tmp.path, 'w/etc');
    mkdirSync(target, { recursive: true });
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, 'passwd'), 'sentinel\n');
    writeFileSync(join(outside, 'shadow'), 'secret\n');
    content = new MemoryContent();
    applier = new WalkingApplier(content, { tempDir: tmp.path });
  });

  const bind = () => [{ type: 'bind', source: target, options: ['rbind', 'rw'] }];

  async function apply(entries: TarWriteEntry[], gzip = true) {
    const tar = await tarOf(entries);
    const blob = gzip ? await gzipOf(tar) : tar;
    const digest = content.add(blob);
    const mediaType = gzip ? MEDIA_TYPES.ociLayerGzip : MEDIA_TYPES.ociLayer;
    const desc = await applier.apply(ctx, { mediaType, digest, size: blob.length }, bind());
    assert.equal(desc.digest, sha256(tar));
    assert.equal(desc.size, tar.length);
    assert.equal(desc.mediaType, MEDIA_TYPES.ociLayer);
    return desc;
  }

  it('writes files, dirs, symlinks, hardlinks and fifos with their metadata', async () => {
    await apply([
      dir('a/', 0o750),
      file('a/f.txt', 'hello', 0o640),
      symlink('a/l', 'f.txt'),
      hardlink('a/h', 'a/f.txt'),
      { header: { name: 'a/p', type: 'fifo', mode: 0o600, uid, gid, mtime: T } },
      file('deep/er/x', 'x'),
    ]);
    assert.equal(readFileSync(join(target, 'a/f.txt'), 'utf8'), 'hello');
    const st = lstatSync(join(target, 'a/f.txt'), { bigint: true });
    assert.equal(Number(st.mode & 0o7777n), 0o640);
    assert.equal(st.mtimeNs, 1_700_000_000_123_456_789n);
    assert.equal(st.nlink, 2n);
    assert.equal(readlinkSync(join(target, 'a/l')), 'f.txt');
    assert.ok(lstatSync(join(target, 'a/p')).isFIFO());
    const d = lstatSync(join(target, 'a'), { bigint: true });
    assert.equal(Number(d.mode & 0o7777n), 0o750);
    assert.equal(d.mtimeNs, 1_700_000_000_123_456_789n, 'directory times are set after contents');
    assert.ok(existsSync(join(target, 'deep/er/x')));
  });

  it('applies whiteouts and opaque directories as deletions', async () => {
    await apply([
      file('a.txt', 'a'),
      file('d/old', 'o'),
      file('d/sub/old', 'o'),
      file('keep', 'k'),
    ]);
    await apply([
      file('.wh.a.txt', ''),
      dir('d/'),
      file('d/.wh..wh..opq', ''),
      file('d/new.txt', 'n'),
      file('b.txt', 'b'),
    ]);
    assert.ok(!existsSync(join(target, 'a.txt')));
    assert.ok(existsSync(join(target, 'b.txt')));
    assert.ok(existsSync(join(target, 'keep')));
    assert.deepEqual(
      fingerprint(join(target, 'd')).map((l) => l.split(' ')[0]),
      ['new.txt'],
    );
  });

  it('follows relative symlinks that stay inside, across layers', async () => {
    await apply([dir('usr/'), dir('usr/lib/'), symlink('lib', 'usr/lib')]);
    await apply([file('lib/x.so', 'x')]);
    assert.equal(readFileSync(join(target, 'usr/lib/x.so'), 'utf8'), 'x');
    assert.ok(lstatSync(join(target, 'lib')).isSymbolicLink());
  });

  it('uncompressed layers apply and their diffID is their digest', async () => {
    await apply([file('plain', 'p')], false);
    assert.ok(existsSync(join(target, 'plain')));
  });

  it('refuses encrypted and unknown media types', async () => {
    for (const mediaType of [`${MEDIA_TYPES.ociLayerGzip}+encrypted`, 'application/x-foo']) {
      await assert.rejects(
        applier.apply(ctx, { mediaType, digest: sha256(Buffer.alloc(0)), size: 0 }, bind()),
        (err) => kindOf(err) === 'not_implemented',
      );
    }
  });

  it('fails on a wrong diffID label', async () => {
    const tar = await tarOf([file('f', 'f')]);
    const blob = await gzipOf(tar);
    const digest = content.add(blob, { 'containerd.io/uncompressed': sha256(Buffer.from('no')) });
    await assert.rejects(
      applier.apply(
        ctx,
        { mediaType: MEDIA_TYPES.ociLayerGzip, digest, size: blob.length },
        bind(),
      ),
      (err: Error) => kindOf(err) === 'failed_precondition' && /wrong diff id/.test(err.message),
    );
  });

  describe('hostile layers fail clearly and touch nothing outside', () => {
    const long = 'a'.repeat(120);
    const cases: [string, () => TarWriteEntry[][], RegExp][] = [
      ['../ traversal', () => [[file('../etc/passwd', 'pwned')]], /"\.\." component/],
      ['deep traversal', () => [[file('a/../../etc/passwd', 'pwned')]], /"\.\." component/],
      ['absolute path', () => [[file('/etc/passwd', 'pwned')]], /absolute path/],
      [
        'symlink escape',
        () => [[symlink('link', '/etc'), file('link/passwd', 'pwned')]],
        /symlink to the absolute path "\/etc"/,
      ],
      [
        'relative symlink climbing out',
        () => [[symlink('up', '../../..'), file('up/etc/passwd', 'pwned')]],
        /climbs above the layer root/,
      ],
      [
        'hardlink escape',
        () => [[hardlink('h', '../../etc/shadow')]],
        /hardlink target.*"\.\." component/,
      ],
      ['absolute hardlink', () => [[hardlink('h', '/etc/shadow')]], /hardlink target.*absolute/],
      [
        'hardlink through a symlink',
        () => [[symlink('s', '/etc'), hardlink('h', 's/shadow')]],
        /symlink to the absolute path/,
      ],
      ['whiteout naming ..', () => [[file('.wh...', '')]], /whiteout names "\.\."/],
      ['whiteout naming .', () => [[file('d/.wh..', '')]], /whiteout names "\."/],
      [
        'symlink chain across two layers',
        () => [[symlink('x', 'y')], [symlink('y', '/etc'), file('x/passwd', 'pwned')]],
        /symlink to the absolute path/,
      ],
      [
        'pax path override with ..',
        () => [[file(`${long}/../../../etc/passwd`, 'pwned')]],
        /"\.\." component/,
      ],
      ['overlong component', () => [[file(`${'n'.repeat(300)}`, 'x')]], /over 255 bytes/],
      [
        'overlong component in 2-byte characters',
        () => [[file('é'.repeat(128), 'x')]],
        /over 255 bytes/,
      ],
      ['overlong name', () => [[file(`${'d/'.repeat(2100)}f`, 'x')]], /over PATH_MAX/],
      [
        'symlink loop',
        () => [[symlink('a', 'b'), symlink('b', 'a'), file('a/x', 'x')]],
        /symlink loop/,
      ],
      ['invalid UTF-8 name', () => [[raw(Buffer.from([0x66, 0xff, 0xfe]))]], /not valid UTF-8/],
    ];
    for (const [what, layers, message] of cases) {
      it(what, async () => {
        const before = fingerprint(join(tmp.path, 'w/etc'));
        const all = layers();
        for (const [i, entries] of all.entries()) {
          const p = apply(entries);
          if (i < all.length - 1) {
            await p;
            continue;
          }
          await assert.rejects(p, (err: Error) => {
            assert.equal(kindOf(err), 'invalid_argument', err.message);
            assert.match(err.message, message);
            assert.match(err.message, /entry "/);
            return true;
          });
        }
        assert.deepEqual(fingerprint(join(tmp.path, 'w/etc')), before);
        // The caller removes the snapshot: nothing of it is left.
        removeTree(target, tmp.path);
        assert.deepEqual(
          fingerprint(join(tmp.path, 'w')).map((l) => l.split(' ')[0]),
          ['etc', 'etc/passwd', 'etc/shadow'],
        );
      });
    }
  });

  it('a symlink planted in the target before apply cannot redirect it either', async () => {
    symlinkSync(outside, join(target, 'evil'));
    await assert.rejects(apply([file('evil/passwd', 'pwned')]), /absolute path/);
    assert.equal(readFileSync(join(outside, 'passwd'), 'utf8'), 'sentinel\n');
  });
});

describe('WalkingApplier workers', () => {
  let tmp: TempDir;
  before(() => {
    tmp = tempDir('berth-diff-workers-');
  });
  after(() => tmp.remove());

  async function applyTo(
    applier: WalkingApplier,
    content: MemoryContent,
    target: string,
    entries: TarWriteEntry[],
  ) {
    const blob = await gzipOf(await tarOf(entries));
    const digest = content.add(blob);
    return applier.apply(ctx, { mediaType: MEDIA_TYPES.ociLayerGzip, digest, size: blob.length }, [
      { type: 'bind', source: target, options: ['rbind', 'rw'] },
    ]);
  }

  // Layers over INLINE_MAX go to a worker; smaller ones are written on the main thread.
  const pad = 'x'.repeat(INLINE_MAX);

  it('writes a small layer without a worker', async () => {
    const workers = new ApplyWorkers();
    const content = new MemoryContent();
    const applier = new WalkingApplier(content, { tempDir: tmp.path, workers });
    const target = join(tmp.path, 'small');
    mkdirSync(target, { recursive: true });
    await applyTo(applier, content, target, [file('s.txt', 's')]);
    assert.equal(readFileSync(join(target, 's.txt'), 'utf8'), 's');
    assert.equal(workers.started, 0);
  });

  it('reuses one worker across Applies, failed ones included', async () => {
    const workers = new ApplyWorkers({ idleMs: 600_000 });
    const content = new MemoryContent();
    const applier = new WalkingApplier(content, { tempDir: tmp.path, workers });
    const target = join(tmp.path, 'snap');
    mkdirSync(target, { recursive: true });
    // Many chunks of a failing layer are in flight when it fails: the next
    // Apply on the same worker must not see them.
    await assert.rejects(
      applyTo(applier, content, target, [file('../evil', 'x'), file('pad', pad)]),
      (err: unknown) => kindOf(err) === 'invalid_argument' && /"\.\." component/.test(String(err)),
    );
    await applyTo(applier, content, target, [file('a.txt', 'a'), file('big', pad)]);
    await applyTo(applier, content, target, [file('b.txt', 'b'), file('big2', pad)]);
    assert.equal(readFileSync(join(target, 'a.txt'), 'utf8'), 'a');
    assert.equal(readFileSync(join(target, 'b.txt'), 'utf8'), 'b');
    assert.equal(readFileSync(join(target, 'big'), 'utf8').length, pad.length);
    assert.ok(!existsSync(join(tmp.path, 'evil')));
    assert.equal(workers.started, 1);
    assert.equal(workers.idle, 1);
    await workers.close();
    assert.equal(workers.idle, 0);
  });

  it('stops an idle worker, and starts a new one for the next Apply', async () => {
    const workers = new ApplyWorkers({ idleMs: 50 });
    const content = new MemoryContent();
    const applier = new WalkingApplier(content, { tempDir: tmp.path, workers });
    const target = join(tmp.path, 'idle');
    mkdirSync(target, { recursive: true });
    await applyTo(applier, content, target, [file('a.txt', 'a'), file('big', pad)]);
    assert.equal(workers.started, 1);
    while (workers.idle > 0) await new Promise((r) => setTimeout(r, 20));
    await applyTo(applier, content, target, [file('c.txt', 'c'), file('big3', pad)]);
    assert.equal(readFileSync(join(target, 'c.txt'), 'utf8'), 'c');
    assert.equal(workers.started, 2);
    await workers.close();
  });

  // A gzip layer whose compressed size is beyond INLINE_MAX is inflated in the worker.
  const noise = randomBytes(INLINE_MAX + (1 << 20));
  const big = (name: string): TarWriteEntry => ({
    header: { ...file(name, '').header, size: noise.length },
    body: noise,
  });

  it('inflates and hashes a big gzip layer in the worker', async () => {
    const workers = new ApplyWorkers({ idleMs: 600_000 });
    const content = new MemoryContent();
    const applier = new WalkingApplier(content, { tempDir: tmp.path, workers });
    const target = join(tmp.path, 'gz');
    mkdirSync(target, { recursive: true });
    const tar = await tarOf([dir('d'), file('d/a.txt', 'a'), big('noise')]);
    const blob = await gzipOf(tar);
    assert.ok(blob.length > INLINE_MAX);
    const digest = content.add(blob, { 'containerd.io/uncompressed': sha256(tar) });
    const got = await applier.apply(
      ctx,
      { mediaType: MEDIA_TYPES.ociLayerGzip, digest, size: blob.length },
      [{ type: 'bind', source: target, options: ['rbind', 'rw'] }],
    );
    assert.deepEqual(got, {
      mediaType: MEDIA_TYPES.ociLayer,
      digest: sha256(tar),
      size: tar.length,
    });
    assert.equal(readFileSync(join(target, 'd/a.txt'), 'utf8'), 'a');
    assert.ok(readFileSync(join(target, 'noise')).equals(noise));
    assert.equal(workers.started, 1);
    await workers.close();
  });

  it('fails a corrupt, truncated or mislabelled big gzip layer, and the worker serves the next', async () => {
    const workers = new ApplyWorkers({ idleMs: 600_000 });
    const content = new MemoryContent();
    const applier = new WalkingApplier(content, { tempDir: tmp.path, workers });
    const target = join(tmp.path, 'gzbad');
    mkdirSync(target, { recursive: true });
    const tar = await tarOf([file('ok.txt', 'ok'), big('n')]);
    const blob = await gzipOf(tar);
    const applyBlob = (b: Buffer, labels: Record<string, string> = {}) => {
      const digest = content.add(b, labels);
      return applier.apply(ctx, { mediaType: MEDIA_TYPES.ociLayerGzip, digest, size: b.length }, [
        { type: 'bind', source: target, options: ['rbind', 'rw'] },
      ]);
    };
    const corrupt = Buffer.from(blob);
    corrupt.fill(0x55, blob.length >> 1, (blob.length >> 1) + 4096);
    await assert.rejects(
      applyBlob(corrupt),
      (err: unknown) => kindOf(err) === 'invalid_argument' && /gzip: /.test(String(err)),
    );
    await assert.rejects(
      applyBlob(blob.subarray(0, blob.length - 1000)),
      (err: unknown) =>
        kindOf(err) === 'invalid_argument' && /gzip: unexpected end of file/.test(String(err)),
    );
    await assert.rejects(
      applyBlob(blob, { 'containerd.io/uncompressed': sha256(Buffer.from('other')) }),
      (err: unknown) => kindOf(err) === 'failed_precondition' && /wrong diff id/.test(String(err)),
    );
    removeTree(target, tmp.path);
    mkdirSync(target, { recursive: true });
    const got = await applyBlob(blob);
    assert.equal(got.digest, sha256(tar));
    assert.equal(readFileSync(join(target, 'ok.txt'), 'utf8'), 'ok');
    assert.equal(workers.started, 1);
    await workers.close();
  });

  it('runs Applies at the same time on separate workers, and keeps one idle', async () => {
    const workers = new ApplyWorkers();
    const content = new MemoryContent();
    const applier = new WalkingApplier(content, { tempDir: tmp.path, workers });
    const targets = [0, 1, 2].map((i) => join(tmp.path, `par-${i}`));
    for (const t of targets) mkdirSync(t, { recursive: true });
    await Promise.all(
      targets.map((t, i) =>
        applyTo(applier, content, t, [file(`f${i}`, String(i)), file('pad', pad)]),
      ),
    );
    for (const [i, t] of targets.entries())
      assert.equal(readFileSync(join(t, `f${i}`), 'utf8'), String(i));
    assert.equal(workers.started, 3);
    assert.equal(workers.idle, 1);
    await workers.close();
  });
});
