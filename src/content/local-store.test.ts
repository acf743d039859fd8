import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { contentSuite } from '../core/content/testsuite.js';
import { isFailedPrecondition, isNotFound, kindOf } from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { LocalContentStore } from './index.js';
import { parseTimestamp } from './timestamp.js';

const ROOT_NAME = 'io.containerd.content.v1.content';

function opContext(): OpContext {
  return { namespace: 'default', signal: new AbortController().signal, log: nullLogger };
}

contentSuite(
  'local files',
  async () => {
    const dir = tempDir();
    const root = join(dir.path, ROOT_NAME);
    return {
      store: new LocalContentStore(root),
      ctx: opContext(),
      cleanup: async () => dir.remove(),
      reopen: async () => new LocalContentStore(root),
    };
  },
  { labels: false },
);

const sha256 = (data: Buffer | string) =>
  `sha256:${createHash('sha256').update(data).digest('hex')}`;
const hex = (data: string) => createHash('sha256').update(data).digest('hex');

async function readAll(store: LocalContentStore, digest: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of store.read(opContext(), digest)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('LocalContentStore', () => {
  let dir: TempDir;
  let root: string;
  let store: LocalContentStore;
  const ctx = opContext();

  beforeEach(() => {
    dir = tempDir();
    root = join(dir.path, ROOT_NAME);
    store = new LocalContentStore(root);
  });
  afterEach(() => dir.remove());

  it("keeps containerd's layout, and read-only blobs", async () => {
    const data = Buffer.from('layer bytes');
    const digest = sha256(data);
    const ref = `layer-${digest}`;
    const before = Date.now();
    const w = await store.writer(ctx, { ref, total: data.length, expected: digest });
    await w.write(data);

    const ingest = join(root, 'ingest', hex(ref));
    assert.deepEqual(readdirSync(join(root, 'ingest')), [hex(ref)]);
    assert.deepEqual(readdirSync(ingest).sort(), [
      'data',
      'expected',
      'ref',
      'startedat',
      'total',
      'updatedat',
    ]);
    assert.equal(readFileSync(join(ingest, 'ref'), 'utf8'), ref);
    assert.equal(readFileSync(join(ingest, 'total'), 'utf8'), String(data.length));
    assert.equal(readFileSync(join(ingest, 'expected'), 'utf8'), digest);
    assert.ok(readFileSync(join(ingest, 'data')).equals(data));
    const started = parseTimestamp(readFileSync(join(ingest, 'startedat'), 'utf8'));
    assert.ok(started !== undefined && started >= BigInt(before) * 1_000_000n);
    const st = await store.status(ctx, ref);
    assert.deepEqual(
      { ...st, startedAt: 0n, updatedAt: 0n },
      {
        ref,
        offset: data.length,
        total: data.length,
        expected: digest,
        startedAt: 0n,
        updatedAt: 0n,
      },
    );
    assert.equal(st.startedAt, started);

    await w.commit(data.length, digest);
    const blob = join(root, 'blobs', 'sha256', digest.slice(7));
    assert.ok(readFileSync(blob).equals(data));
    assert.equal(statSync(blob).mode & 0o777, 0o444);
    assert.deepEqual(readdirSync(join(root, 'ingest')), []);
    const info = await store.info(ctx, digest);
    assert.equal(info.createdAt, statSync(blob, { bigint: true }).mtimeNs);
  });

  it('reads in fresh chunks of at most 1 MiB', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 10, 7);
    const w = await store.writer(ctx, { ref: 'big' });
    await w.write(data);
    const digest = await w.commit(data.length);
    const chunks: Buffer[] = [];
    for await (const chunk of store.read(ctx, digest)) chunks.push(chunk);
    assert.deepEqual(
      chunks.map((c) => c.length),
      [1 << 20, 1 << 20, 1 << 20, 10],
    );
    assert.equal(new Set(chunks.map((c) => c.buffer)).size, chunks.length);
  });

  it('keeps the precise update time of a closed writer for the one that resumes', async () => {
    const ref = 'resume-times';
    const w1 = await store.writer(ctx, { ref });
    await w1.write(Buffer.from('first'));
    const before = await w1.status();
    await w1.close();
    // The data file's mtime is the kernel's coarse clock; updatedat is exact.
    const w2 = await store.writer(ctx, { ref });
    const resumed = await w2.status();
    assert.equal(resumed.updatedAt, before.updatedAt);
    assert.equal(resumed.startedAt, before.startedAt);
    assert.equal((await store.status(ctx, ref)).updatedAt, before.updatedAt);
    await w2.close();
    await store.abort(ctx, ref);
  });

  it('resumes an ingest that containerd created', async () => {
    const ref = 'manifest-sha256:0000';
    const ingest = join(root, 'ingest', hex(ref));
    mkdirSync(ingest);
    writeFileSync(join(ingest, 'ref'), ref);
    writeFileSync(join(ingest, 'startedat'), '2024-05-01T10:00:00.5+02:00');
    writeFileSync(join(ingest, 'updatedat'), '2024-05-01T10:00:00.5+02:00');
    writeFileSync(join(ingest, 'total'), '10');
    writeFileSync(join(ingest, 'data'), 'hello');
    const st = await store.status(ctx, ref);
    assert.equal(st.offset, 5);
    assert.equal(st.total, 10);
    assert.equal(st.expected, '');
    assert.equal(
      st.startedAt,
      BigInt(Date.parse('2024-05-01T08:00:00Z')) * 1_000_000n + 500000000n,
    );
    assert.ok(st.updatedAt > st.startedAt, 'the data mtime is newer than updatedat');
    const w = await store.writer(ctx, { ref });
    assert.equal(w.digest(), sha256('hello'));
    await w.write(Buffer.from('world'));
    assert.equal(await w.commit(10, sha256('helloworld')), sha256('helloworld'));
  });

  it('cleans up what interrupted operations leave, and nothing else', async () => {
    const ingests = join(root, 'ingest');
    const keep = await store.writer(ctx, { ref: 'keep', total: 100 });
    await keep.write(Buffer.from('kept bytes'));
    await keep.close();
    writeFileSync(join(ingests, hex('keep'), 'total.tmp'), '1');
    mkdirSync(join(ingests, '.new-abc123'));
    writeFileSync(join(ingests, '.new-abc123', 'ref'), 'half made');
    mkdirSync(join(ingests, hex('committed')));
    writeFileSync(join(ingests, hex('committed'), 'ref'), 'committed');
    mkdirSync(join(ingests, hex('no-ref')));
    writeFileSync(join(ingests, hex('no-ref'), 'data'), 'orphan');
    writeFileSync(join(ingests, 'README'), 'not ours');

    const reopened = new LocalContentStore(root);
    assert.deepEqual(reopened.cleaned, { partial: 1, unusable: 2, temps: 1 });
    assert.deepEqual(readdirSync(ingests).sort(), [hex('keep'), 'README'].sort());
    const w = await reopened.writer(ctx, { ref: 'keep' });
    const st = await w.status();
    assert.equal(st.offset, 10);
    assert.equal(st.total, 100);
    assert.equal(w.digest(), sha256('kept bytes'));
    await w.close();
    assert.deepEqual(
      (await reopened.listStatuses(ctx)).map((s) => s.ref),
      ['keep'],
    );
  });

  it('restarts an ingest that a writer contradicts, and records what it lacked', async () => {
    const w1 = await store.writer(ctx, { ref: 'r', total: 10 });
    await w1.write(Buffer.from('12345'));
    await w1.close();
    // Same total, expected new: resume, and record the expected digest.
    const expected = sha256('1234567890');
    const w2 = await store.writer(ctx, { ref: 'r', total: 10, expected });
    assert.equal((await w2.status()).offset, 5);
    await w2.close();
    assert.equal((await store.status(ctx, 'r')).expected, expected);
    // No total or expected: resume with the recorded ones.
    const w3 = await store.writer(ctx, { ref: 'r' });
    assert.deepEqual(
      [(await w3.status()).offset, (await w3.status()).total, (await w3.status()).expected],
      [5, 10, expected],
    );
    await w3.close();
    // A different total restarts the ingest, as containerd recreates it.
    const w4 = await store.writer(ctx, { ref: 'r', total: 20 });
    assert.equal((await w4.status()).offset, 0);
    assert.equal(w4.digest(), sha256(''));
    await w4.write(Buffer.from('abc'));
    await w4.close();
    const st = await store.status(ctx, 'r');
    assert.deepEqual([st.offset, st.total, st.expected], [3, 20, '']);
    // So does a different expected digest.
    const w5 = await store.writer(ctx, { ref: 'r', expected: sha256('other') });
    await w5.close();
    const w6 = await store.writer(ctx, { ref: 'r', expected: sha256('third') });
    assert.equal((await w6.status()).offset, 0);
    await w6.close();
  });

  it('leaves the ingest alone when writer() finds the expected blob committed', async () => {
    const data = Buffer.from('shared');
    const w1 = await store.writer(ctx, { ref: 'pending' });
    await w1.write(data.subarray(0, 3));
    await w1.close();
    const w2 = await store.writer(ctx, { ref: 'other' });
    await w2.write(data);
    await w2.commit(data.length);
    await assert.rejects(
      store.writer(ctx, { ref: 'pending', expected: sha256(data) }),
      (err: unknown) => kindOf(err) === 'already_exists',
    );
    assert.equal((await store.status(ctx, 'pending')).offset, 3);
  });

  it('replaces an ingest directory it cannot resume', async () => {
    const torn = join(root, 'ingest', hex('torn'));
    mkdirSync(torn);
    writeFileSync(join(torn, 'data'), 'no ref file');
    await assert.rejects(store.status(ctx, 'torn'), isNotFound);
    const w = await store.writer(ctx, { ref: 'torn' });
    assert.equal((await w.status()).offset, 0);
    await w.close();
    assert.equal(readFileSync(join(torn, 'ref'), 'utf8'), 'torn');
    assert.equal(readFileSync(join(torn, 'data')).length, 0);
  });

  it('fails the commit of a writer whose ingest was aborted under it', async () => {
    const w = await store.writer(ctx, { ref: 'gone' });
    await w.write(Buffer.from('data'));
    await store.abort(ctx, 'gone');
    await assert.rejects(w.commit(4, sha256('data')), isNotFound);
    await assert.rejects(store.info(ctx, sha256('data')), isNotFound);
    assert.deepEqual(readdirSync(join(root, 'blobs', 'sha256')), []);
    const again = await store.writer(ctx, { ref: 'gone' });
    assert.equal((await again.status()).offset, 0);
    await again.close();
  });

  it('runs unawaited writer calls in order', async () => {
    const w = await store.writer(ctx, { ref: 'order' });
    const parts = ['a', 'bb', 'ccc'].map((s) => Buffer.from(s.repeat(100_000)));
    const writes = parts.map((p) => w.write(p));
    const committed = w.commit(0);
    await Promise.all(writes);
    const digest = await committed;
    assert.equal(digest, sha256(Buffer.concat(parts)));
    await assert.rejects(w.write(Buffer.from('late')), isFailedPrecondition);
  });

  it('lists only blob files named by digest', async () => {
    const w = await store.writer(ctx, { ref: 'x' });
    await w.write(Buffer.from('x'));
    const digest = await w.commit(1);
    writeFileSync(join(root, 'blobs', 'sha256', 'junk'), 'junk');
    assert.deepEqual(
      (await store.list(ctx)).map((i) => i.digest),
      [digest],
    );
    assert.deepEqual((await store.list(ctx, ['size==1'])).length, 1);
    assert.deepEqual((await store.list(ctx, ['size==2'])).length, 0);
  });
});

/**
 * Crash tests: a child process drives the store and is killed with SIGKILL;
 * the parent then checks what is on disk through a fresh store.
 */
describe('LocalContentStore after kill -9', () => {
  let dir: TempDir;
  let root: string;
  let child: ChildProcess | undefined;
  const ctx = opContext();

  beforeEach(() => {
    dir = tempDir();
    root = join(dir.path, ROOT_NAME);
  });
  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
    dir.remove();
  });

  it('resumes a large ingest from its offset', async () => {
    const total = 64 * CHUNK;
    child = startChild(root, 'ingest', total);
    await progress(child, 20); // at least 20 chunks written
    child.kill('SIGKILL');
    await exited(child);

    const store = new LocalContentStore(root);
    const [st] = await store.listStatuses(ctx);
    assert.ok(st !== undefined && st.ref === 'big');
    assert.ok(st.offset >= 20 * CHUNK && st.offset < total, `offset ${st.offset}`);
    const data = content(0, total);
    const w = await store.writer(ctx, { ref: 'big', total, expected: sha256(data) });
    assert.equal((await w.status()).offset, st.offset);
    assert.equal(w.digest(), sha256(data.subarray(0, st.offset)), 'the ingest holds a true prefix');
    await w.write(data.subarray(st.offset));
    assert.equal(await w.commit(total, sha256(data)), sha256(data));
    assert.ok((await readAll(store, sha256(data))).equals(data));
  });

  it('never leaves a blob whose bytes differ from its name', async () => {
    // Odd rounds kill as a commit starts, even ones anywhere.
    for (let round = 0; round < 6; round++) {
      child = startChild(root, 'blobs', round * 1000 + 1);
      await progress(child, 2 + Math.floor(Math.random() * 30), round % 2 === 1 ? 'c' : undefined);
      await new Promise((r) => setTimeout(r, Math.random() * 4));
      child.kill('SIGKILL');
      await exited(child);
      child = undefined;

      const store = new LocalContentStore(root);
      for (const info of await store.list(ctx)) {
        assert.equal(sha256(await readAll(store, info.digest)), info.digest);
      }
      for (const st of await store.listStatuses(ctx)) {
        const n = Number(st.ref.slice('blob-'.length));
        const data = content(n, blobSize(n));
        const w = await store.writer(ctx, { ref: st.ref }).catch((err: unknown) => {
          assert.fail(`ingest ${st.ref} does not resume: ${kindOf(err)} ${String(err)}`);
        });
        const { offset } = await w.status();
        assert.equal(offset, st.offset);
        assert.equal(w.digest(), sha256(data.subarray(0, offset)), `${st.ref} holds a true prefix`);
        await w.write(data.subarray(offset));
        await w.commit(data.length, sha256(data)).catch((err: unknown) => {
          if (kindOf(err) !== 'already_exists') throw err;
        });
      }
      assert.deepEqual(await store.listStatuses(ctx), []);
      for (const name of readdirSync(join(root, 'blobs', 'sha256'))) {
        assert.equal(statSync(join(root, 'blobs', 'sha256', name)).mode & 0o777, 0o444);
      }
    }
  });
});

const CHUNK = 256 * 1024;

/** Deterministic bytes for blob `n`: sha512 blocks of `n` and a counter. */
function content(n: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let at = 0, i = 0; at < size; at += 64, i++) {
    createHash('sha512').update(`${n}:${i}`).digest().copy(out, at);
  }
  return out;
}

function blobSize(n: number): number {
  return 1 + ((n * 7919) % 5) * CHUNK + ((n * 104729) % CHUNK);
}

/**
 * The child: `ingest` writes blob 0 of `total` bytes under ref `big` and never
 * commits, slowing down after 20 chunks; `blobs` writes and commits blobs `total`, `total` + 1, … under
 * refs `blob-<n>`. It prints `.` after every chunk and `c` before a commit.
 */
function startChild(root: string, mode: 'ingest' | 'blobs', total: number): ChildProcess {
  const storeUrl = pathToFileURL(join(import.meta.dirname, 'local-store.ts')).href;
  const logUrl = pathToFileURL(join(import.meta.dirname, '../core/log/index.ts')).href;
  const code = `
    import { createHash } from 'node:crypto';
    import { LocalContentStore } from ${JSON.stringify(storeUrl)};
    import { nullLogger } from ${JSON.stringify(logUrl)};
    const CHUNK = ${CHUNK};
    ${content.toString()}
    ${blobSize.toString()}
    const [root, mode, total] = process.argv.slice(1);
    const store = new LocalContentStore(root);
    const ctx = { signal: new AbortController().signal, log: nullLogger };
    const sha = (b) => 'sha256:' + createHash('sha256').update(b).digest('hex');
    async function put(ref, data, expected) {
      const w = await store.writer(ctx, { ref, total: data.length, expected });
      for (let at = (await w.status()).offset; at < data.length; at += CHUNK) {
        await w.write(data.subarray(at, at + CHUNK));
        process.stdout.write('.');
        // Past 20 chunks, an ingest slows down so that the kill lands mid-way.
        if (mode === 'ingest' && at >= 20 * CHUNK) await new Promise((r) => setTimeout(r, 2));
      }
      return w;
    }
    if (mode === 'ingest') {
      const data = content(0, Number(total));
      await put('big', data, sha(data));
      setInterval(() => {}, 1000);
    } else {
      for (let n = Number(total); ; n++) {
        const data = content(n, blobSize(n));
        const w = await put('blob-' + n, data, sha(data)).catch((e) => {
          if (e.kind === 'already_exists') return undefined;
          throw e;
        });
        process.stdout.write('c');
        await w?.commit(data.length, sha(data)).catch((e) => {
          if (e.kind !== 'already_exists') throw e;
        });
      }
    }
  `;
  return spawn(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', code, root, mode, String(total)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
}

/**
 * Resolves once the child has reported `count` steps (chunks written or
 * commits started), and then `until` if given.
 */
function progress(child: ChildProcess, count: number, until?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const onData = (buf: Buffer) => {
      seen += buf.length;
      if (seen >= count && (until === undefined || buf.includes(until))) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
