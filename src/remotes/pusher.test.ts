import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { isFailedPrecondition } from '../core/errdefs/index.js';
import { newResolver, type RegistryOptions } from './index.js';
import { FakeRegistry, sha256 } from './testing/fake-registry.js';

const FAST: RegistryOptions = { dockerConfig: false, retry: { baseMs: 1, maxMs: 5 } };

/** Yields `b` in pieces of `n` bytes, as a content store reader would. */
function pieces(b: Buffer, n = 64 * 1024): () => AsyncIterable<Buffer> {
  return async function* () {
    for (let i = 0; i < b.length; i += n) yield b.subarray(i, i + n);
  };
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

describe('push', () => {
  let reg: FakeRegistry;
  before(async () => {
    reg = await FakeRegistry.start();
  });
  after(() => reg.close());

  it('uploads a small blob monolithically (POST, PUT ?digest=) and skips it when present', async () => {
    const data = randomBytes(5000);
    const desc = {
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: sha256(data),
      size: data.length,
    };
    const p = await newResolver(FAST).pusher(`${reg.host}/mono:v1`);
    const n = reg.requests.length;
    assert.equal(await p.push(desc, pieces(data)), true);
    assert.deepEqual(
      reg.requests.slice(n).map((r) => r.method),
      ['HEAD', 'POST', 'PUT'],
    );
    assert.ok(reg.blobs.get('mono')?.get(desc.digest)?.equals(data));
    assert.equal(await p.push(desc, pieces(data)), false);
  });

  it('uploads a large blob in PATCH chunks with Content-Range, following each Location', async () => {
    const data = randomBytes(250_000);
    const desc = {
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: sha256(data),
      size: data.length,
    };
    const p = await newResolver({
      ...FAST,
      push: { monolithicMax: 100_000, chunkSize: 100_000 },
    }).pusher(`${reg.host}/chunked:v1`);
    const n = reg.requests.length;
    assert.equal(await p.push(desc, pieces(data, 7000)), true);
    const reqs = reg.requests.slice(n);
    assert.deepEqual(
      reqs.map((r) => r.method),
      ['HEAD', 'POST', 'PATCH', 'PATCH', 'PATCH', 'PUT'],
    );
    assert.deepEqual(
      reqs.filter((r) => r.method === 'PATCH').map((r) => r.headers['content-range']),
      ['0-99999', '100000-199999', '200000-249999'],
    );
    assert.match(reqs.at(-1)?.url ?? '', /_state=y250000&digest=sha256%3A/);
    assert.ok(reg.blobs.get('chunked')?.get(desc.digest)?.equals(data));
  });

  it('mounts from another repository (201) instead of uploading', async () => {
    const data = randomBytes(3000);
    const desc = reg.addBlob('src/repo', data);
    const p = await newResolver(FAST).pusher(`${reg.host}/dst:v1`);
    const n = reg.requests.length;
    assert.equal(await p.push(desc, pieces(data), { mountFrom: ['src/repo'] }), false);
    const reqs = reg.requests.slice(n);
    assert.deepEqual(
      reqs.map((r) => r.method),
      ['HEAD', 'POST'],
    );
    assert.match(reqs[1]?.url ?? '', /\?mount=sha256%3A[0-9a-f]{64}&from=src%2Frepo$/);
    assert.ok(reg.blobs.get('dst')?.has(desc.digest));
  });

  it('uploads when the mount source does not have it (202)', async () => {
    const data = randomBytes(3000);
    const digest = sha256(data);
    const p = await newResolver(FAST).pusher(`${reg.host}/dst2:v1`);
    assert.equal(
      await p.push({ mediaType: 'x', digest, size: data.length }, pieces(data), {
        mountFrom: ['nowhere'],
      }),
      true,
    );
    assert.ok(reg.blobs.get('dst2')?.get(digest)?.equals(data));
  });

  it('refuses data that is not what the descriptor says', async () => {
    const data = randomBytes(3000);
    const p = await newResolver(FAST).pusher(`${reg.host}/bad:v1`);
    await assert.rejects(
      p.push({ mediaType: 'x', digest: sha256(data), size: data.length + 1 }, pieces(data)),
      isFailedPrecondition,
    );
    await assert.rejects(
      p.push(
        { mediaType: OCI_MANIFEST, digest: `sha256:${'3'.repeat(64)}`, size: data.length },
        pieces(data),
      ),
      isFailedPrecondition,
    );
  });

  it('puts manifests under the tag, or only the named digest under it with name:tag@digest', async () => {
    const child = Buffer.from(JSON.stringify({ mediaType: OCI_MANIFEST, config: {}, layers: [] }));
    const childDesc = { mediaType: OCI_MANIFEST, digest: sha256(child), size: child.length };
    const index = Buffer.from(JSON.stringify({ mediaType: OCI_INDEX, manifests: [childDesc] }));
    const indexDesc = { mediaType: OCI_INDEX, digest: sha256(index), size: index.length };

    const byTag = await newResolver(FAST).pusher(`${reg.host}/img:v1`);
    assert.equal(await byTag.push(childDesc, pieces(child)), true);
    assert.equal(await byTag.push(indexDesc, pieces(index)), true);
    assert.equal(reg.tags.get('img')?.get('v1'), indexDesc.digest);
    assert.equal(await byTag.push(indexDesc, pieces(index)), false);

    const n = reg.requests.length;
    const pinned = await newResolver(FAST).pusher(`${reg.host}/img2:v2@${indexDesc.digest}`);
    await pinned.push(childDesc, pieces(child));
    await pinned.push(indexDesc, pieces(index));
    const puts = reg.requests
      .slice(n)
      .filter((r) => r.method === 'PUT')
      .map((r) => r.url);
    assert.deepEqual(puts, [`/v2/img2/manifests/${childDesc.digest}`, '/v2/img2/manifests/v2']);
    assert.equal(reg.manifests.get('img2')?.get(childDesc.digest)?.type, OCI_MANIFEST);
    const { desc } = await newResolver(FAST).resolve(`${reg.host}/img2:v2`);
    assert.deepEqual(desc, indexDesc);
  });
});
