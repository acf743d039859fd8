import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isFailedPrecondition, isInvalidArgument, isNotFound } from '../core/errdefs/index.js';
import { newResolver, type RegistryOptions } from './index.js';
import { FakeRegistry, sha256 } from './testing/fake-registry.js';

const FAST: RegistryOptions = { dockerConfig: false, retry: { baseMs: 1, maxMs: 5 } };
const INDEX = 'application/vnd.oci.image.index.v1+json';
const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [] }));

describe('resolve', () => {
  let reg: FakeRegistry;
  before(async () => {
    reg = await FakeRegistry.start();
    reg.addManifest('library/busybox', INDEX, body, 'latest');
  });
  after(() => reg.close());

  it('resolves a tag with HEAD and the Accept list, containerd order, */* last', async () => {
    const n = reg.requests.length;
    const r = await newResolver(FAST).resolve(`${reg.host}/library/busybox`);
    assert.deepEqual(r, {
      name: `${reg.host}/library/busybox:latest`,
      desc: { mediaType: INDEX, digest: sha256(body), size: body.length },
    });
    const reqs = reg.requests.slice(n);
    assert.deepEqual(
      reqs.map((q) => q.method),
      ['HEAD'],
    );
    assert.equal(
      reqs[0]?.headers.accept,
      'application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*',
    );
    assert.match(reqs[0]?.headers['user-agent'] ?? '', /^berth\//);
  });

  it('resolves a digest reference and checks it', async () => {
    const d = sha256(body);
    const r = await newResolver(FAST).resolve(`${reg.host}/library/busybox@${d}`);
    assert.equal(r.desc.digest, d);
    await assert.rejects(
      newResolver(FAST).resolve(`${reg.host}/library/busybox@sha256:${'4'.repeat(64)}`),
      isNotFound,
    );
  });

  it('answers not_found naming the reference, invalid_argument for a bad one', async () => {
    await assert.rejects(
      newResolver(FAST).resolve(`${reg.host}/library/busybox:nope`),
      (e: Error) => isNotFound(e) && e.message.includes(`${reg.host}/library/busybox:nope`),
    );
    await assert.rejects(
      newResolver(FAST).resolve('Bad//ref'),
      (e: Error) => isInvalidArgument(e) && e.message.includes('"Bad//ref"'),
    );
  });
});

describe('resolve without Docker-Content-Digest', () => {
  it('GETs the manifest and hashes it; a digest reference must match', async () => {
    const reg = await FakeRegistry.start({ noDigestHeader: true });
    try {
      reg.addManifest('x', INDEX, body, 'v1');
      const n = reg.requests.length;
      const r = await newResolver(FAST).resolve(`${reg.host}/x:v1`);
      assert.deepEqual(r.desc, { mediaType: INDEX, digest: sha256(body), size: body.length });
      assert.deepEqual(
        reg.requests.slice(n).map((q) => q.method),
        ['HEAD', 'GET'],
      );
      // The registry serves other bytes under a digest than the digest says.
      reg.manifests.get('x')?.set(`sha256:${'5'.repeat(64)}`, { type: INDEX, body });
      await assert.rejects(
        newResolver(FAST).resolve(`${reg.host}/x@sha256:${'5'.repeat(64)}`),
        isFailedPrecondition,
      );
    } finally {
      await reg.close();
    }
  });
});

describe('resolve through hosts.toml mirrors', () => {
  it('tries the mirrors in order (with ?ns=), then the server; credentials by each host', async () => {
    const server = await FakeRegistry.start({
      auth: { scheme: 'basic', username: 'su', password: 'sp' },
    });
    const empty = await FakeRegistry.start();
    const mirror = await FakeRegistry.start({
      auth: { scheme: 'basic', username: 'mu', password: 'mp' },
    });
    const dir = mkdtempSync(join(tmpdir(), 'berth-mirror-'));
    try {
      mirror.addManifest('app', INDEX, body, 'v1');
      server.addManifest('app', INDEX, body, 'v1');
      server.addManifest('only-server', INDEX, body, 'v1');
      const hostDir = join(dir, `${server.host.replace(':', '_')}_`);
      mkdirSync(hostDir);
      writeFileSync(
        join(hostDir, 'hosts.toml'),
        `server = "http://${server.host}"
[host."http://${empty.host}"]
  capabilities = ["pull", "resolve"]
[host."http://${mirror.host}"]
  capabilities = ["pull", "resolve"]
  header = { x-mirror = "yes" }
`,
      );
      const asked: string[] = [];
      const r = newResolver({
        ...FAST,
        hostsDir: dir,
        credentials: async (h) => {
          asked.push(h);
          if (h === server.host) return { username: 'su', secret: 'sp' };
          if (h === mirror.host) return { username: 'mu', secret: 'mp' };
          return undefined;
        },
      });
      const res = await r.resolve(`${server.host}/app:v1`);
      assert.equal(res.desc.digest, sha256(body));
      assert.equal(server.requests.length, 0);
      assert.equal(
        empty.requests[0]?.url,
        `/v2/app/manifests/v1?ns=${encodeURIComponent(server.host)}`,
      );
      assert.equal(mirror.requests.at(-1)?.headers['x-mirror'], 'yes');
      const serverAuth = `Basic ${Buffer.from('su:sp').toString('base64')}`;
      for (const q of [...mirror.requests, ...empty.requests])
        assert.notEqual(q.headers.authorization, serverAuth);
      assert.deepEqual(asked, [mirror.host]);
      // Not on any mirror: the server answers, with its own credentials.
      await r.resolve(`${server.host}/only-server:v1`);
      assert.equal(server.requests.at(-1)?.headers.authorization, serverAuth);
    } finally {
      await Promise.all([server.close(), empty.close(), mirror.close()]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
