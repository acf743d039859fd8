import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { isUnauthenticated } from '../core/errdefs/index.js';
import { newResolver, type RegistryOptions } from './index.js';
import { FakeRegistry, HttpServer } from './testing/fake-registry.js';

const FAST: RegistryOptions = { dockerConfig: false, retry: { baseMs: 1, maxMs: 5 } };

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

/** A token server: `GET` with Basic u:p, or `POST` with refresh token `rt`; hands out `tokens` in order. */
async function tokenServer(tokens: string[], expiresIn?: number) {
  return HttpServer.start((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, body: object) => {
      const b = JSON.stringify(body);
      res
        .writeHead(status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(b),
        })
        .end(b);
    };
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      if (req.method === 'POST') {
        const f = new URLSearchParams(body);
        if (f.get('grant_type') !== 'refresh_token' || f.get('refresh_token') !== 'rt') {
          send(401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad refresh token' }] });
          return;
        }
        send(200, { access_token: tokens.shift(), expires_in: expiresIn });
        return;
      }
      if (req.headers.authorization !== `Basic ${Buffer.from('u:p').toString('base64')}`) {
        send(401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] });
        return;
      }
      assert.equal(u.searchParams.get('service'), 'fake');
      send(200, { token: tokens.shift(), expires_in: expiresIn });
    });
  });
}

describe('bearer auth', () => {
  const tokensQueue = ['t1', 't2', 't3', 't4'];
  let tokens: HttpServer;
  let reg: FakeRegistry;
  const data = randomBytes(1000);
  let desc: { mediaType: string; digest: string; size: number };
  before(async () => {
    tokens = await tokenServer(tokensQueue);
    reg = await FakeRegistry.start({
      auth: {
        scheme: 'bearer',
        realm: `http://${tokens.host}/token`,
        service: 'fake',
        token: 't1',
      },
    });
    desc = reg.addBlob('a', data);
  });
  after(async () => {
    await reg.close();
    await tokens.close();
  });

  it('answers a 401 with a token for the scope and caches it', async () => {
    const r = newResolver({ ...FAST, credentials: async () => ({ username: 'u', secret: 'p' }) });
    const f = await r.fetcher(`${reg.host}/a:1`);
    assert.ok((await collect(f.fetch(desc))).equals(data));
    assert.ok((await collect(f.fetch(desc))).equals(data));
    assert.equal(tokens.requests.length, 1);
    const q = new URL(tokens.requests[0]?.url ?? '', 'http://x').searchParams;
    assert.deepEqual(q.getAll('scope'), ['repository:a:pull']);
  });

  it('fetches a new token when the cached one is refused', async () => {
    if (reg.opts.auth?.scheme === 'bearer') reg.opts.auth.token = 't2';
    const r = newResolver({ ...FAST, credentials: async () => ({ username: 'u', secret: 'p' }) });
    const f = await r.fetcher(`${reg.host}/a:1`);
    // t1 was fetched by the first test's resolver; this one gets t2 at once.
    assert.ok((await collect(f.fetch(desc))).equals(data));
    if (reg.opts.auth?.scheme === 'bearer') reg.opts.auth.token = 't3';
    assert.ok((await collect(f.fetch(desc))).equals(data)); // t2 refused → t3
    assert.equal(tokens.requests.length, 3);
  });

  it('asks credentials and a token once for concurrent first requests', async () => {
    if (reg.opts.auth?.scheme === 'bearer') reg.opts.auth.token = 't3';
    let asked = 0;
    const n = tokens.requests.length;
    const r = newResolver({
      ...FAST,
      credentials: async () => {
        asked++;
        return { username: 'u', secret: 'p' };
      },
    });
    const f = await r.fetcher(`${reg.host}/a:1`);
    tokensQueue.unshift('t3');
    const all = await Promise.all(Array.from({ length: 5 }, () => collect(f.fetch(desc))));
    for (const got of all) assert.ok(got.equals(data));
    assert.equal(asked, 1);
    assert.equal(tokens.requests.length - n, 1);
  });

  it('uses an identity token as an OAuth refresh token (POST)', async () => {
    if (reg.opts.auth?.scheme === 'bearer') reg.opts.auth.token = 't4';
    const r = newResolver({ ...FAST, credentials: async () => ({ username: '', secret: 'rt' }) });
    const f = await r.fetcher(`${reg.host}/a:1`);
    assert.ok((await collect(f.fetch(desc))).equals(data));
    assert.equal(tokens.requests.at(-1)?.method, 'POST');
  });

  it('sends a whole Authorization header from the credentials as it is, asking no token', async () => {
    if (reg.opts.auth?.scheme === 'bearer') reg.opts.auth.token = 'given';
    const n = tokens.requests.length;
    let asked = 0;
    const r = newResolver({
      ...FAST,
      credentials: async (host) => {
        asked++;
        return host === reg.host ? { username: '', secret: '', header: 'Bearer given' } : undefined;
      },
    });
    const f = await r.fetcher(`${reg.host}/a:1`);
    assert.ok((await collect(f.fetch(desc))).equals(data));
    assert.ok((await collect(f.fetch(desc))).equals(data));
    assert.equal(tokens.requests.length, n, 'no token asked');
    assert.equal(asked, 1);
    // A refused header is not sent again: the 401 stands.
    if (reg.opts.auth?.scheme === 'bearer') reg.opts.auth.token = 'other';
    await assert.rejects(collect(f.fetch(desc)), isUnauthenticated);
    assert.equal(tokens.requests.length, n);
  });

  it('fails unauthenticated when the token server refuses the credentials', async () => {
    const r = newResolver({
      ...FAST,
      credentials: async () => ({ username: 'u', secret: 'wrong' }),
    });
    await assert.rejects(r.resolve(`${reg.host}/a:1`), (err: Error) => {
      assert.ok(isUnauthenticated(err), String(err));
      assert.match(
        err.message,
        new RegExp(
          `^pull ${reg.host}/a:1: HEAD http://${reg.host}/v2/a/manifests/1: token from GET http://${tokens.host}/token.*: 401: UNAUTHORIZED: bad credentials`,
        ),
      );
      return true;
    });
  });
});

describe('basic auth', () => {
  it('sends the credentials after the challenge, and a wrong password fails naming the registry and the 401', async () => {
    const reg = await FakeRegistry.start({
      auth: { scheme: 'basic', username: 'u', password: 'p' },
    });
    try {
      reg.addManifest(
        'm',
        'application/vnd.oci.image.manifest.v1+json',
        Buffer.from('{"config":{},"layers":[]}'),
        'v1',
      );
      const ok = newResolver({
        ...FAST,
        credentials: async () => ({ username: 'u', secret: 'p' }),
      });
      const { desc } = await ok.resolve(`${reg.host}/m:v1`);
      assert.equal(desc.mediaType, 'application/vnd.oci.image.manifest.v1+json');
      const bad = newResolver({
        ...FAST,
        credentials: async () => ({ username: 'u', secret: 'nope' }),
      });
      await assert.rejects(bad.resolve(`${reg.host}/m:v1`), (err: Error) => {
        assert.ok(isUnauthenticated(err));
        assert.match(
          err.message,
          new RegExp(
            `^pull ${reg.host}/m:v1: HEAD http://${reg.host}/v2/m/manifests/v1: 401 Unauthorized`,
          ),
        );
        return true;
      });
      const anon = newResolver(FAST);
      await assert.rejects(anon.resolve(`${reg.host}/m:v1`), isUnauthenticated);
      // A whole header given by a transfer client, whatever the challenge's scheme.
      const header = newResolver({
        ...FAST,
        credentials: async () => ({
          username: '',
          secret: '',
          header: `Basic ${Buffer.from('u:p').toString('base64')}`,
        }),
      });
      assert.equal((await header.resolve(`${reg.host}/m:v1`)).desc.digest, desc.digest);
    } finally {
      await reg.close();
    }
  });
});
