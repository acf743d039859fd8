import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import {
  compress,
  decompress,
  MEDIA_TYPES,
  readTar,
  type TarWriteEntry,
  writeTar,
} from '../archive/index.js';
import { kindOf } from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import { lgetxattr } from '../sys/linux.js';
import { mountAll, unmountAll } from '../sys/mount.js';
import { WalkingApplier } from './apply.js';
import { WalkingComparer } from './compare.js';
import { collect, fingerprint, gzipOf, MemoryContent, tarOf } from './testing.js';

const ctx = { namespace: 'default', signal: new AbortController().signal, log: nullLogger };
const T = { sec: 1_700_000_000, nsec: 5 };
const CAP = Buffer.from('0100000280feff00000000000000000000000000', 'hex');

const file = (name: string, body: string, mode = 0o644, extra: object = {}): TarWriteEntry => ({
  header: {
    name,
    type: 'file',
    mode,
    uid: 0,
    gid: 0,
    size: Buffer.byteLength(body),
    mtime: T,
    ...extra,
  },
  body: Buffer.from(body),
});
const dir = (name: string): TarWriteEntry => ({
  header: { name, type: 'dir', mode: 0o755, mtime: T },
});

function mountsOf(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
}

describe('walking differ (root)', () => {
  let tmp: TempDir;
  let content: MemoryContent;
  let applier: WalkingApplier;
  let comparer: WalkingComparer;
  before(() => {
    tmp = tempDir('berth-diff-root-');
    content = new MemoryContent();
    applier = new WalkingApplier(content, { tempDir: tmp.path });
    comparer = new WalkingComparer(content, { tempDir: tmp.path });
  });
  after(() => tmp.remove());

  async function applyTo(
    mounts: { type: string; source: string; options: string[] }[],
    entries: TarWriteEntry[],
  ) {
    const blob = await gzipOf(await tarOf(entries));
    const digest = content.add(blob);
    return applier.apply(
      ctx,
      { mediaType: MEDIA_TYPES.ociLayerGzip, digest, size: blob.length },
      mounts,
    );
  }

  it('round trip: binary security.capability, setuid, devices survive apply then compare', async () => {
    const snap = join(tmp.path, 'rt');
    const empty = join(tmp.path, 'rt-empty');
    mkdirSync(snap);
    mkdirSync(empty);
    const entries: TarWriteEntry[] = [
      dir('bin/'),
      file('bin/ping', 'ELF', 0o4755, {
        uid: 1000,
        gid: 1001,
        xattrs: new Map([['security.capability', CAP]]),
      }),
      { header: { name: 'dev/', type: 'dir', mode: 0o755, mtime: T } },
      {
        header: { name: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3, mtime: T },
      },
      file('sgid', 's', 0o2775),
      file('sticky', 's', 0o1777),
    ];
    await applyTo([{ type: 'bind', source: snap, options: ['rbind', 'rw'] }], entries);
    const st = lstatSync(join(snap, 'bin/ping'));
    assert.equal(st.mode & 0o7777, 0o4755);
    assert.equal(st.uid, 1000);
    assert.ok(lgetxattr(join(snap, 'bin/ping'), 'security.capability').equals(CAP));
    const desc = await comparer.compare(
      ctx,
      [{ type: 'bind', source: empty, options: ['rbind', 'ro'] }],
      [{ type: 'bind', source: snap, options: ['rbind', 'ro'] }],
    );
    const blob = content.blobs.get(desc.digest)!;
    assert.ok(blob.labels['containerd.io/uncompressed']);
    const got = new Map<string, { mode: number; uid: number; cap?: Buffer; type: string }>();
    const gen = (async function* () {
      yield blob.data;
    })();
    for await (const { header } of readTar(decompress(MEDIA_TYPES.ociLayerGzip, gen))) {
      const cap = header.xattrs.get('security.capability');
      got.set(header.name, {
        mode: header.mode,
        uid: header.uid,
        type: header.type,
        ...(cap ? { cap } : {}),
      });
    }
    assert.equal(got.get('bin/ping')?.mode, 0o4755);
    assert.equal(got.get('bin/ping')?.uid, 1000);
    assert.ok(got.get('bin/ping')?.cap?.equals(CAP), 'capability bytes unchanged');
    assert.equal(got.get('sgid')?.mode, 0o2775);
    assert.equal(got.get('sticky')?.mode, 0o1777);
    assert.equal(got.get('dev/null')?.type, 'char');
    // And the produced layer applies back to the same tree.
    const again = join(tmp.path, 'rt-again');
    mkdirSync(again);
    await applier.apply(ctx, desc, [{ type: 'bind', source: again, options: ['rbind', 'rw'] }]);
    assert.deepEqual(fingerprint(again), fingerprint(snap));
    assert.ok(lgetxattr(join(again, 'bin/ping'), 'security.capability').equals(CAP));
  });

  it('overlay: whiteouts become 0/0 char devices, opaque dirs get trusted.overlay.opaque, no mount left', async () => {
    const base = join(tmp.path, 'ov');
    const lower = join(base, 'lower');
    const upper = join(base, 'upper');
    const work = join(base, 'work');
    for (const d of [lower, upper, work]) mkdirSync(d, { recursive: true });
    await applyTo(
      [{ type: 'bind', source: lower, options: ['rbind', 'rw'] }],
      [
        file('a.txt', 'a'),
        dir('data/'),
        dir('data/dir/'),
        file('data/dir/old.txt', 'o'),
        dir('tmp/'),
      ],
    );
    const before = mountsOf().length;
    await applyTo(
      [
        {
          type: 'overlay',
          source: 'overlay',
          options: [`workdir=${work}`, `upperdir=${upper}`, `lowerdir=${lower}`],
        },
      ],
      [
        file('.wh.a.txt', ''),
        dir('data/dir/'),
        file('data/dir/.wh..wh..opq', ''),
        file('data/dir/new.txt', 'n'),
        file('tmp/b.txt', 'b'),
      ],
    );
    assert.equal(mountsOf().length, before, 'no mount left behind');
    // Written through a `volatile` overlay: the kernel's marker is gone, so
    // the same upper and work dirs mount again.
    assert.ok(!existsSync(join(work, 'work', 'incompat')), 'no volatile marker left');
    await applyTo(
      [
        {
          type: 'overlay',
          source: 'overlay',
          options: [`workdir=${work}`, `upperdir=${upper}`, `lowerdir=${lower}`],
        },
      ],
      [file('tmp/c.txt', 'c')],
    );
    assert.ok(existsSync(join(upper, 'tmp/c.txt')));
    assert.ok(!existsSync(join(work, 'work', 'incompat')));
    const wh = lstatSync(join(upper, 'a.txt'));
    assert.ok(wh.isCharacterDevice());
    assert.equal(wh.rdev, 0);
    assert.equal(lgetxattr(join(upper, 'data/dir'), 'trusted.overlay.opaque').toString(), 'y');
    assert.ok(existsSync(join(upper, 'data/dir/new.txt')));
    // The merged view: a.txt gone, data/dir holds only new.txt.
    const merged = join(base, 'merged');
    mkdirSync(merged);
    mountAll(
      [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${upper}:${lower}`] }],
      merged,
    );
    try {
      assert.ok(!existsSync(join(merged, 'a.txt')));
      assert.deepEqual(
        fingerprint(join(merged, 'data/dir')).map((l) => l.split(' ')[0]),
        ['new.txt'],
      );
    } finally {
      unmountAll(merged);
    }
  });

  it('a gzip bomb (2 GiB of zeros) is bounded by disk, not memory', async () => {
    const small = join(tmp.path, 'small');
    mkdirSync(small);
    mountAll([{ type: 'tmpfs', source: 'tmpfs', options: ['size=64m'] }], small);
    try {
      const size = 2 * 1024 * 1024 * 1024;
      const zeros = Buffer.alloc(1 << 20);
      const body = (function* () {
        for (let i = 0; i < size / zeros.length; i++) yield zeros;
      })();
      const blob = await collect(
        compress(
          'gzip',
          writeTar([{ header: { name: 'zero', type: 'file', mode: 0o644, size, mtime: T }, body }]),
          {
            level: 9,
          },
        ),
      );
      assert.ok(blob.length < 4 * 1024 * 1024, `bomb is ${blob.length} bytes`);
      const digest = content.add(blob);
      const rss0 = process.memoryUsage().rss;
      let peak = rss0;
      const timer = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 20);
      try {
        await assert.rejects(
          applier.apply(ctx, { mediaType: MEDIA_TYPES.ociLayerGzip, digest, size: blob.length }, [
            { type: 'bind', source: small, options: ['rbind', 'rw'] },
          ]),
          (err: Error) => kindOf(err) === 'resource_exhausted' && /ENOSPC/.test(err.message),
        );
      } finally {
        clearInterval(timer);
      }
      assert.ok(peak - rss0 < 256 * 1024 * 1024, `RSS grew by ${(peak - rss0) >> 20} MiB`);
    } finally {
      unmountAll(small);
    }
    writeFileSync(join(tmp.path, 'done'), '');
  });
});
