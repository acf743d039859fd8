import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http';
import {
  type AddressInfo,
  connect,
  createServer as createTcpServer,
  type Server as TcpServer,
} from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Descriptor } from '../../src/core/content/index.js';
import { isUnauthenticated } from '../../src/core/errdefs/index.js';
import type { Fetcher, Resolver } from '../../src/core/remotes/index.js';
import { newResolver, type RegistryOptions } from '../../src/remotes/index.js';
import {
  type BuiltImage,
  buildAndPush,
  busyboxImage,
  MEDIA_TYPES,
  type Pushed,
} from '../helpers/images.js';
import { Registry, TokenServer } from '../helpers/registry.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

/**
 * berth's registry client against the real registry (Debian's
 * docker-registry, distribution 2.8) on 127.0.0.1: open, htpasswd Basic
 * auth, token auth with a token server run here, a hosts.toml mirror,
 * credentials from config.json through a credsStore helper, a connection
 * dropped mid-blob, and the fetch rate against curl.
 */

const FAST: Partial<RegistryOptions> = { dockerConfig: false, retry: { baseMs: 20, maxMs: 200 } };

async function drain(it: AsyncIterable<Buffer>): Promise<{ size: number; digest: string }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of it) {
    h.update(c);
    size += c.length;
  }
  return { size, digest: `sha256:${h.digest('hex')}` };
}

/** Every descriptor under `root` (index → manifests → config and layers), children first. */
async function walk(f: Fetcher, root: Descriptor): Promise<Descriptor[]> {
  const out: Descriptor[] = [];
  const visit = async (d: Descriptor) => {
    if (d.mediaType === MEDIA_TYPES.index || d.mediaType === MEDIA_TYPES.manifest) {
      const parts: Buffer[] = [];
      for await (const c of f.fetch(d)) parts.push(c);
      const j = JSON.parse(Buffer.concat(parts).toString()) as {
        manifests?: Descriptor[];
        config?: Descriptor;
        layers?: Descriptor[];
      };
      for (const m of j.manifests ?? []) await visit(m);
      if (j.config) out.push(j.config);
      for (const l of j.layers ?? []) out.push(l);
    }
    out.push(d);
  };
  await visit(root);
  return out.map(({ mediaType, digest, size }) => ({ mediaType, digest, size }));
}

/** Copies `src` (every blob, children first) to `dst` through the client; mounts from `mountFrom`. */
async function copy(
  r: Resolver,
  src: string,
  dst: string,
  mountFrom?: string[],
): Promise<{ pushed: number; skipped: number }> {
  const { desc } = await r.resolve(src);
  const f = await r.fetcher(src);
  const p = await r.pusher(dst);
  let pushed = 0;
  let skipped = 0;
  for (const d of await walk(f, desc)) {
    const did = await p.push(d, () => f.fetch(d), mountFrom ? { mountFrom } : {});
    if (did) pushed++;
    else skipped++;
  }
  return { pushed, skipped };
}

/** How many access-log lines name `needle` and answered `status`. */
function logged(reg: Registry, needle: RegExp): number {
  return reg.output.split('\n').filter((l) => needle.test(l)).length;
}

describe('registry client against docker-registry', () => {
  let dir: TempDir;
  let open: Registry;
  let img: BuiltImage & { pushed: Pushed };
  const repo = 'library/busybox';

  before(async () => {
    dir = tempDir();
    open = await Registry.start(dir, { accessLog: true });
    img = await buildAndPush(dir, open, busyboxImage({ index: true }), `${repo}:latest`);
  });
  after(async () => {
    await open?.stop();
    dir?.remove();
  });

  describe('open registry', () => {
    it('resolves the tag and fetches every blob, verified', async () => {
      const r = newResolver(FAST);
      const { name, desc } = await r.resolve(`${open.host}/${repo}:latest`);
      assert.equal(name, `${open.host}/${repo}:latest`);
      assert.deepEqual(desc, {
        mediaType: MEDIA_TYPES.index,
        digest: img.pushed.digest,
        size: img.index?.size,
      });
      const f = await r.fetcher(name);
      const all = await walk(f, desc);
      assert.deepEqual(
        all.map((d) => d.digest),
        [
          img.config.digest,
          ...img.layers.map((l) => l.digest),
          img.manifest.digest,
          img.index?.digest,
        ],
      );
      for (const d of all)
        assert.deepEqual(await drain(f.fetch(d)), { size: d.size, digest: d.digest });
      // By digest too.
      const byDigest = await r.resolve(`${open.host}/${repo}@${img.manifest.digest}`);
      assert.deepEqual(byDigest.desc, {
        mediaType: MEDIA_TYPES.manifest,
        digest: img.manifest.digest,
        size: img.manifest.size,
      });
    });

    it('pushes to a new repository with cross-repository mounts and resolves it back', async () => {
      const r = newResolver(FAST);
      const before = logged(
        open,
        /POST \/v2\/copy\/bb\/blobs\/uploads\/\?.*mount=.*HTTP\/1.1" 201/,
      );
      const n = await copy(r, `${open.host}/${repo}:latest`, `${open.host}/copy/bb:v1`, [repo]);
      // Config and layer are mounted, manifest and index put.
      assert.deepEqual(n, { pushed: 2, skipped: 2 });
      assert.equal(
        logged(open, /POST \/v2\/copy\/bb\/blobs\/uploads\/\?.*mount=.*HTTP\/1.1" 201/) - before,
        2,
        open.output.slice(-3000),
      );
      const back = await r.resolve(`${open.host}/copy/bb:v1`);
      assert.equal(back.desc.digest, img.pushed.digest);
      // Again, pinned to the root (name:tag@digest): the children are checked by digest, the root by the tag.
      assert.deepEqual(
        await copy(
          r,
          `${open.host}/${repo}:latest`,
          `${open.host}/copy/bb:v1@${img.pushed.digest}`,
        ),
        { pushed: 0, skipped: 4 },
      );
    });

    it('uploads in PATCH chunks and monolithically to the real registry', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 5);
      const desc = {
        mediaType: 'application/octet-stream',
        digest: `sha256:${createHash('sha256').update(data).digest('hex')}`,
        size: data.length,
      };
      const chunked = newResolver({
        ...FAST,
        push: { monolithicMax: 1024 * 1024, chunkSize: 1024 * 1024 },
      });
      const p = await chunked.pusher(`${open.host}/chunks/x:v1`);
      const src = async function* () {
        for (let i = 0; i < data.length; i += 100_000) yield data.subarray(i, i + 100_000);
      };
      assert.equal(await p.push(desc, src), true);
      assert.equal(logged(open, /PATCH \/v2\/chunks\/x\/blobs\/uploads\/.*HTTP\/1.1" 202/), 4);
      const f = await chunked.fetcher(`${open.host}/chunks/x:v1`);
      assert.deepEqual(await drain(f.fetch(desc)), { size: desc.size, digest: desc.digest });
      const small = randomBytes(1000);
      const sd = {
        mediaType: 'application/octet-stream',
        digest: `sha256:${createHash('sha256').update(small).digest('hex')}`,
        size: small.length,
      };
      assert.equal(
        await (await newResolver(FAST).pusher(`${open.host}/chunks/y:v1`)).push(
          sd,
          async function* () {
            yield small;
          },
        ),
        true,
      );
    });

    it('resumes a blob when a proxy drops the connection mid-body, and the digest verifies', async () => {
      const layer = img.layers[0] as Descriptor;
      const proxy = await DroppingProxy.start(open.port, layer.digest, 300_000);
      try {
        const r = newResolver(FAST);
        const f = await r.fetcher(`127.0.0.1:${proxy.port}/${repo}:latest`);
        assert.deepEqual(await drain(f.fetch(layer)), { size: layer.size, digest: layer.digest });
        assert.equal(proxy.dropped, 1);
        assert.match(proxy.requests.join('\n'), /range: bytes=\d+-/i);
      } finally {
        await proxy.close();
      }
    });

    it('fetches a ~90 MB blob at the speed curl does', async (t) => {
      const size = 90 * 1024 * 1024;
      const h = createHash('sha256');
      const block = randomBytes(1024 * 1024);
      for (let i = 0; i < size / block.length; i++) h.update(block);
      const desc = {
        mediaType: 'application/octet-stream',
        digest: `sha256:${h.digest('hex')}`,
        size,
      };
      const src = async function* () {
        for (let i = 0; i < size / block.length; i++) yield block;
      };
      const r = newResolver(FAST);
      const t0 = performance.now();
      assert.equal(await (await r.pusher(`${open.host}/big/blob:v1`)).push(desc, src), true);
      const pushMs = performance.now() - t0;
      const f = await r.fetcher(`${open.host}/big/blob:v1`);
      await drain(f.fetch(desc)); // warm the page cache
      const rates = { berth: [] as number[], curl: [] as number[] };
      for (let i = 0; i < 3; i++) {
        const t1 = performance.now();
        let n = 0;
        for await (const c of f.fetch(desc)) n += c.length; // size and digest verified inside
        rates.berth.push(size / 1048576 / ((performance.now() - t1) / 1000));
        assert.equal(n, size);
        const t2 = performance.now();
        const c = spawnSync('curl', [
          '-sS',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          `${open.url}/v2/big/blob/blobs/${desc.digest}`,
        ]);
        rates.curl.push(size / 1048576 / ((performance.now() - t2) / 1000));
        assert.equal(c.stdout.toString(), '200');
      }
      const best = (xs: number[]) => Math.max(...xs);
      t.diagnostic(
        `push 90 MiB (chunked): ${(size / 1048576 / (pushMs / 1000)).toFixed(0)} MiB/s; fetch with sha256: berth ${best(rates.berth).toFixed(0)} MiB/s, curl -o /dev/null ${best(rates.curl).toFixed(0)} MiB/s`,
      );
      // sha256 on one core bounds berth (curl does not hash); the bound is loose because CI
      // machines are shared: it catches a pathological path (tiny reads, copies), not noise.
      assert.ok(best(rates.berth) > best(rates.curl) * 0.1, JSON.stringify(rates));
    });
  });

  describe('htpasswd basic auth', () => {
    let reg: Registry;
    before(async () => {
      reg = await Registry.start(dir, { storage: open.storage, htpasswd: { alice: 's3cret' } });
    });
    after(() => reg?.stop());

    it('pulls and pushes with the credentials', async () => {
      const r = newResolver({
        ...FAST,
        credentials: async (h) =>
          h === reg.host ? { username: 'alice', secret: 's3cret' } : undefined,
      });
      const { desc } = await r.resolve(`${reg.host}/${repo}:latest`);
      assert.equal(desc.digest, img.pushed.digest);
      for (const d of await walk(await r.fetcher(`${reg.host}/${repo}:latest`), desc)) {
        assert.equal(
          (await drain((await r.fetcher(`${reg.host}/${repo}:latest`)).fetch(d))).digest,
          d.digest,
        );
      }
      assert.deepEqual(
        await copy(r, `${reg.host}/${repo}:latest`, `${reg.host}/basic/copy:v1`, [repo]),
        { pushed: 2, skipped: 2 },
      );
    });

    it('a wrong password fails naming the registry and the 401', async () => {
      const r = newResolver({
        ...FAST,
        credentials: async () => ({ username: 'alice', secret: 'wrong' }),
      });
      await assert.rejects(r.resolve(`${reg.host}/${repo}:latest`), (err: Error) => {
        assert.ok(isUnauthenticated(err), String(err));
        assert.match(
          err.message,
          new RegExp(
            `^pull ${reg.host}/${repo}:latest: HEAD http://${reg.host}/v2/${repo}/manifests/latest: 401 Unauthorized`,
          ),
        );
        return true;
      });
      const f = await r.fetcher(`${reg.host}/${repo}:latest`);
      await assert.rejects(drain(f.fetch(img.config)), (err: Error) => {
        assert.ok(isUnauthenticated(err));
        assert.match(
          err.message,
          new RegExp(
            `GET http://${reg.host}/v2/${repo}/blobs/${img.config.digest}: 401 Unauthorized: UNAUTHORIZED: authentication required`,
          ),
        );
        return true;
      });
      await assert.rejects(
        newResolver(FAST).resolve(`${reg.host}/${repo}:latest`),
        isUnauthenticated,
      );
    });

    it('takes the credentials from config.json through a credsStore helper', async () => {
      const cfg = join(dir.path, 'docker-config');
      const bin = join(dir.path, 'bin');
      mkdirSync(cfg, { recursive: true });
      mkdirSync(bin, { recursive: true });
      writeFileSync(
        join(cfg, 'config.json'),
        JSON.stringify({ credsStore: 'berthtest', auths: { [reg.host]: {} } }),
      );
      const log = join(dir.path, 'helper.log');
      writeFileSync(
        join(bin, 'docker-credential-berthtest'),
        `#!/bin/sh\nread -r server\necho "$1 $server" >> ${log}\nif [ "$server" = "${reg.host}" ]; then echo '{"ServerURL":"${reg.host}","Username":"alice","Secret":"s3cret"}'; else echo "credentials not found in native keychain"; exit 1; fi\n`,
      );
      chmodSync(join(bin, 'docker-credential-berthtest'), 0o755);
      const path = process.env.PATH;
      process.env.PATH = `${bin}:${path}`;
      try {
        const r = newResolver({ ...FAST, dockerConfig: cfg });
        assert.equal(
          (await r.resolve(`${reg.host}/${repo}:latest`)).desc.digest,
          img.pushed.digest,
        );
        const { readFileSync } = await import('node:fs');
        assert.equal(readFileSync(log, 'utf8').trim(), `get ${reg.host}`);
      } finally {
        process.env.PATH = path;
      }
    });
  });

  describe('token auth', () => {
    let tokens: TokenServer;
    let reg: Registry;
    before(async () => {
      tokens = await TokenServer.start(dir, {
        users: { bob: 'pw' },
        refreshTokens: { 'bob-identity': 'bob' },
      });
      reg = await Registry.start(dir, { storage: open.storage, token: tokens.registryAuth });
    });
    after(async () => {
      await reg?.stop();
      await tokens?.close();
    });

    it('gets a token per scope from the realm, pulls, mounts and pushes', async () => {
      const r = newResolver({
        ...FAST,
        credentials: async (h) => (h === reg.host ? { username: 'bob', secret: 'pw' } : undefined),
      });
      const { desc } = await r.resolve(`${reg.host}/${repo}:latest`);
      assert.equal(desc.digest, img.pushed.digest);
      const f = await r.fetcher(`${reg.host}/${repo}:latest`);
      for (const d of await walk(f, desc)) assert.equal((await drain(f.fetch(d))).digest, d.digest);
      const pulls = tokens.requests.length;
      assert.equal(pulls, 1, JSON.stringify(tokens.requests)); // one token for repository:…:pull, cached
      assert.deepEqual(tokens.requests[0]?.scopes, [`repository:${repo}:pull`]);
      assert.equal(tokens.requests[0]?.user, 'bob');
      assert.deepEqual(
        await copy(r, `${reg.host}/${repo}:latest`, `${reg.host}/token/copy:v1`, [repo]),
        { pushed: 2, skipped: 2 },
      );
      assert.ok(
        tokens.requests.some(
          (q) =>
            q.scopes.includes('repository:token/copy:pull,push') &&
            q.scopes.includes(`repository:${repo}:pull`),
        ),
        JSON.stringify(tokens.requests),
      );
      assert.equal((await r.resolve(`${reg.host}/token/copy:v1`)).desc.digest, img.pushed.digest);
    });

    it('uses an identity token with a POST refresh_token grant', async () => {
      const r = newResolver({
        ...FAST,
        credentials: async () => ({ username: '', secret: 'bob-identity' }),
      });
      assert.equal((await r.resolve(`${reg.host}/${repo}:latest`)).desc.digest, img.pushed.digest);
      assert.equal(tokens.requests.at(-1)?.method, 'POST');
    });

    it('a wrong password fails naming the token realm and the 401', async () => {
      const r = newResolver({
        ...FAST,
        credentials: async () => ({ username: 'bob', secret: 'nope' }),
      });
      await assert.rejects(r.resolve(`${reg.host}/${repo}:latest`), (err: Error) => {
        assert.ok(isUnauthenticated(err), String(err));
        assert.match(
          err.message,
          new RegExp(
            `^pull ${reg.host}/${repo}:latest: HEAD http://${reg.host}/v2/${repo}/manifests/latest: token from GET ${tokens.realm}.*: 401: UNAUTHORIZED: invalid credentials`,
          ),
        );
        return true;
      });
    });
  });

  describe('hosts.toml mirror', () => {
    it('pulls from the mirror with the mirror own credentials; the server gets nothing', async () => {
      // The mirror: its own storage with the image, then htpasswd with other credentials.
      const mdir = tempDir();
      let mirror = await Registry.start(mdir);
      const server = await Registry.start(dir, {
        storage: open.storage,
        htpasswd: { alice: 's3cret' },
        accessLog: true,
      });
      let spy: HeaderSpy | undefined;
      try {
        await buildAndPush(mdir, mirror, busyboxImage({ index: true }), `${repo}:latest`);
        const storage = mirror.storage;
        await mirror.stop();
        mirror = await Registry.start(mdir, { storage, htpasswd: { mirroruser: 'mpw' } });
        spy = await HeaderSpy.start(mirror.port);
        const hosts = join(dir.path, 'certs.d');
        mkdirSync(join(hosts, server.host), { recursive: true });
        writeFileSync(
          join(hosts, server.host, 'hosts.toml'),
          `server = "http://${server.host}"\n\n[host."http://${spy.host}"]\n  capabilities = ["pull", "resolve"]\n`,
        );
        const cfg = join(dir.path, 'mirror-config');
        mkdirSync(cfg, { recursive: true });
        const b64 = (s: string) => Buffer.from(s).toString('base64');
        writeFileSync(
          join(cfg, 'config.json'),
          JSON.stringify({
            auths: {
              [server.host]: { auth: b64('alice:s3cret') },
              [spy.host]: { auth: b64('mirroruser:mpw') },
            },
          }),
        );
        const r = newResolver({ ...FAST, hostsDir: hosts, dockerConfig: cfg });
        const { desc } = await r.resolve(`${server.host}/${repo}:latest`);
        assert.equal(desc.digest, img.pushed.digest);
        const f = await r.fetcher(`${server.host}/${repo}:latest`);
        for (const d of await walk(f, desc))
          assert.equal((await drain(f.fetch(d))).digest, d.digest);
        assert.equal(logged(server, /"(HEAD|GET) \/v2\/library/), 0, 'the server was not asked');
        const auths = spy.requests.map((q) => q.authorization).filter((a) => a !== undefined);
        assert.ok(auths.includes(`Basic ${b64('mirroruser:mpw')}`));
        assert.ok(
          !auths.includes(`Basic ${b64('alice:s3cret')}`),
          'the server credentials went to the mirror',
        );
        assert.ok(
          spy.requests.every((q) => q.url.includes(`ns=${encodeURIComponent(server.host)}`)),
        );
      } finally {
        await spy?.close();
        await mirror.stop();
        await server.stop();
        mdir.remove();
      }
    });
  });
});

/** An HTTP forwarder that records each request's URL and Authorization. */
class HeaderSpy {
  readonly requests: { url: string; authorization?: string }[] = [];
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(target: number): Promise<HeaderSpy> {
    let self: HeaderSpy | undefined;
    const server = createHttpServer((req, res) => {
      self?.requests.push({
        url: req.url ?? '',
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      });
      const up = httpRequest(
        {
          host: '127.0.0.1',
          port: target,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (ures) => {
          res.writeHead(ures.statusCode ?? 502, ures.headers);
          ures.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new HeaderSpy(server, (server.address() as AddressInfo).port);
    return self;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/**
 * A TCP proxy that cuts, once, the first connection whose request is a GET
 * of `digest` without Range, after `after` bytes of the answer.
 */
class DroppingProxy {
  dropped = 0;
  readonly requests: string[] = [];
  private constructor(
    private readonly server: TcpServer,
    readonly port: number,
    private readonly sockets: Set<import('node:net').Socket>,
  ) {}

  static async start(target: number, digest: string, after: number): Promise<DroppingProxy> {
    let self: DroppingProxy | undefined;
    const sockets = new Set<import('node:net').Socket>();
    const server = createTcpServer((client) => {
      const up = connect(target, '127.0.0.1');
      sockets.add(client);
      sockets.add(up);
      let cutAt = -1;
      let sent = 0;
      client.on('data', (b: Buffer) => {
        const text = b.toString('latin1');
        if (/^(GET|HEAD) /m.test(text)) self?.requests.push(text.split('\r\n\r\n')[0] ?? '');
        if (
          self &&
          self.dropped === 0 &&
          cutAt < 0 &&
          text.includes(`GET /v2/`) &&
          text.includes(digest) &&
          !/\r\nrange:/i.test(text)
        ) {
          cutAt = after;
          sent = 0;
        }
        up.write(b);
      });
      up.on('data', (b: Buffer) => {
        if (cutAt >= 0 && sent + b.length > cutAt) {
          client.write(b.subarray(0, Math.max(0, cutAt - sent)));
          if (self) self.dropped++;
          cutAt = -1;
          client.destroy();
          up.destroy();
          return;
        }
        sent += b.length;
        client.write(b);
      });
      const end = () => {
        client.destroy();
        up.destroy();
      };
      client.on('error', end);
      up.on('error', end);
      client.on('close', end);
      up.on('close', end);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new DroppingProxy(server, (server.address() as AddressInfo).port, sockets);
    return self;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}
