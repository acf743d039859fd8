import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImageSummary } from './catalog.js';
import { inspectObject } from './inspect-json.js';

const ID = `sha256:${'a'.repeat(64)}`;
const D = `sha256:${'d'.repeat(64)}`;

function summary(name: string): ImageSummary {
  return {
    record: {
      name,
      labels: {},
      target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: D, size: 400 },
      createdAt: 0n,
      updatedAt: 1_704_067_200_000_000_000n,
    },
    image: undefined as never,
    id: ID,
    config: {
      architecture: 'arm64',
      variant: 'v8',
      os: 'linux',
      created: '2024-01-01T00:00:00Z',
      rootfs: { type: 'layers', diff_ids: ['sha256:l1'] },
      config: {
        Cmd: ['sh'],
        Env: ['PATH=/bin'],
        Labels: { a: 'b' },
        ExposedPorts: { '80/tcp': {} },
      },
    },
    created: new Date('2024-01-01T00:00:00Z'),
    size: 1234,
    sizeKind: 'unpacked',
  };
}

describe('inspectObject', () => {
  it("is docker's image inspect object, RepoTags and RepoDigests from every name of the ID", () => {
    const a = summary('docker.io/library/busybox:latest');
    const b = summary('127.0.0.1:5000/x:v1');
    const c = summary(`docker.io/library/busybox@${D}`);
    const o = inspectObject(a, [a, b, c]);
    assert.equal(o.Id, ID);
    assert.deepEqual(o.RepoTags, ['busybox:latest', '127.0.0.1:5000/x:v1']);
    assert.deepEqual(o.RepoDigests, [`busybox@${D}`, `127.0.0.1:5000/x@${D}`]);
    assert.equal(o.Created, '2024-01-01T00:00:00Z');
    assert.equal(o.Architecture, 'arm64');
    assert.equal(o.Variant, 'v8');
    assert.equal(o.Os, 'linux');
    assert.equal(o.Size, 1234);
    assert.deepEqual(o.RootFS, { Type: 'layers', Layers: ['sha256:l1'] });
    const cfg = o.Config as Record<string, unknown>;
    assert.deepEqual(cfg.Cmd, ['sh']);
    assert.deepEqual(cfg.Labels, { a: 'b' });
    assert.deepEqual(cfg.ExposedPorts, { '80/tcp': {} });
    assert.equal(cfg.Entrypoint, null);
    assert.equal(cfg.WorkingDir, '');
    assert.equal(cfg.User, '');
  });
});
