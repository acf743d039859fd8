/**
 * Cross-checks against implementations that are not ours: GNU tar, Python's
 * tarfile, and the kernel (extracted files read back with lstat and
 * getxattr).
 *
 * Binary xattr values (bytes ≥ 0x80, NUL, newline, invalid UTF-8) need an
 * oracle that does not decode them, which rules out tar-stream. Ours:
 * - the kernel: GNU tar archives files whose `user.*` xattrs were set with
 *   os.setxattr (rootless), and extracts our archives; os.getxattr returns
 *   the raw bytes on both sides. As root, `security.capability` too.
 * - Python tarfile decodes PAX values as UTF-8 with `surrogateescape`, a
 *   bijection on byte strings: `value.encode('utf-8', 'surrogateescape')`
 *   gives back the exact bytes in the archive.
 * Nothing here needs root; the root-only check is skipped without it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  createReadStream,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import type { TarHeader } from './header.js';
import { readTar } from './reader.js';
import { type TarWriteEntry, type TarWriteHeader, writeTar } from './writer.js';

const CAP = Buffer.from('0100000280000000000000000000000000000000', 'hex');
const BINARY = Buffer.from([0x80, 0xff, 0x00, 0x0a, 0x3d, 0xc3, 0x28, 0x41]); // NUL, \n, =, bad UTF-8

function run(cmd: string, args: string[], opts: { input?: Buffer; ok?: boolean } = {}): string {
  const r = spawnSync(cmd, args, { input: opts.input, maxBuffer: 1 << 28 });
  if ((opts.ok ?? true) && r.status !== 0) {
    assert.fail(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  }
  return r.stdout.toString();
}

/** Python's view of an archive: every field, names and xattrs as hex of their bytes. */
const PY_LIST = `
import tarfile, json, sys, hashlib, math
from decimal import Decimal
out = []
with tarfile.open(sys.argv[1], 'r:') as tf:
  for m in tf:
    data = tf.extractfile(m).read() if m.isreg() else b''
    pax = m.pax_headers
    t = Decimal(pax['mtime']) if 'mtime' in pax else Decimal(int(m.mtime))
    sec = math.floor(t)
    dev = m.ischr() or m.isblk()
    b = lambda s: s.encode('utf-8', 'surrogateescape').hex()
    out.append(dict(
      name=b(m.name), type=m.type.decode(), linkname=b(m.linkname), mode=m.mode & 0o7777,
      uid=m.uid, gid=m.gid, uname=m.uname, gname=m.gname, size=m.size if m.isreg() else 0,
      mtime=[sec, int((t - sec) * 10**9)], devmajor=m.devmajor if dev else 0, devminor=m.devminor if dev else 0,
      xattrs={k[13:]: b(v) for k, v in pax.items() if k.startswith('SCHILY.xattr.')},
      sha256=hashlib.sha256(data).hexdigest()))
print(json.dumps(out))
`;

/** The xattrs of every path under a directory, as the kernel returns them. */
const PY_XATTRS = `
import os, json, sys
res = {}
for root, dirs, files in os.walk(sys.argv[1]):
  for n in [''] + dirs + files if root == sys.argv[1] else dirs + files:
    p = os.path.join(root, n) if n else root
    names = os.listxattr(p, follow_symlinks=False)
    res[os.path.relpath(p, sys.argv[1])] = {k: os.getxattr(p, k, follow_symlinks=False).hex() for k in names}
print(json.dumps(res))
`;

const TYPE_CHAR: Record<TarHeader['type'], string[]> = {
  file: ['0', '\0', '7'],
  hardlink: ['1'],
  symlink: ['2'],
  char: ['3'],
  block: ['4'],
  dir: ['5'],
  fifo: ['6'],
};

interface PyEntry {
  name: string;
  type: string;
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  size: number;
  mtime: [number, number];
  devmajor: number;
  devminor: number;
  xattrs: Record<string, string>;
  sha256: string;
}

function pythonList(archive: string): PyEntry[] {
  return JSON.parse(run('python3', ['-c', PY_LIST, archive]));
}

function kernelXattrs(dir: string): Record<string, Record<string, string>> {
  return JSON.parse(run('python3', ['-c', PY_XATTRS, dir]));
}

async function readOurs(archive: string) {
  const out: { header: TarHeader; sha256: string }[] = [];
  for await (const { header, body } of readTar(createReadStream(archive))) {
    const hash = createHash('sha256');
    for await (const c of body) hash.update(c);
    out.push({ header, sha256: hash.digest('hex') });
  }
  return out;
}

/** Our entries in Python's terms (Python drops a directory's trailing slash). */
function asPython({ header: h, sha256 }: { header: TarHeader; sha256: string }): PyEntry {
  const name = h.type === 'dir' ? stripSlash(h.nameBytes) : h.nameBytes;
  return {
    name: name.toString('hex'),
    type: h.type,
    linkname: h.linknameBytes.toString('hex'),
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    uname: h.uname,
    gname: h.gname,
    size: h.size,
    mtime: [h.mtime.sec, h.mtime.nsec],
    devmajor: h.devmajor,
    devminor: h.devminor,
    xattrs: Object.fromEntries([...h.xattrs].map(([k, v]) => [k, v.toString('hex')])),
    sha256,
  };
}

function stripSlash(b: Buffer): Buffer {
  let end = b.length;
  while (end > 1 && b[end - 1] === 0x2f) end--;
  return b.subarray(0, end);
}

function assertSameAsPython(ours: { header: TarHeader; sha256: string }[], python: PyEntry[]) {
  assert.equal(ours.length, python.length);
  for (const [i, py] of python.entries()) {
    const mine = asPython(ours[i]!);
    assert.ok(TYPE_CHAR[mine.type as TarHeader['type']].includes(py.type), `${py.name}: type`);
    assert.deepEqual({ ...mine, type: py.type }, py, Buffer.from(py.name, 'hex').toString());
  }
}

/**
 * A tree with everything a layer holds that a non-root user can create:
 * long names (> 100, > 255 bytes), a long symlink target, a hardlink, a
 * fifo, setuid/setgid/sticky modes, nanosecond mtimes, binary user xattrs.
 */
function makeTree(root: string): { xattrs: boolean } {
  const long = `${'n'.repeat(120)}/${'m'.repeat(150)}`;
  mkdirSync(join(root, 'dir'));
  mkdirSync(join(root, 'n'.repeat(120)));
  writeFileSync(join(root, 'dir/file'), 'hello\n');
  linkSync(join(root, 'dir/file'), join(root, 'dir/hard'));
  writeFileSync(join(root, 'dir/setuid'), '#!/bin/sh\n');
  chmodSync(join(root, 'dir/setuid'), 0o4755);
  writeFileSync(join(root, 'dir/setgid'), 'g');
  chmodSync(join(root, 'dir/setgid'), 0o2750);
  writeFileSync(join(root, long), Buffer.alloc(70_000, 0xab));
  writeFileSync(join(root, 'café ünï'), 'unicode\n');
  writeFileSync(join(root, 'empty'), '');
  symlinkSync('t'.repeat(200), join(root, 'long-link'));
  symlinkSync('dir/file', join(root, 'rel-link'));
  run('mkfifo', [join(root, 'fifo')]);
  chmodSync(join(root, 'dir'), 0o1777);
  const xattrs =
    spawnSync('python3', [
      '-c',
      `import os; os.setxattr('${root}/dir/file', 'user.bin', bytes.fromhex('${BINARY.toString('hex')}')); os.setxattr('${root}/dir/file', 'user.text', b'plain'); os.setxattr('${root}/dir', 'user.d', b'\\xff')`,
    ]).status === 0;
  // Nanosecond mtimes, deepest first so that directories keep theirs.
  const paths = [
    'dir/file',
    'dir/setuid',
    'dir/setgid',
    long,
    'café ünï',
    'empty',
    'long-link',
    'rel-link',
    'fifo',
    'n'.repeat(120),
    'dir',
    '.',
  ];
  for (const [i, p] of paths.entries()) {
    run('touch', [
      '-h',
      '-d',
      `@1700000000.${String(123456789 + i * 1111).padStart(9, '0')}`,
      join(root, p),
    ]);
  }
  return { xattrs };
}

/** Headers for the tree as a layer writer would make them (lstat, readlink, inode map for hardlinks). */
async function* walk(
  root: string,
  xattrs: Record<string, Record<string, string>>,
): AsyncGenerator<TarWriteEntry> {
  const seen = new Map<bigint, string>();
  async function* visit(rel: string): AsyncGenerator<TarWriteEntry> {
    const path = join(root, rel);
    const st = lstatSync(path, { bigint: true });
    const header = {
      name: rel,
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtime: {
        sec: Number(st.mtimeNs / 1_000_000_000n),
        nsec: Number(st.mtimeNs % 1_000_000_000n),
      },
      xattrs: new Map(
        Object.entries(xattrs[rel] ?? {}).map(([k, v]) => [k, Buffer.from(v, 'hex')]),
      ),
    };
    if (st.isDirectory()) {
      if (rel !== '.') yield { header: { ...header, name: `${rel}/`, type: 'dir' } };
      for (const name of readdirSync(path).sort())
        yield* visit(rel === '.' ? name : `${rel}/${name}`);
    } else if (st.isSymbolicLink()) {
      yield { header: { ...header, type: 'symlink', linkname: readlinkSync(path) } };
    } else if (st.isFIFO()) {
      yield { header: { ...header, type: 'fifo' } };
    } else if (seen.has(st.ino)) {
      yield { header: { ...header, type: 'hardlink', linkname: seen.get(st.ino)! } };
    } else {
      seen.set(st.ino, rel);
      const h: TarWriteHeader = { ...header, type: 'file', size: Number(st.size) };
      yield { header: h, body: createReadStream(path) };
    }
  }
  yield* visit('.');
}

async function writeFile(path: string, entries: AsyncIterable<TarWriteEntry> | TarWriteEntry[]) {
  const parts: Buffer[] = [];
  for await (const c of writeTar(entries)) parts.push(c);
  writeFileSync(path, Buffer.concat(parts));
}

describe('tar against GNU tar, Python tarfile and the kernel', () => {
  let tmp: TempDir;
  let tree: string;
  let hasXattrs: boolean;

  before(() => {
    tmp = tempDir();
    tree = join(tmp.path, 'tree');
    mkdirSync(tree);
    hasXattrs = makeTree(tree).xattrs;
  });
  after(() => tmp.remove());

  for (const format of ['pax', 'gnu'] as const) {
    it(`reads what GNU tar --format=${format} writes, as Python and the filesystem see it`, async () => {
      const archive = join(tmp.path, `gnu-${format}.tar`);
      const xattrFlags = format === 'pax' ? ['--xattrs', '--xattrs-include=*'] : [];
      run('tar', [
        `--format=${format}`,
        ...xattrFlags,
        '--sort=name',
        '-C',
        tree,
        '-cf',
        archive,
        '.',
      ]);
      const ours = await readOurs(archive);
      assertSameAsPython(ours, pythonList(archive));

      const kernel = kernelXattrs(tree);
      const types = new Set<string>();
      for (const { header: h, sha256 } of ours) {
        types.add(h.type);
        const rel = stripSlash(h.nameBytes).toString();
        const st = lstatSync(join(tree, rel), { bigint: true });
        assert.equal(h.mode, Number(st.mode & 0o7777n), `${rel}: mode`);
        const ns = st.mtimeNs;
        if (format === 'pax') {
          assert.equal(
            BigInt(h.mtime.sec) * 1_000_000_000n + BigInt(h.mtime.nsec),
            ns,
            `${rel}: mtime`,
          );
          // GNU tar keeps xattrs with the file's data, not on later hardlinks to it.
          const want =
            h.type === 'hardlink'
              ? []
              : Object.entries(kernel[rel.replace(/^\.\/?/, '') || '.'] ?? {});
          assert.deepEqual(
            [...h.xattrs].map(([k, v]) => [k, v.toString('hex')]),
            want,
            `${rel}: xattrs`,
          );
        } else {
          assert.equal(BigInt(h.mtime.sec), ns / 1_000_000_000n, `${rel}: mtime`);
        }
        if (h.type === 'symlink') assert.equal(h.linkname, readlinkSync(join(tree, rel)));
        if (h.type === 'hardlink') {
          assert.equal(lstatSync(join(tree, h.linkname)).ino, Number(st.ino), `${rel}: same inode`);
        }
        if (h.type === 'file') {
          assert.equal(
            sha256,
            createHash('sha256')
              .update(readFileSync(join(tree, rel)))
              .digest('hex'),
          );
        }
        assert.equal(st.isFIFO(), h.type === 'fifo');
      }
      assert.deepEqual([...types].sort(), ['dir', 'fifo', 'file', 'hardlink', 'symlink']);
      assert.ok(
        ours.some((e) => e.header.nameBytes.length > 255),
        'a name over 255 bytes',
      );
      assert.ok(
        ours.some((e) => e.header.linkname.length === 200),
        'a 200-byte link target',
      );
      if (format === 'pax' && hasXattrs) {
        const file = ours.find((e) => e.header.name === './dir/file')!;
        assert.deepEqual(file.header.xattrs.get('user.bin'), BINARY);
      }
    });
  }

  for (const format of ['pax', 'gnu'] as const) {
    it(`reads devices, base-256 numbers and long names that Python writes as ${format}`, async () => {
      const archive = join(tmp.path, `py-${format}.tar`);
      run('python3', [
        '-c',
        `
import tarfile, io, sys
fmt = tarfile.PAX_FORMAT if sys.argv[2] == 'pax' else tarfile.GNU_FORMAT
with tarfile.open(sys.argv[1], 'w', format=fmt) as tf:
  def add(name, type, data=b'', **kw):
    ti = tarfile.TarInfo(name); ti.type = type; ti.size = len(data); ti.mode = 0o644
    for k, v in kw.items(): setattr(ti, k, v)
    tf.addfile(ti, io.BytesIO(data) if data else None)
  add('dev/', tarfile.DIRTYPE, mode=0o1777)
  add('dev/null', tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)
  add('dev/loop0', tarfile.BLKTYPE, devmajor=7, devminor=0, mode=0o660)
  add('dev/big', tarfile.CHRTYPE, devmajor=4095, devminor=1048575)
  add('fifo', tarfile.FIFOTYPE)
  add('ids', tarfile.REGTYPE, b'x' * 1000, uid=3000000, gid=2**32 - 1, uname='u' * 32, gname='g')
  add('old', tarfile.REGTYPE, b'y', mtime=-86400)
  add('suid', tarfile.REGTYPE, b'z', mode=0o6755, mtime=1700000000)
  add('L' * 300, tarfile.REGTYPE, b'long')
  add('K', tarfile.SYMTYPE, linkname='K' * 300, mode=0o777)
  add('hard', tarfile.LNKTYPE, linkname='L' * 300)
`,
        archive,
        format,
      ]);
      const ours = await readOurs(archive);
      assertSameAsPython(ours, pythonList(archive));
      const byName = new Map(ours.map((e) => [e.header.name, e.header]));
      assert.deepEqual(
        [byName.get('dev/big')!.devmajor, byName.get('dev/big')!.devminor],
        [4095, 1048575],
      );
      assert.equal(byName.get('ids')!.uid, 3_000_000);
      assert.equal(byName.get('ids')!.gid, 2 ** 32 - 1);
      assert.deepEqual(byName.get('old')!.mtime, { sec: -86400, nsec: 0 });
      assert.equal(byName.get('K')!.linkname, 'K'.repeat(300));
      if (format === 'gnu') {
        const raw = readFileSync(archive);
        assert.ok(raw.includes('././@LongLink'), 'GNU L/K headers were used');
        const at = (name: string) => {
          for (let o = 0; o < raw.length; o += 512) {
            if (raw.toString('latin1', o, o + name.length + 1) === `${name}\0`) return o;
          }
          return assert.fail(`no header for ${name}`);
        };
        assert.equal(raw[at('ids') + 108], 0x80, 'uid in base-256');
        assert.equal(raw[at('ids') + 116], 0x80, 'gid in base-256');
        assert.equal(raw[at('old') + 136], 0xff, 'negative mtime in base-256');
      }
    });
  }

  it('writes what Python reads back field for field, binary xattrs included', async () => {
    const archive = join(tmp.path, 'ours.tar');
    const entries: TarWriteEntry[] = [
      {
        header: {
          name: 'dev/',
          type: 'dir',
          mode: 0o1777,
          mtime: { sec: 1700000000, nsec: 123456789 },
        },
      },
      { header: { name: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 } },
      { header: { name: 'dev/loop0', type: 'block', mode: 0o660, devmajor: 7, devminor: 0 } },
      { header: { name: 'dev/big', type: 'char', mode: 0o600, devmajor: 4095, devminor: 1048575 } },
      { header: { name: 'fifo', type: 'fifo', mode: 0o644, mtime: { sec: -86400, nsec: 5 } } },
      {
        header: {
          name: 'usr/bin/newuidmap',
          type: 'file',
          mode: 0o4755,
          size: 5,
          uid: 3_000_000,
          gid: 0xffff_ffff,
          uname: 'u'.repeat(40),
          gname: 'é',
          xattrs: new Map([
            ['security.capability', CAP],
            ['user.bin', BINARY],
          ]),
        },
        body: Buffer.from('hello'),
      },
      {
        header: {
          name: `${'p'.repeat(200)}/${'q'.repeat(200)}`,
          type: 'file',
          mode: 0o644,
          size: 1,
        },
        body: Buffer.from('x'),
      },
      { header: { name: 'sym', type: 'symlink', mode: 0o777, linkname: 's'.repeat(300) } },
      { header: { name: 'hard', type: 'hardlink', mode: 0o644, linkname: 'usr/bin/newuidmap' } },
      {
        header: {
          name: 'raw',
          nameBytes: Buffer.from([0x72, 0xff, 0x80]),
          type: 'file',
          mode: 0o644,
        },
      },
    ];
    await writeFile(archive, entries);
    const python = pythonList(archive);
    const ours = await readOurs(archive);
    assertSameAsPython(ours, python);
    const cap = python.find((e) => e.name === Buffer.from('usr/bin/newuidmap').toString('hex'))!;
    assert.equal(cap.xattrs['security.capability'], CAP.toString('hex'));
    assert.equal(cap.xattrs['user.bin'], BINARY.toString('hex'));

    const listing = run('tar', ['-tvf', archive]);
    assert.match(listing, /^crw-rw-rw- .* 1,3 .* dev\/null$/m);
    assert.match(listing, /^brw-rw---- .* 7,0 .* dev\/loop0$/m);
    assert.match(listing, /^-rwsr-xr-x .*\/.* 5 .* usr\/bin\/newuidmap$/m);
    assert.match(listing, /^hrw-r--r-- .* hard link to usr\/bin\/newuidmap$/m);
    assert.match(listing, new RegExp(`^lrwxrwxrwx .* sym -> ${'s'.repeat(300)}$`, 'm'));
    assert.match(listing, /^drwxrwxrwt .* dev\/$/m);
  });

  it('writes sizes over 8 GiB that GNU tar and Python read', async () => {
    const size = 2 ** 33 + 5;
    const archive = join(tmp.path, 'big-header.tar');
    const parts: Buffer[] = [];
    for await (const c of writeTar([
      { header: { name: 'big', type: 'file', mode: 0o644, size }, body: [] },
    ])) {
      parts.push(c);
      break; // the header alone: 8 GiB of body is not needed to read it
    }
    writeFileSync(archive, Buffer.concat(parts));
    assert.match(run('tar', ['-tvf', archive], { ok: false }), new RegExp(` ${size} .* big\n`));
    const py = run('python3', [
      '-c',
      "import tarfile,sys; print(next(iter(tarfile.open(sys.argv[1], 'r|'))).size)",
      archive,
    ]);
    assert.equal(Number(py.trim()), size);
  });

  it('writes a tree GNU tar finds identical (tar --compare) and extracts exactly', async () => {
    const archive = join(tmp.path, 'tree.tar');
    const xattrs = kernelXattrs(tree);
    await writeFile(archive, walk(tree, xattrs));
    const diff = spawnSync('tar', ['--compare', '-f', archive, '-C', tree]);
    assert.equal(`${diff.stdout}${diff.stderr}`, '');
    assert.equal(diff.status, 0);

    const dest = join(tmp.path, 'extracted');
    mkdirSync(dest);
    run('tar', ['--xattrs', '--xattrs-include=user.*', '-xpf', archive, '-C', dest]);
    for (const entry of readdirSync(tree, { recursive: true }) as string[]) {
      const a = lstatSync(join(tree, entry), { bigint: true });
      const b = lstatSync(join(dest, entry), { bigint: true });
      assert.equal(b.mode, a.mode, `${entry}: mode`);
      assert.equal(b.mtimeNs, a.mtimeNs, `${entry}: mtime`);
      assert.equal(b.size, a.size, `${entry}: size`);
      if (a.isSymbolicLink())
        assert.equal(readlinkSync(join(dest, entry)), readlinkSync(join(tree, entry)));
      if (a.isFile())
        assert.deepEqual(readFileSync(join(dest, entry)), readFileSync(join(tree, entry)));
    }
    assert.equal(lstatSync(join(dest, 'dir/hard')).ino, lstatSync(join(dest, 'dir/file')).ino);
    if (hasXattrs) {
      assert.deepEqual(kernelXattrs(dest), xattrs);
      assert.equal(kernelXattrs(dest)['dir/file']?.['user.bin'], BINARY.toString('hex'));
    }
  });

  it('writes security.capability that GNU tar extracts byte for byte (root only)', {
    skip: process.getuid?.() !== 0 && 'needs root',
  }, async () => {
    const archive = join(tmp.path, 'cap.tar');
    await writeFile(archive, [
      {
        header: {
          name: 'newuidmap',
          type: 'file',
          mode: 0o4755,
          size: 2,
          xattrs: new Map([['security.capability', CAP]]),
        },
        body: Buffer.from('#!'),
      },
    ]);
    const dest = join(tmp.path, 'cap');
    mkdirSync(dest);
    run('tar', ['--xattrs', '--xattrs-include=*', '-xpf', archive, '-C', dest]);
    const got = run('python3', [
      '-c',
      "import os,sys; print(os.getxattr(sys.argv[1], 'security.capability').hex())",
      join(dest, 'newuidmap'),
    ]);
    assert.equal(got.trim(), CAP.toString('hex'));
    assert.equal(lstatSync(join(dest, 'newuidmap')).mode & 0o7777, 0o4755);
  });
});
