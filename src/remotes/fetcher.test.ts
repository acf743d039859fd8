import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  isCanceled,
  isFailedPrecondition,
  isNotFound,
  isUnavailable,
} from '../core/errdefs/index.js';
import { newResolver, type RegistryOptions } from './index.js';
import { FakeRegistry, HttpServer, serveBytes } from './testing/fake-registry.js';

const FAST: RegistryOptions = { dockerConfig: false, retry: { baseMs: 1, maxMs: 5 } };

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

describe('fetch', () => {
  let reg: FakeRegistry;
  const data = randomBytes(3 * 1024 * 1024 + 17);
  let desc: { mediaType: string; digest: string; size: number };

  before(async () => {
    reg = await FakeRegistry.start();
    desc = reg.addBlob('a/b', data);
  });
  after(() => reg.close());

  it('streams a blob and verifies it', async () => {
    const f = await newResolver(FAST).fetcher(`${reg.host}/a/b:latest`);
    const got = await collect(f.fetch(desc));
    assert.ok(got.equals(data));
  });

  it('resumes a dropped connection with Range and still verifies the digest', async () => {
    reg.faults.length = 0;
    reg.faults.push({
      match: (r) => r.url?.includes(desc.digest) === true,
      dropAfter: 1_000_000,
      times: 2,
    });
    const before = reg.requests.length;
    const f = await newResolver(FAST).fetcher(`${reg.host}/a/b:latest`);
    const got = await collect(f.fetch(desc));
    assert.ok(got.equals(data));
    const gets = reg.requests.slice(before).filter((r) => r.method === 'GET');
    assert.deepEqual(
      gets.map((r) => r.headers.range),
      [undefined, 'bytes=1000000-', 'bytes=2000000-'],
    );
  });

  it('gives up with unavailable after the bounded resumes', async () => {
    reg.faults.length = 0;
    reg.faults.push({
      match: (r) => r.url?.includes(desc.digest) === true,
      dropAfter: 10,
      times: 100,
    });
    const f = await newResolver({ ...FAST, retry: { ...FAST.retry, resumes: 2 } }).fetcher(
      `${reg.host}/a/b:latest`,
    );
    await assert.rejects(collect(f.fetch(desc)), (err: Error) => {
      assert.ok(isUnavailable(err), String(err));
      assert.match(
        err.message,
        /^pull 127\.0\.0\.1:\d+\/a\/b:latest: GET http:\/\/127\.0\.0\.1:\d+\/v2\/a\/b\/blobs\/sha256:[0-9a-f]{64}: interrupted 3 times/,
      );
      return true;
    });
    reg.faults.length = 0;
  });

  it('retries 429 (Retry-After) and 503, then succeeds', async () => {
    reg.faults.length = 0;
    reg.faults.push({
      match: (r) => r.url?.includes(desc.digest) === true,
      statuses: [{ status: 429, headers: { 'retry-after': '0' } }, { status: 503 }],
    });
    const f = await newResolver(FAST).fetcher(`${reg.host}/a/b:latest`);
    assert.ok((await collect(f.fetch(desc))).equals(data));
    reg.faults.length = 0;
  });

  it('fails unavailable once 5xx outlasts the retries, naming host and status', async () => {
    reg.faults.push({
      match: (r) => r.url?.includes(desc.digest) === true,
      statuses: Array.from({ length: 10 }, () => ({ status: 503 })),
    });
    const f = await newResolver({ ...FAST, retry: { ...FAST.retry, attempts: 3 } }).fetcher(
      `${reg.host}/a/b:latest`,
    );
    await assert.rejects(collect(f.fetch(desc)), (err: Error) => {
      assert.ok(isUnavailable(err));
      assert.match(
        err.message,
        new RegExp(
          `GET http://${reg.host}/v2/a/b/blobs/${desc.digest}: 503 Service Unavailable: UNAVAILABLE: injected`,
        ),
      );
      return true;
    });
    reg.faults.length = 0;
  });

  it('fetches from an offset (only the size is checked)', async () => {
    const f = await newResolver(FAST).fetcher(`${reg.host}/a/b:latest`);
    const got = await collect(f.fetch(desc, { offset: 1234 }));
    assert.ok(got.equals(data.subarray(1234)));
  });

  it('rejects content whose digest does not match with failed_precondition', async () => {
    const f = await newResolver(FAST).fetcher(`${reg.host}/a/b:latest`);
    const wrong = { ...desc, digest: `sha256:${'0'.repeat(64)}` };
    reg.blobs.get('a/b')?.set(wrong.digest, data);
    await assert.rejects(
      collect(f.fetch(wrong)),
      (err: Error) => isFailedPrecondition(err) && /content is sha256:/.test(err.message),
    );
    await assert.rejects(collect(f.fetch({ ...desc, size: desc.size - 1 })), isFailedPrecondition);
  });

  it('with verify: false leaves the digest to the ingest, and still checks the size', async () => {
    const f = await newResolver(FAST).fetcher(`${reg.host}/a/b:latest`);
    const wrong = { ...desc, digest: `sha256:${'2'.repeat(64)}` };
    reg.blobs.get('a/b')?.set(wrong.digest, data);
    const got = await collect(f.fetch(wrong, { verify: false }));
    assert.ok(got.equals(data));
    await assert.rejects(
      collect(f.fetch({ ...wrong, size: desc.size - 1 }, { verify: false })),
      isFailedPrecondition,
    );
  });

  it('answers not_found for a missing blob', async () => {
    const f = await newResolver(FAST).fetcher(`${reg.host}/a/b:latest`);
    await assert.rejects(
      collect(f.fetch({ ...desc, digest: `sha256:${'1'.repeat(64)}` })),
      (err: Error) =>
        isNotFound(err) && /404 Not Found: BLOB_UNKNOWN: blob unknown/.test(err.message),
    );
  });
});

describe('fetch when the server ignores Range', () => {
  it('skips what it had and verifies the digest', async () => {
    const reg = await FakeRegistry.start({ ignoreRange: true });
    try {
      const data = randomBytes(2_000_000);
      const desc = reg.addBlob('x', data);
      reg.faults.push({ match: (r) => r.url?.includes(desc.digest) === true, dropAfter: 700_000 });
      const f = await newResolver(FAST).fetcher(`${reg.host}/x:1`);
      assert.ok((await collect(f.fetch(desc))).equals(data));
      // From an offset, a full answer is hashed whole: the digest is checked after all.
      assert.ok((await collect(f.fetch(desc, { offset: 5 }))).equals(data.subarray(5)));
      const wrong = `sha256:${'2'.repeat(64)}`;
      reg.blobs.get('x')?.set(wrong, data);
      await assert.rejects(
        collect(f.fetch({ ...desc, digest: wrong }, { offset: 5 })),
        isFailedPrecondition,
      );
    } finally {
      await reg.close();
    }
  });
});

describe('fetch through a redirect to another host', () => {
  it('follows it without the Authorization header', async () => {
    const data = randomBytes(100_000);
    const storage = await HttpServer.start((req, res) => serveBytes(req, res, data, [], false));
    const reg = await FakeRegistry.start({
      auth: { scheme: 'basic', username: 'u', password: 'p' },
      redirectBlobsTo: `http://localhost:${storage.port}/storage`,
    });
    try {
      const desc = reg.addBlob('r', data);
      const f = await newResolver({
        ...FAST,
        credentials: async (h) => (h === reg.host ? { username: 'u', secret: 'p' } : undefined),
      }).fetcher(`${reg.host}/r:1`);
      assert.ok((await collect(f.fetch(desc))).equals(data));
      assert.equal(storage.requests.length, 1);
      assert.equal(storage.requests[0]?.headers.authorization, undefined);
      assert.ok(reg.requests.some((r) => r.headers.authorization?.startsWith('Basic ')));
    } finally {
      await reg.close();
      await storage.close();
    }
  });
});

describe('fetch from a stalled or canceled transfer', () => {
  it('times out a silent socket and resumes', async () => {
    const reg = await FakeRegistry.start();
    try {
      const data = randomBytes(500_000);
      const desc = reg.addBlob('s', data);
      reg.faults.push({ match: (r) => r.url?.includes(desc.digest) === true, stallAfter: 100_000 });
      const f = await newResolver({ ...FAST, idleTimeoutMs: 200 }).fetcher(`${reg.host}/s:1`);
      assert.ok((await collect(f.fetch(desc))).equals(data));
      assert.equal(reg.requests.filter((r) => r.headers.range === 'bytes=100000-').length, 1);
    } finally {
      await reg.close();
    }
  });

  it('stops with canceled when the signal aborts', async () => {
    const reg = await FakeRegistry.start();
    try {
      const data = randomBytes(500_000);
      const desc = reg.addBlob('s', data);
      reg.faults.push({
        match: (r) => r.url?.includes(desc.digest) === true,
        stallAfter: 100_000,
        times: 5,
      });
      const ac = new AbortController();
      const f = await newResolver(FAST).fetcher(`${reg.host}/s:1`);
      setTimeout(() => ac.abort(), 100);
      await assert.rejects(collect(f.fetch(desc, { signal: ac.signal })), isCanceled);
    } finally {
      await reg.close();
    }
  });
});
