import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { isUnavailable } from '../../src/core/errdefs/index.js';
import { Berthd } from '../helpers/berthd.js';
import { ctr, ctrOk, table } from '../helpers/ctr.js';

const root = process.getuid?.() === 0;
const MiB = 1 << 20;

/** A deterministic stream of `mib` MiB: a random base block stamped with its index. */
function* blocks(base: Buffer, mib: number): Generator<Buffer> {
  for (let i = 0; i < mib; i++) {
    const b = Buffer.from(base);
    b.writeUInt32BE(i, 0);
    yield b;
  }
}

function digestOfBlocks(base: Buffer, mib: number): string {
  const h = createHash('sha256');
  for (const b of blocks(base, mib)) h.update(b);
  return `sha256:${h.digest('hex')}`;
}

/** Runs ctr with `input` piped to its stdin. */
function ctrWithInput(socket: string, args: string[], input: Iterable<Buffer>) {
  return new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const p = spawn('ctr', ['--address', socket, ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('error', reject);
    // ctr may stop reading early (e.g. when the blob already exists).
    p.stdin.on('error', () => {});
    p.on('exit', (code) => resolve({ code, stderr }));
    (async () => {
      for (const b of input) {
        if (!p.stdin.write(b)) await new Promise<void>((r) => p.stdin.once('drain', () => r()));
      }
      p.stdin.end();
    })().catch(() => {});
  });
}

async function sha256Of(stream: Readable): Promise<string> {
  const h = createHash('sha256');
  for await (const b of stream) h.update(b as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** Hashes every blob under the content store and returns the ones whose bytes differ from their name. */
async function corruptBlobs(rootDir: string): Promise<string[]> {
  const dir = join(rootDir, 'io.containerd.content.v1.content', 'blobs', 'sha256');
  const bad: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return bad;
  }
  for (const name of names) {
    const d = await sha256Of(createReadStream(join(dir, name)));
    if (d !== `sha256:${name}`) bad.push(name);
  }
  return bad;
}

describe('content through the real ctr', { skip: !root && 'needs root' }, () => {
  let d: Berthd;
  before(async () => {
    d = await Berthd.start();
  });
  after(async () => {
    await d.cleanup();
  });

  it('ingests a 512 MiB stream, verifies it and reads it back', async () => {
    const base = randomBytes(MiB);
    const digest = digestOfBlocks(base, 512);
    const r = await ctrWithInput(
      d.socket,
      [
        'content',
        'ingest',
        '--expected-size',
        String(512 * MiB),
        '--expected-digest',
        digest,
        'big-1',
      ],
      blocks(base, 512),
    );
    assert.equal(r.code, 0, r.stderr);
    const rows = table(ctrOk(d.socket, ['content', 'ls']));
    const row = rows.find((x) => x[0] === digest);
    assert.ok(row, `${digest} in content ls:\n${rows.join('\n')}`);
    assert.equal(row?.[1], '536.9MB', 'ctr prints decimal units');
    const get = spawn('ctr', ['--address', d.socket, 'content', 'get', digest], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    assert.equal(await sha256Of(get.stdout), digest);
    assert.equal(
      ctrOk(d.socket, ['content', 'active']).trim().split('\n').length,
      1,
      'no active ingests',
    );
  });

  it('refuses a wrong expected digest and leaves no blob behind', async () => {
    const data = [randomBytes(MiB)];
    const wrong = `sha256:${'0'.repeat(64)}`;
    const r = await ctrWithInput(
      d.socket,
      ['content', 'ingest', '--expected-digest', wrong, 'wrong-1'],
      data,
    );
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /unexpected commit digest sha256:[0-9a-f]{64}, expected sha256:0{64}: failed precondition/,
    );
    const actual = `sha256:${createHash('sha256').update(data[0]!).digest('hex')}`;
    assert.doesNotMatch(ctrOk(d.socket, ['content', 'ls', '-q']), new RegExp(actual.slice(7)));
    assert.deepEqual(await corruptBlobs(d.root), []);
    const blobs = readdirSync(join(d.root, 'io.containerd.content.v1.content', 'blobs', 'sha256'));
    assert.ok(!blobs.includes(actual.slice(7)), 'the refused bytes are not a blob');
    assert.ok(!blobs.includes('0'.repeat(64)));
  });

  it('lets only one writer hold a ref: the other gets UNAVAILABLE', async () => {
    const client = d.client('default');
    try {
      const ctx = client.context();
      const w1 = await client.content.writer(ctx, { ref: 'contended' });
      await w1.write(Buffer.from('first writer '));
      await assert.rejects(client.content.writer(ctx, { ref: 'contended' }), (e: Error) => {
        return (
          isUnavailable(e) &&
          /ref "default\/contended" locked|ref "contended" locked/.test(e.message)
        );
      });
      await w1.write(Buffer.from('keeps going'));
      const data = Buffer.from('first writer keeps going');
      const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
      assert.equal(await w1.commit(data.length, digest), digest);
      // Two ctr ingests of one ref at once: ctr retries on UNAVAILABLE, so
      // both finish and the blob is whole.
      const payload = [randomBytes(4 * MiB)];
      const pd = `sha256:${createHash('sha256').update(payload[0]!).digest('hex')}`;
      const [a, b] = await Promise.all([
        ctrWithInput(d.socket, ['content', 'ingest', '--expected-digest', pd, 'twice'], payload),
        ctrWithInput(d.socket, ['content', 'ingest', '--expected-digest', pd, 'twice'], payload),
      ]);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      assert.deepEqual(await corruptBlobs(d.root), []);
    } finally {
      client.close();
    }
  });

  it('keeps content of one namespace out of another until written there', async () => {
    const data = Buffer.from('namespaced bytes');
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    assert.equal(
      (await ctrWithInput(d.socket, ['-n', 'nsa', 'content', 'ingest', 'x'], [data])).code,
      0,
    );
    assert.match(
      ctrOk(d.socket, ['-n', 'nsa', 'content', 'ls', '-q']),
      new RegExp(digest.slice(7)),
    );
    assert.doesNotMatch(
      ctrOk(d.socket, ['-n', 'nsb', 'content', 'ls', '-q']),
      new RegExp(digest.slice(7)),
    );
    assert.notEqual(ctr(d.socket, ['-n', 'nsb', 'content', 'get', digest]).code, 0);
    assert.equal(
      (
        await ctrWithInput(
          d.socket,
          ['-n', 'nsb', 'content', 'ingest', '--expected-digest', digest, 'y'],
          [data],
        )
      ).code,
      0,
    );
    assert.match(
      ctrOk(d.socket, ['-n', 'nsb', 'content', 'ls', '-q']),
      new RegExp(digest.slice(7)),
    );
  });

  // Last: removing content schedules a collection, which takes every blob
  // no image, lease or gc.root holds, as in containerd.
  it('labels and removes content', async () => {
    const data = [Buffer.from('label me')];
    const digest = `sha256:${createHash('sha256').update(data[0]!).digest('hex')}`;
    assert.equal((await ctrWithInput(d.socket, ['content', 'ingest', 'lbl'], data)).code, 0);
    ctrOk(d.socket, ['content', 'label', digest, 'a=1', 'b=2']);
    // Rows are DIGEST SIZE AGE LABELS, and AGE has spaces in it.
    let row = table(ctrOk(d.socket, ['content', 'ls'])).find((x) => x[0] === digest);
    // ctr prints labels in Go map order.
    assert.deepEqual(row?.at(-1)?.split(',').sort(), ['a=1', 'b=2']);
    ctrOk(d.socket, ['content', 'label', digest, 'a=']);
    row = table(ctrOk(d.socket, ['content', 'ls'])).find((x) => x[0] === digest);
    assert.equal(row?.at(-1), 'b=2');
    ctrOk(d.socket, ['content', 'rm', digest]);
    assert.doesNotMatch(ctrOk(d.socket, ['content', 'ls', '-q']), new RegExp(digest.slice(7)));
    const missing = ctr(d.socket, ['content', 'get', digest]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /not found/);
  });
});

describe('crash mid-ingest', { skip: !root && 'needs root' }, () => {
  it('resumes a 500 MiB ingest from its offset after kill -9, and no blob is corrupt', async () => {
    const d1 = await Berthd.start();
    const base = randomBytes(MiB);
    const total = 500;
    const digest = digestOfBlocks(base, total);
    const all = [...blocks(base, total)];
    const c1 = d1.client('default');
    let sent = 0;
    try {
      const w = await c1.content.writer(c1.context(), {
        ref: 'crashy',
        total: total * MiB,
        expected: digest,
      });
      for (const b of all) {
        if (sent === 200) {
          d1.proc.kill('SIGKILL');
          break;
        }
        await w.write(b);
        sent++;
      }
    } finally {
      c1.close();
    }
    await d1.kill9();
    assert.equal(sent, 200);

    const d2 = await Berthd.start({ dir: d1.dir });
    const c2 = d2.client('default');
    try {
      const ctx = c2.context();
      const w = await c2.content.writer(ctx, {
        ref: 'crashy',
        total: total * MiB,
        expected: digest,
      });
      const { offset } = await w.status();
      assert.equal(offset % MiB, 0, 'every acknowledged write is whole');
      assert.ok(
        offset >= 200 * MiB - MiB && offset <= 200 * MiB,
        `resumes near 200 MiB, at ${offset}`,
      );
      for (let i = offset / MiB; i < total; i++) await w.write(all[i]!);
      assert.equal(await w.commit(total * MiB, digest), digest);
      assert.equal((await c2.content.info(ctx, digest)).size, total * MiB);
    } finally {
      c2.close();
      await d2.stop();
    }
    assert.deepEqual(await corruptBlobs(d2.root), []);
    d2.dir.remove();
  });
});
