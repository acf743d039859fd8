/**
 * Differential test of the direct write into an overlay upperdir (upper.ts,
 * union.ts): every sequence of layers is applied twice, once through the
 * overlay's merged view (the kernel makes whiteouts, opaque marks and
 * copy-ups) and once straight into the upperdirs, and the two stacks,
 * mounted, must show the same tree entry by entry. Hostile layers must fail
 * the same way in both, naming the entry, with nothing written outside.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import type { TarWriteEntry } from '../archive/index.js';
import { kindOf } from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import { lgetxattr, llistxattr } from '../sys/linux.js';
import { mountAll, unmountAll } from '../sys/mount.js';
import { WalkingApplier } from './apply.js';
import { applyTar } from './layer-writer.js';
import { fingerprint, MemoryContent, tarOf } from './testing.js';

const T = { sec: 1_600_000_000, nsec: 7 };
const T2 = { sec: 1_650_000_000, nsec: 9 };
/** Directory mtimes after this are "now" (set by the kernel while writing), not compared. */
const OLD = 1_700_000_000n * 1_000_000_000n;
const X = (v: string) => new Map([['user.note', Buffer.from(v)]]);

type H = Partial<TarWriteEntry['header']>;
const file = (name: string, body: string, h: H = {}): TarWriteEntry => ({
  header: { name, type: 'file', mode: 0o644, size: Buffer.byteLength(body), mtime: T, ...h },
  body: Buffer.from(body),
});
const dir = (name: string, h: H = {}): TarWriteEntry => ({
  header: { name, type: 'dir', mode: 0o755, mtime: T, ...h },
});
const sym = (name: string, target: string): TarWriteEntry => ({
  header: { name, type: 'symlink', linkname: target, mode: 0o777, mtime: T },
});
const hard = (name: string, target: string): TarWriteEntry => ({
  header: { name, type: 'hardlink', linkname: target, mode: 0o644, mtime: T },
});
const wh = (name: string): TarWriteEntry => file(name, '');

/** The merged tree: type, mode, owner, size, nlink, rdev, content hash, link target, xattrs; old mtimes. */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(root, r);
      const st = lstatSync(p, { bigint: true });
      let extra = '';
      if (st.isSymbolicLink()) extra = `-> ${readlinkSync(p)}`;
      else if (st.isFile()) extra = createHash('sha256').update(readFileSync(p)).digest('hex');
      const xattrs = llistxattr(p)
        .filter((n) => !n.startsWith('security.selinux'))
        .sort()
        .map((n) => `${n}=${lgetxattr(p, n).toString('hex')}`)
        .join(',');
      const mtime = st.isDirectory() && st.mtimeNs > OLD ? 'now' : String(st.mtimeNs);
      out.push(
        `${r} ${st.mode.toString(8)} ${st.uid}:${st.gid} n${st.nlink} r${st.rdev} ` +
          `${st.isDirectory() ? '' : st.size} ${mtime} ${extra} [${xattrs}]`,
      );
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

type Outcome = { tree: string[] } | { error: string; kind: string; layer: number };

describe('direct upperdir writes equal writes through the merged view (root)', () => {
  let tmp: TempDir;
  let n = 0;
  before(() => {
    tmp = tempDir('berth-upper-root-');
  });
  after(() => tmp.remove());

  /** Applies `layers` in order, each over the ones before, `direct` or through the merged view. */
  async function stack(layers: TarWriteEntry[][], direct: boolean): Promise<Outcome> {
    const base = join(tmp.path, `s${++n}`);
    const uppers: string[] = [];
    const outside = join(base, 'outside');
    mkdirSync(outside, { recursive: true });
    for (const [i, entries] of layers.entries()) {
      const upper = join(base, `u${i}`);
      const work = join(base, `w${i}`);
      mkdirSync(upper);
      mkdirSync(work);
      const tar = await tarOf(entries);
      const lowers = [...uppers].reverse();
      const source = (async function* () {
        yield tar;
      })();
      try {
        if (i === 0) await applyTar(source, upper);
        else if (direct) await applyTar(source, upper, { lowers });
        else {
          const m = join(base, `m${i}`);
          mkdirSync(m);
          mountAll(
            [
              {
                type: 'overlay',
                source: 'overlay',
                options: [`workdir=${work}`, `upperdir=${upper}`, `lowerdir=${lowers.join(':')}`],
              },
            ],
            m,
          );
          try {
            await applyTar(source, m, { overlay: true });
          } finally {
            unmountAll(m);
          }
        }
      } catch (err) {
        assert.deepEqual(readdirSync(outside), [], 'nothing written outside the layers');
        return { error: (err as Error).message, kind: kindOf(err), layer: i };
      }
      uppers.push(upper);
    }
    const merged = join(base, 'merged');
    mkdirSync(merged);
    const lowers = [...uppers].reverse();
    if (lowers.length === 1) lowers.push(join(base, 'w0')); // overlay needs two lowers without an upper
    mountAll(
      [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`] }],
      merged,
    );
    try {
      return { tree: tree(merged) };
    } finally {
      unmountAll(merged);
    }
  }

  async function same(layers: TarWriteEntry[][]): Promise<Outcome> {
    const through = await stack(layers, false);
    const direct = await stack(layers, true);
    assert.deepEqual(direct, through);
    return direct;
  }

  const base: TarWriteEntry[] = [
    dir('usr/', { mtime: T2 }),
    dir('usr/lib/', { mode: 0o750, uid: 5, gid: 6, xattrs: X('lib'), mtime: T2 }),
    file('usr/lib/libc.so', 'libc', { mode: 0o755, uid: 7, xattrs: X('libc') }),
    file('usr/lib/libm.so', 'libm'),
    dir('usr/lib/deep/'),
    dir('usr/lib/deep/er/', { mode: 0o711 }),
    file('usr/lib/deep/er/f', 'f'),
    sym('lib', 'usr/lib'),
    sym('abs', '/etc'),
    sym('up', '../..'),
    sym('link', 'usr/lib/libm.so'),
    hard('usr/lib/libm-again.so', 'usr/lib/libm.so'),
    { header: { name: 'usr/lib/fifo', type: 'fifo', mode: 0o640, uid: 3, mtime: T } },
    file('a.txt', 'a'),
    file('plain', 'p'),
    dir('data/'),
    file('data/one', '1'),
    dir('data/sub/'),
    file('data/sub/two', '2'),
    dir('tmp/'),
  ];

  it('new files in lower directories copy their parents up with the lower metadata', async () => {
    const r = await same([
      base,
      [file('usr/lib/deep/er/g', 'g'), file('usr/lib/new.so', 'new'), file('lib/via-link', 'l')],
    ]);
    assert.ok('tree' in r && r.tree.some((l) => l.startsWith('usr/lib/via-link ')));
  });

  it('whiteouts of files, directories, missing names and lower-only subdirectories', async () => {
    const r = await same([
      base,
      [
        wh('.wh.a.txt'),
        wh('.wh.data'),
        wh('.wh.missing'),
        wh('usr/lib/deep/er/.wh.f'),
        wh('nodir/.wh.x'),
      ],
    ]);
    assert.ok('tree' in r && !r.tree.some((l) => l.startsWith('a.txt ') || l.startsWith('data')));
  });

  it('opaque directories: with a dir entry, without one, missing, nested kept dirs, the root', async () => {
    await same([
      base,
      [
        dir('data/'),
        wh('data/.wh..wh..opq'),
        file('data/new', 'n'),
        wh('usr/lib/deep/.wh..wh..opq'),
      ],
    ]);
    await same([base, [dir('data/sub/'), file('data/sub/three', '3'), wh('data/.wh..wh..opq')]]);
    await same([base, [wh('fresh/.wh..wh..opq'), file('fresh/x', 'x')]]);
    await same([base, [file('keep', 'k'), dir('usr/'), file('usr/x', 'x'), wh('.wh..wh..opq')]]);
  });

  it('hardlinks to lower files, to lower symlinks and to this layer`s files', async () => {
    const r = await same([
      base,
      [
        hard('hl', 'usr/lib/libc.so'),
        hard('usr/lib/deep/hl2', 'link'),
        hard('usr/lib/deep/hl3', 'usr/lib/libm-again.so'),
        hard('fifo-link', 'usr/lib/fifo'),
        file('mine', 'm'),
        hard('mine2', 'mine'),
      ],
    ]);
    assert.ok('tree' in r && r.tree.some((l) => l.startsWith('hl ') && l.includes(' n2 ')));
  });

  it('replacing: file by dir, dir by file, symlink by file, dir over dir merges', async () => {
    await same([
      base,
      [
        dir('plain/'),
        file('plain/in', 'i'),
        file('data', 'now a file'),
        file('link', 'not a link'),
        dir('usr/lib/', { mode: 0o700, uid: 9, xattrs: X('new') }),
        file('usr/lib/more', 'more'),
      ],
    ]);
  });

  it('three layers: re-creating what the middle layer whited out does not merge with the bottom', async () => {
    await same([
      base,
      [wh('.wh.data'), wh('.wh.a.txt'), wh('usr/lib/.wh.libm.so')],
      [dir('data/'), file('data/back', 'b'), file('a.txt', 'again'), file('usr/lib/libm.so', 'm2')],
    ]);
    await same([
      base,
      [wh('usr/lib/.wh..wh..opq'), file('usr/lib/only', 'o')],
      [file('usr/lib/deep/x', 'x'), hard('usr/lib/h', 'usr/lib/only'), wh('usr/lib/.wh.libc.so')],
    ]);
    await same([
      base,
      [dir('data/'), wh('data/.wh..wh..opq'), file('data/mid', 'm')],
      [file('data/top', 't'), wh('data/.wh.mid'), hard('data/hl', 'usr/lib/libm.so')],
    ]);
  });

  it('overlayfs xattrs in a layer are stored as the kernel stores them: no forged opaque mark or redirect', async () => {
    const forged = new Map([
      ['trusted.overlay.opaque', Buffer.from('y')],
      ['trusted.overlay.redirect', Buffer.from('/usr/lib')],
      ['user.kept', Buffer.from('k')],
    ]);
    const r = await same([
      base,
      [
        dir('data/', { xattrs: forged }),
        file('data/extra', 'e'),
        dir('other/', { xattrs: forged }),
      ],
    ]);
    assert.ok('tree' in r && r.tree.some((l) => l.startsWith('data/one ')));
  });

  it('one layer writing a path twice, whiting it out and writing it again', async () => {
    await same([
      base,
      [
        file('a.txt', 'first'),
        file('a.txt', 'second'),
        wh('.wh.data'),
        dir('data/'),
        file('data/x', 'x'),
        wh('data/.wh.x'),
        file('data/x', 'x again'),
        wh('.wh.tmp'),
        file('tmp', 'tmp is a file'),
      ],
    ]);
  });

  it('directories the layer made itself: names written again, replaced, whited out, reached through links', async () => {
    // The writer skips the lookup of a name in a directory it made, unless
    // it wrote that name itself: each step below writes over, removes or
    // re-creates what such a directory already holds (an EEXIST or a
    // stale entry would show).
    const own: TarWriteEntry[] = [
      dir('own/'),
      file('own/f', 'one'),
      file('own/f', 'two'),
      file('own/g', 'g'),
      dir('own/g/'),
      file('own/g/in', 'in'),
      dir('own/sub/'),
      file('own/sub', 'sub is a file now'),
      sym('own/s', 'f'),
      file('own/s', 'not a link'),
      file('own/deep/er/x', 'x'),
      wh('own/.wh.deep'),
      file('own/deep/er/x', 'x again'),
      hard('own/h', 'own/f'),
      file('own/h', 'h replaced'),
      dir('own/target/'),
      sym('own/via', 'target'),
      file('own/via/t', 't'),
      file('own/target/t', 't again'),
      dir('own/target/'),
      dir('own/opq/'),
      file('own/opq/kept', 'k'),
      wh('own/opq/.wh..wh..opq'),
      file('own/opq/kept', 'k2'),
    ];
    const first = await same([own]);
    const over = await same([base, own]);
    for (const r of [first, over]) {
      assert.ok('tree' in r, JSON.stringify(r));
      const line = (p: string) => r.tree.find((l) => l.startsWith(`${p} `)) ?? '';
      const hash = (s: string) => createHash('sha256').update(s).digest('hex');
      assert.ok(line('own/f').includes(hash('two')));
      assert.ok(line('own/g/in').includes(hash('in')));
      assert.ok(line('own/sub').includes(hash('sub is a file now')));
      assert.ok(line('own/s').includes(hash('not a link')));
      assert.ok(line('own/deep/er/x').includes(hash('x again')));
      assert.ok(line('own/h').includes(hash('h replaced')) && line('own/h').includes(' n1 '));
      assert.ok(line('own/f').includes(' n1 '));
      assert.ok(line('own/target/t').includes(hash('t again')));
      assert.ok(line('own/via').includes('-> target'));
      assert.ok(line('own/opq/kept').includes(hash('k2')));
    }
  });

  it('owners and modes of new entries: setgid directories, default ACLs, the umask, special bits', async () => {
    // The writer skips chown and chmod where a new entry is made right
    // (root's, in a directory it made, a mode the umask leaves whole); the
    // cases around that shortcut, each compared with the merged view's.
    const acl = (...entries: [number, number][]) => {
      const b = Buffer.alloc(4 + 8 * entries.length);
      b.writeUInt32LE(2, 0);
      for (const [i, [tag, perm]] of entries.entries()) {
        b.writeUInt16LE(tag, 4 + 8 * i);
        b.writeUInt16LE(perm, 6 + 8 * i);
        b.writeUInt32LE(0xffff_ffff, 8 + 8 * i);
      }
      return b;
    };
    // user::rwx group::r-x other::--- : new files get at most 0750 of what they ask.
    const defaultAcl = acl([0x01, 7], [0x04, 5], [0x20, 0]);
    const layer: TarWriteEntry[] = [
      dir('sg/', { mode: 0o2775, gid: 42 }),
      file('sg/f', 'f'),
      file('sg/g', 'g', { gid: 42 }),
      dir('sg/sub/'),
      file('sg/sub/h', 'h'),
      file('sg/implicit/i', 'i'),
      sym('sg/l', 'f'),
      dir('acl/', { xattrs: new Map([['system.posix_acl_default', defaultAcl]]) }),
      file('acl/f', 'f', { mode: 0o644 }),
      file('acl/x', 'x', { mode: 0o755 }),
      dir('acl/sub/'),
      file('acl/sub/f', 'f'),
      dir('modes/'),
      file('modes/666', 'a', { mode: 0o666 }),
      file('modes/777', 'b', { mode: 0o777 }),
      file('modes/000', 'c', { mode: 0o000 }),
      file('modes/444', 'd', { mode: 0o444 }),
      file('modes/suid', 'e', { mode: 0o4755 }),
      file('modes/sgid', 'e', { mode: 0o2755, gid: 42 }),
      file('modes/sticky', 'e', { mode: 0o1644 }),
      file('modes/owned', 'o', { uid: 7, gid: 8 }),
      sym('modes/l', 'owned'),
      {
        header: {
          name: 'modes/l2',
          type: 'symlink',
          linkname: 'x',
          mode: 0o777,
          uid: 5,
          gid: 6,
          mtime: T,
        },
      },
      file('top', 't', { mode: 0o600 }),
    ];
    // A directory with a default ACL from a lower layer (copied up), and one kept by a second entry.
    const more: TarWriteEntry[] = [
      file('acl/y', 'y', { mode: 0o755 }),
      dir('acl/'),
      file('acl/z', 'z', { mode: 0o755 }),
      dir('sg/', { mode: 0o2775, gid: 42 }),
      file('sg/k', 'k', { gid: 42 }),
    ];
    for (const layers of [[layer], [base, layer], [layer, more], [[...layer, ...more]]]) {
      const r = await same(layers);
      assert.ok('tree' in r, JSON.stringify(r));
      const line = (p: string) => r.tree.find((l) => l.startsWith(`${p} `)) ?? '';
      assert.match(line('sg/f'), / 100644 0:0 /);
      assert.match(line('sg/g'), / 100644 0:42 /);
      assert.match(line('sg/implicit'), / 42755 0:42 /);
      assert.match(line('sg/sub/h'), / 100644 0:0 /);
      assert.match(line('sg/implicit/i'), / 100644 0:0 /);
      assert.match(line('sg/l'), / 120777 0:0 /);
      assert.match(line('acl/f'), / 100644 0:0 /);
      assert.match(line('acl/sub/f'), / 100644 0:0 /);
      assert.match(line('modes/666'), / 100666 /);
      assert.match(line('modes/suid'), / 104755 0:0 /);
      assert.match(line('modes/sgid'), / 102755 0:42 /);
      assert.match(line('modes/owned'), / 100644 7:8 /);
      assert.match(line('modes/l2'), / 120777 5:6 /);
    }
  });

  it('hostile and broken layers fail the same way, naming the entry, writing nothing outside', async () => {
    const cases: TarWriteEntry[][] = [
      [file('abs/passwd', 'x')],
      [file('up/escape', 'x')],
      [file('plain/x', 'x')],
      [hard('h', '../../etc/passwd')],
      [hard('h', 'absent')],
      [hard('h', 'abs/passwd')],
      [wh('.wh..')],
    ];
    for (const layer of cases) {
      const r = await same([base, layer]);
      assert.ok('error' in r, `layer ${JSON.stringify(layer[0]!.header.name)} must fail`);
      assert.equal(r.kind, 'invalid_argument');
      assert.match(r.error, /entry "/);
    }
  });

  it('WalkingApplier writes an empty upperdir directly and a used one through the merged view', async () => {
    const content = new MemoryContent();
    const ctx = { namespace: 'default', signal: new AbortController().signal, log: nullLogger };
    const applier = new WalkingApplier(content, { tempDir: tmp.path });
    const root = join(tmp.path, 'applier');
    const [lower, upper, work] = ['lower', 'upper', 'work'].map((d) => join(root, d));
    for (const d of [lower!, upper!, work!]) mkdirSync(d, { recursive: true });
    const layer = async (entries: TarWriteEntry[]) => {
      const data = await tarOf(entries);
      return {
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: content.add(data),
        size: data.length,
      };
    };
    await applier.apply(ctx, await layer(base), [
      { type: 'bind', source: lower!, options: ['rbind', 'rw'] },
    ]);
    const mounts = [
      {
        type: 'overlay',
        source: 'overlay',
        options: ['index=off', `workdir=${work}`, `upperdir=${upper}`, `lowerdir=${lower}`],
      },
    ];
    const ours = () =>
      readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .filter((l) => l.includes(tmp.path));
    const before = ours();
    await applier.apply(ctx, await layer([wh('.wh.a.txt'), file('usr/lib/x', 'x')]), mounts);
    // Direct: no mount was made, so the workdir is untouched.
    assert.deepEqual(readdirSync(work!), []);
    assert.ok(lstatSync(join(upper!, 'a.txt')).isCharacterDevice());
    assert.equal(lstatSync(join(upper!, 'usr/lib')).mode & 0o7777, 0o750);
    await applier.apply(ctx, await layer([file('tmp/y', 'y')]), mounts);
    // Not empty any more: written through the merged view, which the kernel set up in the workdir.
    assert.notDeepEqual(readdirSync(work!), []);
    assert.deepEqual(ours(), before, 'no mount left');
    assert.ok(fingerprint(upper!).some((l) => l.startsWith('tmp/y ')));
  });
});
