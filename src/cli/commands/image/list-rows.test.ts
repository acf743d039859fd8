import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderTable } from '../../format/index.js';
import type { ImageSummary } from './catalog.js';
import { imageTable, parseImageFilters, passes, rowOf } from './list-rows.js';

const ID = `sha256:${'c0ffee'.repeat(10)}abcd`;
const NOW = new Date('2024-01-01T02:00:00Z');

function summary(
  name: string,
  opts: { labels?: Record<string, string>; created?: string } = {},
): ImageSummary {
  return {
    record: {
      name,
      labels: {},
      target: {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: `sha256:${'d'.repeat(64)}`,
        size: 400,
      },
      createdAt: 0n,
      updatedAt: 0n,
    },
    image: undefined as never,
    id: ID,
    config: {
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
      config: { Labels: opts.labels ?? {} },
    },
    created: new Date(opts.created ?? '2024-01-01T00:00:00Z'),
    size: 4_262_000,
    sizeKind: 'content',
  };
}

describe('image rows', () => {
  it("are docker's JSON objects, the table docker's columns", () => {
    const r = rowOf(summary('docker.io/library/busybox:latest'), { noTrunc: false }, NOW);
    assert.equal(r.Repository, 'busybox');
    assert.equal(r.Tag, 'latest');
    assert.equal(r.ID, 'c0ffeec0ffee');
    assert.equal(r.Size, '4.26MB');
    assert.equal(r.CreatedSince, '2 hours ago');
    assert.equal(r.Digest, `sha256:${'d'.repeat(64)}`);
    const full = rowOf(summary('docker.io/library/busybox:latest'), { noTrunc: true }, NOW);
    assert.equal(full.ID, ID);
    assert.equal(
      renderTable(imageTable(false).columns, [r]),
      'REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n' +
        'busybox      latest    c0ffeec0ffee   2 hours ago   4.26MB\n',
    );
    assert.deepEqual(
      imageTable(true).columns.map((c) => c.header),
      ['REPOSITORY', 'TAG', 'DIGEST', 'IMAGE ID', 'CREATED', 'SIZE'],
    );
  });
});

describe('image filters', () => {
  it('parses docker filter flags and refuses unknown keys and bad values', () => {
    const f = parseImageFilters(['reference=busybox', 'label=a=b', 'label=c', 'dangling=true']);
    assert.deepEqual(
      [...f],
      [
        ['reference', ['busybox']],
        ['label', ['a=b', 'c']],
        ['dangling', ['true']],
      ],
    );
    assert.throws(() => parseImageFilters(['color=red']), /invalid filter 'color'/);
    assert.throws(() => parseImageFilters(['dangling=maybe']), /invalid filter/);
    assert.throws(() => parseImageFilters(['nokey']), /bad format of filter/);
  });

  it('keeps what passes every key', () => {
    const none = () => undefined;
    const s = summary('docker.io/library/busybox:latest', { labels: { a: 'b', c: '' } });
    const f = (...x: string[]) => parseImageFilters(x);
    assert.equal(passes(s, f('reference=busybox'), none), true);
    assert.equal(passes(s, f('reference=alpine'), none), false);
    assert.equal(passes(s, f('reference=alpine', 'reference=busybox'), none), true);
    assert.equal(passes(s, f('label=a=b', 'label=c'), none), true);
    assert.equal(passes(s, f('label=a=x'), none), false);
    assert.equal(passes(s, f('label=zz'), none), false);
    assert.equal(passes(s, f('dangling=false'), none), true);
    assert.equal(passes(s, f('dangling=true'), none), false);
    const d = summary(`docker.io/library/busybox@sha256:${'e'.repeat(64)}`);
    assert.equal(passes(d, f('dangling=true'), none), true);
    const at = () => new Date('2023-06-01T00:00:00Z');
    assert.equal(passes(s, f('since=old'), at), true);
    assert.equal(passes(s, f('before=old'), at), false);
    assert.throws(() => passes(s, f('before=gone'), none), /No such image: gone/);
  });
});
