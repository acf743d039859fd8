import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isNotFound, notFound } from '../../core/errdefs/index.js';
import { bounded, splitReferences, withEnv, withMessage } from './helpers.js';
import { resourcesOfSpec } from './resources.js';
import { readOnlyMounts } from './rootfs-reader.js';

describe('container helpers', () => {
  it('splits references into tags and digests, leaving the id out', () => {
    assert.deepEqual(
      splitReferences([
        'registry.k8s.io/pause:3.6',
        `registry.k8s.io/pause@sha256:${'a'.repeat(64)}`,
        `sha256:${'b'.repeat(64)}`,
      ]),
      {
        repoTags: ['registry.k8s.io/pause:3.6'],
        repoDigests: [`registry.k8s.io/pause@sha256:${'a'.repeat(64)}`],
      },
    );
  });

  it('sets an env entry once, replacing one of the same name', () => {
    assert.deepEqual(withEnv(['PATH=/bin', 'TERM=dumb', 'TERMX=1'], 'TERM=xterm'), [
      'PATH=/bin',
      'TERMX=1',
      'TERM=xterm',
    ]);
  });

  it('prefixes messages and keeps the kind', () => {
    const err = withMessage(
      notFound('container "x"'),
      'an error occurred when try to find container',
    );
    assert.ok(isNotFound(err));
    assert.match(
      (err as Error).message,
      /^an error occurred when try to find container: container "x"/,
    );
  });

  it('bounds a wait', async () => {
    const t0 = Date.now();
    await bounded(new Promise(() => {}), 50);
    assert.ok(Date.now() - t0 < 1000);
    await bounded(Promise.reject(new Error('ignored')), 1000);
  });

  it('makes mounts read-only', () => {
    assert.deepEqual(
      readOnlyMounts([
        { type: 'overlay', source: 'overlay', options: ['index=off', 'rw', 'lowerdir=/a'] },
        { type: 'bind', source: '/s', options: ['rbind', 'ro'] },
      ]),
      [
        { type: 'overlay', source: 'overlay', options: ['index=off', 'lowerdir=/a', 'ro'] },
        { type: 'bind', source: '/s', options: ['rbind', 'ro'] },
      ],
    );
  });

  it('reads the resources of a spec as ContainerStatus reports them', () => {
    const r = resourcesOfSpec({
      process: { oomScoreAdj: 500 } as never,
      linux: {
        resources: {
          cpu: { period: 100000, quota: 50000, shares: 512, cpus: '0-1', mems: '0' },
          memory: { limit: 268435456, swap: 536870912 },
          hugepageLimits: [{ pageSize: '2MB', limit: 4194304 }],
          unified: { 'memory.high': '100M' },
        },
      } as never,
    });
    assert.deepEqual(r.linux, {
      cpuPeriod: 100000n,
      cpuQuota: 50000n,
      cpuShares: 512n,
      memoryLimitInBytes: 268435456n,
      oomScoreAdj: 500n,
      cpusetCpus: '0-1',
      cpusetMems: '0',
      hugepageLimits: [{ pageSize: '2MB', limit: 4194304n }],
      unified: { 'memory.high': '100M' },
      memorySwapLimitInBytes: 536870912n,
    });
    assert.deepEqual(resourcesOfSpec({ process: {} as never, linux: undefined as never }), {});
  });
});
