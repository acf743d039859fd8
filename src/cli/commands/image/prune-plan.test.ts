import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prunePlan } from './prune-plan.js';

const blobs = (...pairs: [string, number][]) => new Map(pairs);
const IMAGES = [
  {
    name: 'docker.io/library/a:1',
    id: 'sha256:a',
    blobs: blobs(['m1', 10], ['base', 100], ['la', 50]),
  },
  {
    name: `docker.io/library/a@sha256:${'1'.repeat(64)}`,
    id: 'sha256:a',
    blobs: blobs(['m1', 10], ['base', 100], ['la', 50]),
  },
  {
    name: `docker.io/library/b@sha256:${'2'.repeat(64)}`,
    id: 'sha256:b',
    blobs: blobs(['m2', 20], ['base', 100], ['lb', 70]),
  },
  { name: 'docker.io/library/c:1', id: 'sha256:c', blobs: blobs(['m3', 30], ['lc', 5]) },
];

describe('prunePlan', () => {
  it('removes dangling names only; space counts the blobs nothing left shares', () => {
    const p = prunePlan(IMAGES, new Set(), false);
    assert.deepEqual(
      p.remove.map((i) => i.name),
      [IMAGES[1]?.name, IMAGES[2]?.name],
    );
    // a's blobs stay with a:1; b's own manifest and layer go, the shared base stays.
    assert.equal(p.reclaimed, 90);
  });

  it('with all, removes every image no container uses, keeping every name of a used ID', () => {
    const p = prunePlan(IMAGES, new Set(['docker.io/library/a:1']), true);
    assert.deepEqual(
      p.remove.map((i) => i.name),
      [IMAGES[2]?.name, IMAGES[3]?.name],
    );
    assert.equal(p.reclaimed, 20 + 70 + 30 + 5);
    assert.deepEqual(
      prunePlan(IMAGES, new Set(), true).reclaimed,
      10 + 100 + 50 + 20 + 70 + 30 + 5,
    );
  });
});
