import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { isFailedPrecondition, isInvalidArgument } from '../../core/errdefs/index.js';
import { BLOCK, F } from './header.js';
import { parseNumeric } from './numeric.js';
import { encodeHeader, type TarWriteEntry, TarWriter, writeTar } from './writer.js';

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

const CAP = Buffer.from('0100000280000000000000000000000000000000', 'hex');

describe('TarWriter', () => {
  it('writes a plain ustar header when everything fits, and PAX records only when needed', () => {
    const plain = encodeHeader({
      name: 'etc/passwd',
      type: 'file',
      mode: 0o644,
      size: 10,
      uid: 1,
      gid: 2,
    });
    assert.equal(plain.length, BLOCK);
    assert.equal(plain.toString('latin1', F.magic[0], F.magic[0] + 8), 'ustar\x0000');
    assert.equal(plain.toString('latin1', F.typeflag[0], F.typeflag[0] + 1), '0');
    assert.equal(plain.toString('latin1', F.mode[0], F.mode[0] + 8), '0000644\0');
    // 100-byte names still fit the name field.
    assert.equal(encodeHeader({ name: 'a'.repeat(100), type: 'dir', mode: 0o755 }).length, BLOCK);

    const cases: ReadonlyArray<[string, Parameters<typeof encodeHeader>[0], string]> = [
      ['long name', { name: 'a'.repeat(101), type: 'dir', mode: 0o755 }, `path=${'a'.repeat(101)}`],
      ['non-ASCII name', { name: 'é', type: 'dir', mode: 0o755 }, 'path=é'],
      [
        'long link',
        { name: 'l', type: 'symlink', mode: 0o777, linkname: 'b'.repeat(101) },
        'linkpath=b',
      ],
      ['big uid', { name: 'f', type: 'file', mode: 0o644, uid: 2097152 }, 'uid=2097152'],
      ['big gid', { name: 'f', type: 'file', mode: 0o644, gid: 0xffff_ffff }, 'gid=4294967295'],
      ['long uname', { name: 'f', type: 'file', mode: 0o644, uname: 'u'.repeat(33) }, 'uname=u'],
      [
        'ns mtime',
        { name: 'f', type: 'file', mode: 0o644, mtime: { sec: 1, nsec: 5 } },
        'mtime=1.000000005',
      ],
      [
        'negative mtime',
        { name: 'f', type: 'file', mode: 0o644, mtime: { sec: -5, nsec: 0 } },
        'mtime=-5\n',
      ],
      ['atime', { name: 'f', type: 'file', mode: 0o644, atime: { sec: 7, nsec: 0 } }, 'atime=7\n'],
      [
        'xattr',
        { name: 'f', type: 'file', mode: 0o644, xattrs: new Map([['user.a', Buffer.from('b')]]) },
        'SCHILY.xattr.user.a=b\n',
      ],
    ];
    for (const [doc, header, record] of cases) {
      const out = encodeHeader(header);
      assert.equal(out.length > BLOCK, true, doc);
      assert.equal(out[F.typeflag[0]], 0x78, `${doc}: an 'x' header first`);
      assert.ok(out.toString('utf8', BLOCK, out.length - BLOCK).includes(record), doc);
    }
  });

  it('writes xattr values byte for byte, and names PAX headers as Go does', () => {
    const out = encodeHeader({
      name: 'usr/bin/newuidmap',
      type: 'file',
      mode: 0o4755,
      xattrs: new Map([['security.capability', CAP]]),
    });
    const key = Buffer.from(' SCHILY.xattr.security.capability=');
    const record = Buffer.concat([
      Buffer.from(String(3 + key.length + CAP.length)),
      key,
      CAP,
      Buffer.from('\n'),
    ]);
    const dataSize = parseNumeric(out, ...F.size)!;
    assert.deepEqual(out.subarray(BLOCK, BLOCK + dataSize), record);
    assert.equal(out.toString('latin1', 0, out.indexOf(0)), 'usr/bin/PaxHeaders.0/newuidmap');
  });

  it('puts numbers too big for octal in base-256 too, for readers that skip PAX', () => {
    const size = 2 ** 33 + 5;
    const out = encodeHeader({ name: 'f', type: 'file', mode: 0o644, size, uid: 0xffff_ffff });
    const ustar = out.subarray(out.length - BLOCK);
    assert.equal(ustar[F.size[0]], 0x80);
    assert.equal(parseNumeric(ustar, ...F.size), size);
    assert.equal(parseNumeric(ustar, ...F.uid), 0xffff_ffff);
    assert.ok(out.toString('latin1').includes(`size=${size}\n`));
  });

  it('is deterministic', async () => {
    const entries = (): TarWriteEntry[] => [
      { header: { name: 'd/', type: 'dir', mode: 0o755, mtime: { sec: 1, nsec: 2 } } },
      {
        header: {
          name: 'd/f',
          type: 'file',
          mode: 0o644,
          size: 3,
          xattrs: new Map([
            ['user.z', CAP],
            ['user.a', CAP],
          ]),
        },
        body: [Buffer.from('a'), Buffer.from('bc')],
      },
    ];
    const a = await collect(writeTar(entries()));
    const b = await collect(writeTar(entries()));
    assert.deepEqual(a, b);
    // Pinned: a change in the bytes we write is a change in every layer digest we make.
    assert.equal(
      createHash('sha256').update(a).digest('hex'),
      '4e660f3621021f855eea001bbb043448e8a51ddc0b1575b9fd8dd088bf0c22f3',
    );
    assert.equal(a.length % BLOCK, 0);
    assert.deepEqual(a.subarray(a.length - 2 * BLOCK), Buffer.alloc(2 * BLOCK));
  });

  it('refuses headers it cannot write', () => {
    const table: ReadonlyArray<[string, Parameters<typeof encodeHeader>[0], RegExp]> = [
      ['empty name', { name: '', type: 'file', mode: 0o644 }, /empty name/],
      ['NUL', { name: 'a\0b', type: 'file', mode: 0o644 }, /NUL in name/],
      ['no target', { name: 'l', type: 'symlink', mode: 0o777 }, /without a target/],
      ['mode', { name: 'f', type: 'file', mode: 0o10644 }, /mode 4516 out of range/],
      ['uid', { name: 'f', type: 'file', mode: 0o644, uid: 2 ** 32 }, /uid .* out of range/],
      ['size on dir', { name: 'd', type: 'dir', mode: 0o755, size: 1 }, /size 1 out of range/],
      [
        'dev on file',
        { name: 'f', type: 'file', mode: 0o644, devmajor: 1 },
        /devmajor 1 out of range/,
      ],
      [
        'nsec',
        { name: 'f', type: 'file', mode: 0o644, mtime: { sec: 0, nsec: 1e9 } },
        /mtime nanoseconds/,
      ],
      [
        'xattr =',
        { name: 'f', type: 'file', mode: 0o644, xattrs: new Map([['a=b', CAP]]) },
        /invalid xattr name/,
      ],
      ['type', { name: 'f', type: 'socket' as never, mode: 0o644 }, /unknown type "socket"/],
    ];
    for (const [doc, header, re] of table) {
      assert.throws(
        () => encodeHeader(header),
        (err: Error) => isInvalidArgument(err) && re.test(err.message),
        doc,
      );
    }
  });

  it('fails an entry whose body is shorter or longer than its size, and the writer with it', async () => {
    for (const body of [Buffer.from('ab'), Buffer.from('abcd')]) {
      const w = new TarWriter();
      await assert.rejects(
        collect(w.entry({ name: 'f', type: 'file', mode: 0o644, size: 3 }, body)),
        /body is (2|more) bytes, header says 3/,
      );
      await assert.rejects(
        collect(w.entry({ name: 'g', type: 'dir', mode: 0o755 })),
        isFailedPrecondition,
      );
      assert.throws(() => w.end(), isFailedPrecondition);
    }
  });

  it('never yields more body bytes than the header says', async () => {
    const w = new TarWriter();
    const out: Buffer[] = [];
    await assert.rejects(async () => {
      for await (const c of w.entry({ name: 'f', type: 'file', mode: 0o644, size: 3 }, [
        Buffer.from('ab'),
        Buffer.from('cd'),
      ])) {
        out.push(c);
      }
    });
    assert.equal(Buffer.concat(out).length, BLOCK + 2);
  });

  it('counts bytes and refuses entries after the end', async () => {
    const w = new TarWriter();
    await collect(w.entry({ name: 'f', type: 'file', mode: 0o644, size: 1 }, Buffer.from('x')));
    assert.equal(w.bytes, 2 * BLOCK);
    w.end();
    assert.equal(w.bytes, 4 * BLOCK);
    await assert.rejects(
      collect(w.entry({ name: 'g', type: 'dir', mode: 0o755 })),
      /writer is ended/,
    );
  });
});
