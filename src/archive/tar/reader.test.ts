import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFailedPrecondition, isInvalidArgument, kindOf } from '../../core/errdefs/index.js';
import { BLOCK, checksums, F, type TarHeader } from './header.js';
import { formatNumeric } from './numeric.js';
import { formatPaxRecords } from './pax.js';
import { readTar } from './reader.js';
import { encodeHeader, type TarWriteEntry, type TarWriteHeader, writeTar } from './writer.js';

const CAP = Buffer.from('0100000280000000000000000000000000000000', 'hex');

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function tarOf(entries: TarWriteEntry[]): Promise<Buffer> {
  return collect(writeTar(entries));
}

async function* chunked(data: Buffer, size = 64 * 1024): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function readAll(data: Buffer | AsyncIterable<Buffer>, chunk?: number) {
  const out: { header: TarHeader; body: Buffer }[] = [];
  const source = Buffer.isBuffer(data) ? chunked(data, chunk) : data;
  for await (const { header, body } of readTar(source)) {
    out.push({ header, body: await collect(body) });
  }
  return out;
}

/** A header block with `patch` applied and the checksum redone. */
function block(h: TarWriteHeader, patch: (b: Buffer) => void = () => {}): Buffer {
  const all = encodeHeader(h);
  const b = Buffer.from(all.subarray(all.length - BLOCK));
  patch(b);
  return reseal(b);
}

function reseal(b: Buffer): Buffer {
  b.fill(0x20, F.checksum[0], F.checksum[0] + 8);
  b.write(`${checksums(b).unsigned.toString(8).padStart(6, '0')}\0 `, F.checksum[0], 'latin1');
  return b;
}

/** A raw extended header (`x`, `g`, `L`, `K`) with its data and padding. */
function meta(flag: string, data: Buffer, sizeField = data.length): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write('././@meta', 0, 'latin1');
  formatNumeric(b, ...F.mode, 0);
  formatNumeric(b, ...F.size, sizeField);
  b.write(flag, F.typeflag[0], 'latin1');
  b.write('ustar\x0000', F.magic[0], 'latin1');
  reseal(b);
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return Buffer.concat([b, data, Buffer.alloc(pad)]);
}

const pax = (records: Record<string, string | Buffer>) =>
  formatPaxRecords(
    Object.entries(records).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v)] as const),
  );

const END = Buffer.alloc(2 * BLOCK);

async function rejects(data: Buffer, re: RegExp, doc = re.source): Promise<Error> {
  let caught: unknown;
  try {
    await readAll(data);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof Error, `${doc}: no error`);
  assert.ok(isInvalidArgument(caught), `${doc}: kind ${kindOf(caught)}: ${caught.message}`);
  assert.match(caught.message, re, doc);
  return caught;
}

const ALL_TYPES: TarWriteEntry[] = [
  { header: { name: 'dir/', type: 'dir', mode: 0o1777, mtime: { sec: 1700000000, nsec: 1 } } },
  {
    header: {
      name: 'dir/newuidmap',
      type: 'file',
      mode: 0o4755,
      size: 11,
      uid: 3_000_000,
      gid: 4_000_000,
      uname: 'someone',
      gname: 'somegroup',
      mtime: { sec: 1700000000, nsec: 999999999 },
      xattrs: new Map([
        ['security.capability', CAP],
        ['user.bin', Buffer.from([0x80, 0xff, 0x00, 0x0a, 0x3d])],
      ]),
    },
    body: Buffer.from('hello world'),
  },
  {
    header: { name: `${'n'.repeat(150)}/${'m'.repeat(150)}`, type: 'file', mode: 0o2755, size: 1 },
    body: Buffer.from('x'),
  },
  {
    header: { name: 'long-link', type: 'symlink', mode: 0o777, linkname: `../${'t'.repeat(300)}` },
  },
  { header: { name: 'hard', type: 'hardlink', mode: 0o644, linkname: 'dir/newuidmap' } },
  { header: { name: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 } },
  { header: { name: 'dev/loop0', type: 'block', mode: 0o660, devmajor: 7, devminor: 0 } },
  { header: { name: 'pipe', type: 'fifo', mode: 0o644, mtime: { sec: -1, nsec: 500 } } },
  {
    header: { name: 'café/ünïcode', type: 'file', mode: 0o600, size: 3 },
    body: Buffer.from('abc'),
  },
];

describe('readTar', () => {
  it('reads back every entry type and field the writer writes, whatever the chunking', async () => {
    const data = await tarOf(ALL_TYPES);
    for (const chunk of [1, 7, 511, 512, 513, 4096, 1 << 20]) {
      const got = await readAll(data, chunk);
      assert.equal(got.length, ALL_TYPES.length);
      for (const [i, { header: want, body }] of ALL_TYPES.entries()) {
        const { header, body: gotBody } = got[i]!;
        assert.equal(header.name, want.name, `${chunk}: name`);
        assert.equal(header.type, want.type);
        assert.equal(header.mode, want.mode);
        assert.equal(header.linkname, want.linkname ?? '');
        assert.equal(header.uid, want.uid ?? 0);
        assert.equal(header.gid, want.gid ?? 0);
        assert.equal(header.uname, want.uname ?? '');
        assert.equal(header.gname, want.gname ?? '');
        assert.equal(header.size, want.size ?? 0);
        assert.deepEqual(header.mtime, want.mtime ?? { sec: 0, nsec: 0 });
        assert.equal(header.devmajor, want.devmajor ?? 0);
        assert.equal(header.devminor, want.devminor ?? 0);
        assert.deepEqual(header.xattrs, want.xattrs ?? new Map());
        assert.deepEqual(gotBody, body ?? Buffer.alloc(0));
      }
    }
  });

  it('keeps the raw bytes of names that are not UTF-8', async () => {
    const raw = Buffer.from([0x61, 0xff, 0xfe, 0x2f, 0x62]);
    const data = await tarOf([
      { header: { name: '', nameBytes: raw, type: 'symlink', mode: 0o777, linknameBytes: raw } },
    ]);
    const [entry] = await readAll(data);
    assert.deepEqual(entry!.header.nameBytes, raw);
    assert.deepEqual(entry!.header.linknameBytes, raw);
    assert.equal(entry!.header.name, 'a\ufffd\ufffd/b');
    assert.equal(entry!.header.pax.get('hdrcharset')?.toString(), 'BINARY');
  });

  it('skips bodies the consumer leaves, and reads each body once', async () => {
    const big = Buffer.alloc(300_000, 7);
    const data = await tarOf([
      { header: { name: 'a', type: 'file', mode: 0o644, size: big.length }, body: big },
      { header: { name: 'b', type: 'file', mode: 0o644, size: big.length }, body: big },
      { header: { name: 'c', type: 'file', mode: 0o644, size: 3 }, body: Buffer.from('ccc') },
    ]);
    const names: string[] = [];
    let first: AsyncIterable<Buffer> | undefined;
    for await (const { header, body } of readTar(chunked(data, 1000))) {
      names.push(header.name);
      if (header.name === 'a') first = body; // not read at all
      if (header.name === 'b') {
        for await (const c of body) {
          assert.ok(c.length <= 1000);
          break; // read a little
        }
        assert.throws(() => body[Symbol.asyncIterator](), isFailedPrecondition);
      }
      if (header.name === 'c') assert.equal((await collect(body)).toString(), 'ccc');
    }
    assert.deepEqual(names, ['a', 'b', 'c']);
    assert.throws(() => first![Symbol.asyncIterator](), /moved past/);
  });

  it('reads the source to its end, past the end marker, and closes it when stopped early', async () => {
    const data = await tarOf([
      { header: { name: 'a', type: 'file', mode: 0o644, size: 1 }, body: Buffer.from('a') },
    ]);
    let yielded = 0;
    let returned = false;
    async function* source(extra: Buffer) {
      try {
        for (const c of [data, extra]) {
          yielded += c.length;
          yield c;
        }
      } finally {
        returned = true;
      }
    }
    // GNU tar pads to 10 KiB records; anything after the marker is read and ignored.
    await readAll(source(Buffer.alloc(8192, 0xee)));
    assert.equal(yielded, data.length + 8192);

    returned = false;
    for await (const _ of readTar(source(Buffer.alloc(0)))) break;
    assert.equal(returned, true);
  });

  it('ends cleanly at end of input on a block boundary, with or without zero blocks', async () => {
    const one = await tarOf([
      { header: { name: 'a', type: 'file', mode: 0o644, size: 1 }, body: Buffer.from('a') },
    ]);
    const entries = one.subarray(0, one.length - 2 * BLOCK);
    assert.equal((await readAll(entries)).length, 1);
    assert.equal((await readAll(Buffer.concat([entries, Buffer.alloc(BLOCK)]))).length, 1);
    assert.equal((await readAll(Buffer.alloc(0))).length, 0);
  });

  it('refuses truncation inside a header, an extended header, a body or its padding', async () => {
    const data = await tarOf([
      {
        header: { name: 'x'.repeat(200), type: 'file', mode: 0o644, size: 1000 },
        body: Buffer.alloc(1000, 1),
      },
    ]);
    // [0,512) PAX header, [512,1024) PAX data, [1024,1536) header, [1536,2536) body, [2536,2560) padding
    const table: ReadonlyArray<[number, RegExp]> = [
      [100, /truncated inside a header/],
      [700, /truncated inside a PAX extended header/],
      [1024 + 300, /truncated inside a header/],
      [1536, /truncated, 1000 of 1000 body bytes missing/],
      [1536 + 999, /truncated, 1 of 1000 body bytes missing/],
      [2536 + 10, /truncated in padding/],
      [2560 + 100, /truncated inside a header/],
      [2560 + 512 + 100, /truncated inside the end marker/],
    ];
    for (const [cut, re] of table) await rejects(data.subarray(0, cut), re, `cut at ${cut}`);
    // The consumer reading the body sees the truncation too.
    await assert.rejects(async () => {
      for await (const { body } of readTar(chunked(data.subarray(0, 2000)))) await collect(body);
    }, /body bytes missing/);
  });

  it('refuses a bad checksum, data that is not tar, and a header after a lone zero block', async () => {
    const data = await tarOf([
      { header: { name: 'a', type: 'file', mode: 0o644, size: 1 }, body: Buffer.from('a') },
    ]);
    const bad = Buffer.from(data);
    bad[10] = 0x41; // inside the name
    const err = await rejects(bad, /checksum mismatch/);
    assert.match(err.message, /^tar header at byte 0: /);
    await rejects(Buffer.alloc(1024, 0x41), /invalid checksum field|checksum mismatch/);
    await rejects(Buffer.concat([Buffer.alloc(BLOCK), data]), /header follows a single zero block/);
  });

  it('refuses an oversized extended header before reading or allocating it (PAX bomb)', async () => {
    for (const flag of ['x', 'g', 'L', 'K']) {
      // Only the header exists: the claimed 1 TiB is never read, let alone allocated.
      const bomb = meta(flag, Buffer.alloc(0), 2 ** 40).subarray(0, BLOCK);
      const before = process.memoryUsage().arrayBuffers;
      await rejects(bomb, /of 1099511627776 bytes exceeds the limit of 1048576 bytes/, flag);
      assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20, 'no allocation');
    }
    // At the limit it is read; the option lowers it.
    const ok = meta('x', pax({ comment: 'c'.repeat((1 << 20) - 20) }));
    const file = block({ name: 'f', type: 'dir', mode: 0o755 });
    assert.equal((await readAll(Buffer.concat([ok, file, END]))).length, 1);
    await assert.rejects(
      readAll(readTar(chunked(Buffer.concat([ok, file, END])), { maxMetaSize: 4096 }) as never),
      /exceeds the limit of 4096/,
    );
  });

  it('refuses global PAX records that pile up past the limit', async () => {
    const parts: Buffer[] = [];
    for (let i = 0; i < 3; i++) parts.push(meta('g', pax({ [`k${i}`]: 'v'.repeat(400_000) })));
    await rejects(
      Buffer.concat([...parts, END]),
      /global PAX records total \d+ bytes, over the limit/,
    );
  });

  it('applies PAX overrides, falls back on empty values, and applies globals except per-file keys', async () => {
    const file = block({ name: 'short', type: 'file', mode: 0o644, uid: 5, uname: 'five' });
    const data = Buffer.concat([
      meta('g', pax({ uname: 'global', mtime: '12.5', path: 'ignored', comment: 'git' })),
      meta('x', pax({ path: 'from/pax', uid: '4294967295', uname: '', gname: 'g' })),
      file,
      file,
      END,
    ]);
    const [a, b] = await readAll(data);
    assert.equal(a!.header.name, 'from/pax');
    assert.equal(a!.header.uid, 0xffff_ffff);
    assert.equal(a!.header.uname, 'five'); // local empty value: back to the ustar field
    assert.equal(a!.header.gname, 'g');
    assert.deepEqual(a!.header.mtime, { sec: 12, nsec: 500_000_000 });
    assert.equal(b!.header.name, 'short'); // a global path never applies
    assert.equal(b!.header.uname, 'global');
    assert.equal(b!.header.pax.get('comment')?.toString(), 'git');
    assert.equal(b!.header.pax.has('path'), false);
  });

  it('reads GNU long names and links, and refuses ambiguous or doubled extended headers', async () => {
    const long = 'L'.repeat(700);
    const link = block({ name: 'x', type: 'symlink', mode: 0o777, linkname: 'y' });
    const gnu = Buffer.concat([
      meta('L', Buffer.from(`${long}\0`)),
      meta('K', Buffer.from(`${long}-target\0`)),
      link,
      END,
    ]);
    const [e] = await readAll(gnu);
    assert.equal(e!.header.name, long);
    assert.equal(e!.header.linkname, `${long}-target`);

    const table: ReadonlyArray<[Buffer[], RegExp]> = [
      [
        [meta('L', Buffer.from('a\0')), meta('x', pax({ path: 'b' }))],
        /both a PAX path and a GNU long name/,
      ],
      [
        [meta('K', Buffer.from('a\0')), meta('x', pax({ linkpath: 'b' }))],
        /both a PAX linkpath and a GNU long link/,
      ],
      [[meta('x', pax({ path: 'a' })), meta('x', pax({ path: 'b' }))], /two PAX extended headers/],
      [[meta('L', Buffer.from('a\0')), meta('L', Buffer.from('b\0'))], /two GNU long names/],
      [[meta('x', pax({ path: Buffer.from('a\0b') }))], /NUL/],
      [[meta('x', pax({ size: '-1' }))], /invalid PAX size record/],
      [[meta('x', pax({ mtime: 'yesterday' }))], /invalid PAX mtime record/],
      [[meta('x', pax({ uid: '4294967296' }))], /invalid PAX uid record/],
      [[meta('x', pax({ 'SCHILY.xattr.': 'v' }))], /empty xattr name/],
    ];
    for (const [metas, re] of table) await rejects(Buffer.concat([...metas, link, END]), re);
    await rejects(
      Buffer.concat([meta('x', pax({ path: 'a' })), END]),
      /ends after an extended header/,
    );
  });

  it('refuses sparse files and unknown entry types, naming them', async () => {
    const file = { name: 'f', type: 'file', mode: 0o644 } as const;
    await rejects(
      Buffer.concat([block(file, (b) => b.write('S', F.typeflag[0])), END]),
      /sparse files are not supported/,
    );
    await rejects(
      Buffer.concat([
        meta('x', pax({ 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0' })),
        block(file),
        END,
      ]),
      /sparse files are not supported/,
    );
    for (const [flag, shown] of [
      ['V', "'V'"],
      ['D', "'D'"],
      ['\x01', '0x1'],
    ]) {
      await rejects(
        Buffer.concat([block(file, (b) => b.write(flag!, F.typeflag[0], 'latin1')), END]),
        new RegExp(`entry "f": unsupported entry type ${shown}`),
      );
    }
  });

  it('reads base-256 sizes, ids and negative times, and refuses out-of-range ones', async () => {
    const size = 2 ** 33 + 5;
    const hdr = block({ name: 'huge', type: 'file', mode: 0o644 }, (b) => {
      formatNumeric(b, ...F.size, size);
      formatNumeric(b, ...F.uid, 0xffff_ffff);
      formatNumeric(b, ...F.mtime, -86400);
    });
    assert.equal(hdr[F.size[0]], 0x80);
    // The body is not there: the header parses, then skipping the body meets the end.
    const seen: TarHeader[] = [];
    await assert.rejects(
      async () => {
        for await (const { header } of readTar(chunked(Buffer.concat([hdr, Buffer.alloc(4096)])))) {
          seen.push(header);
        }
      },
      new RegExp(`${size - 4096} of ${size} body bytes missing`),
    );
    assert.equal(seen[0]!.size, size);
    assert.equal(seen[0]!.uid, 0xffff_ffff);
    assert.deepEqual(seen[0]!.mtime, { sec: -86400, nsec: 0 });

    const negUid = block({ name: 'f', type: 'file', mode: 0o644 }, (b) =>
      formatNumeric(b, ...F.uid, -1),
    );
    await rejects(Buffer.concat([negUid, END]), /invalid uid field/);
    const bigGid = block({ name: 'f', type: 'file', mode: 0o644 }, (b) =>
      formatNumeric(b, ...F.gid, 2 ** 32),
    );
    await rejects(Buffer.concat([bigGid, END]), /invalid gid field/);
    const badMode = block({ name: 'f', type: 'file', mode: 0o644 }, (b) =>
      b.write('0009', F.mode[0], 'latin1'),
    );
    await rejects(Buffer.concat([badMode, END]), /invalid mode field/);
  });

  it('gives types without data no body whatever their size field says, as Go does', async () => {
    const link = block({ name: 'l', type: 'symlink', mode: 0o777, linkname: 't' }, (b) =>
      formatNumeric(b, ...F.size, 1000),
    );
    const file = block({ name: 'f', type: 'file', mode: 0o644, size: 2 });
    const got = await readAll(
      Buffer.concat([link, file, Buffer.from('ok'), Buffer.alloc(510), END]),
    );
    assert.deepEqual(
      got.map((e) => [e.header.name, e.header.size, e.body.toString()]),
      [
        ['l', 0, ''],
        ['f', 2, 'ok'],
      ],
    );
  });

  it('reads V7 headers, where a trailing slash makes a directory, and keeps only mode bits', async () => {
    const v7 = (name: string) =>
      block({ name, type: 'file', mode: 0o755, uname: 'ignored' }, (b) => {
        b.fill(0, F.magic[0], F.magic[0] + 8);
        b[F.typeflag[0]] = 0;
        b.write('0100755\0', F.mode[0], 'latin1'); // S_IFREG in the mode, as some tars write
      });
    const got = await readAll(Buffer.concat([v7('d/'), v7('f'), END]));
    assert.deepEqual(
      got.map((e) => [e.header.name, e.header.type, e.header.mode, e.header.uname]),
      [
        ['d/', 'dir', 0o755, ''],
        ['f', 'file', 0o755, ''],
      ],
    );
  });

  it('joins the ustar prefix, and ignores the prefix field of GNU headers', async () => {
    const prefixed = block({ name: 'base', type: 'file', mode: 0o644 }, (b) =>
      b.write('some/dir', F.prefix[0]),
    );
    const gnu = block({ name: 'base', type: 'file', mode: 0o644 }, (b) => {
      b.write('ustar  \0', F.magic[0], 'latin1');
      b.write('00000000000\0', F.prefix[0], 'latin1'); // GNU's atime lives here
    });
    const got = await readAll(Buffer.concat([prefixed, gnu, END]));
    assert.deepEqual(
      got.map((e) => e.header.name),
      ['some/dir/base', 'base'],
    );
  });

  it('reports the offset of each entry', async () => {
    // dir/: PAX header (ns mtime) + header; newuidmap: PAX header + header + 11 bytes of body.
    const data = await tarOf(ALL_TYPES.slice(0, 3));
    const got = await readAll(data);
    assert.deepEqual(
      got.map((e) => e.header.offset),
      [0, 1536, 1536 + 2048],
    );
  });
});
