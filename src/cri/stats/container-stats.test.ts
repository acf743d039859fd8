import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Metrics as MetricsV1 } from '../../api/containerd/cgroups/v1/metrics.js';
import { Metrics as MetricsV2 } from '../../api/containerd/cgroups/v2/metrics.js';
import type { AnyValue } from '../../core/any/index.js';
import { isInvalidArgument, notFound } from '../../core/errdefs/index.js';
import { nullLogger } from '../../core/log/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { Snapshotter } from '../../core/snapshots/index.js';
import {
  CGROUPS_V1_METRICS,
  CGROUPS_V2_METRICS,
  ContainerStatsCollector,
  decodeMetrics,
  nanoCores,
} from './container-stats.js';
import { SnapshotUsageStore } from './snapshot-usage.js';

const ctx: OpContext = {
  namespace: 'k8s.io',
  signal: new AbortController().signal,
  log: nullLogger,
};

function v1(opts: { cpu: bigint; usage: bigint; inactive: bigint; limit: bigint }): AnyValue {
  const m = MetricsV1.fromPartial({
    cpu: { usage: { total: opts.cpu, kernel: 1n, user: 2n } },
    memory: {
      totalInactiveFile: opts.inactive,
      inactiveFile: 7n,
      totalRss: 300n,
      rss: 8n,
      totalPgFault: 40n,
      totalPgMajFault: 4n,
      usage: { usage: opts.usage, limit: opts.limit },
    },
  });
  return { typeUrl: CGROUPS_V1_METRICS, value: MetricsV1.encode(m).finish() };
}

function v2(opts: { cpuUsec: bigint; usage: bigint; inactive: bigint; limit: bigint }): AnyValue {
  const m = MetricsV2.fromPartial({
    cpu: { usageUsec: opts.cpuUsec },
    memory: {
      usage: opts.usage,
      inactiveFile: opts.inactive,
      usageLimit: opts.limit,
      anon: 500n,
      pgfault: 60n,
      pgmajfault: 6n,
    },
  });
  return {
    typeUrl: `type.googleapis.com/${CGROUPS_V2_METRICS}`,
    value: MetricsV2.encode(m).finish(),
  };
}

const MAX = 0x7ffffffffffff000n; // what a v1 cgroup without limit reports

describe('CRI container stats', () => {
  it('decodes cgroup v1 metrics: working set = usage - total_inactive_file', () => {
    const s = decodeMetrics(v1({ cpu: 5_000n, usage: 1000n, inactive: 200n, limit: 4096n }));
    assert.equal(s.cpuNanos, 5_000n);
    assert.deepEqual(s.memory, {
      usage: 1000n,
      workingSet: 800n,
      available: 4096n - 800n,
      rss: 300n,
      pageFaults: 40n,
      majorPageFaults: 4n,
    });
    // No limit: nothing available reported; inactive above usage: working set 0.
    const u = decodeMetrics(v1({ cpu: 0n, usage: 100n, inactive: 200n, limit: MAX }));
    assert.equal(u.memory?.workingSet, 0n);
    assert.equal(u.memory?.available, 0n);
  });

  it('decodes cgroup v2 metrics: microseconds to nanoseconds, anon as rss', () => {
    const s = decodeMetrics(v2({ cpuUsec: 7n, usage: 900n, inactive: 100n, limit: 2000n }));
    assert.equal(s.cpuNanos, 7_000n);
    assert.deepEqual(s.memory, {
      usage: 900n,
      workingSet: 800n,
      available: 1200n,
      rss: 500n,
      pageFaults: 60n,
      majorPageFaults: 6n,
    });
  });

  it('refuses metrics of another type', () => {
    assert.throws(
      () => decodeMetrics({ typeUrl: 'x.Other', value: new Uint8Array() }),
      isInvalidArgument,
    );
  });

  it('computes nanocores from two samples', () => {
    // 0.5 s of CPU in 1 s: half a core.
    assert.equal(
      nanoCores(
        { usage: 1_000_000_000n, timestamp: 0n },
        { usage: 1_500_000_000n, timestamp: 1_000_000_000n },
      ),
      500_000_000n,
    );
    // 2 s of CPU in 1 s: two cores.
    assert.equal(
      nanoCores(
        { usage: 0n, timestamp: 10n },
        { usage: 2_000_000_000n, timestamp: 1_000_000_010n },
      ),
      2_000_000_000n,
    );
    assert.equal(nanoCores({ usage: 5n, timestamp: 10n }, { usage: 9n, timestamp: 10n }), 0n);
    assert.equal(nanoCores({ usage: 9n, timestamp: 0n }, { usage: 5n, timestamp: 10n }), 0n);
  });

  it('builds ContainerStats with the rate since the previous sample and the writable layer', async () => {
    const usage = {
      get: (id: string) => (id === 'c1' ? { timestamp: 42n, size: 4096, inodes: 3 } : undefined),
    };
    const collector = new ContainerStatsCollector({ usage, mountpoint: '/var/lib/berth/sn' });
    const container = {
      id: 'c1',
      metadata: { name: 'web', attempt: 0 },
      labels: { a: 'b' },
      annotations: {},
    };
    const first = collector.fromMetrics(
      container,
      v1({ cpu: 1_000_000_000n, usage: 10n, inactive: 0n, limit: MAX }),
      1_000_000_000n,
    );
    assert.deepEqual(first.attributes, {
      id: 'c1',
      metadata: { name: 'web', attempt: 0 },
      labels: { a: 'b' },
      annotations: {},
    });
    assert.deepEqual(first.cpu, {
      timestamp: 1_000_000_000n,
      usageCoreNanoSeconds: { value: 1_000_000_000n },
      usageNanoCores: { value: 0n },
    });
    assert.deepEqual(first.writableLayer, {
      timestamp: 42n,
      fsId: { mountpoint: '/var/lib/berth/sn' },
      usedBytes: { value: 4096n },
      inodesUsed: { value: 3n },
    });
    assert.equal(first.memory?.workingSetBytes?.value, 10n);
    const second = collector.fromMetrics(
      container,
      v1({ cpu: 1_250_000_000n, usage: 10n, inactive: 0n, limit: MAX }),
      2_000_000_000n,
    );
    assert.equal(second.cpu?.usageNanoCores?.value, 250_000_000n);
    collector.forget('c1');
    const third = collector.fromMetrics(
      container,
      v1({ cpu: 2_000_000_000n, usage: 10n, inactive: 0n, limit: MAX }),
      3_000_000_000n,
    );
    assert.equal(third.cpu?.usageNanoCores?.value, 0n);

    // No task: attributes and the writable layer only; a gone shim counts as none.
    const none = await collector.collect(ctx, { ...container, id: 'c2' });
    assert.equal(none.cpu, undefined);
    assert.equal(none.writableLayer?.usedBytes?.value, 0n);
    const gone = await collector.collect(ctx, container, {
      stats: () => Promise.reject(notFound('task c1: no metrics, its shim is gone')),
    });
    assert.equal(gone.cpu, undefined);
    const failing = await collector.collect(ctx, container, {
      stats: () => Promise.reject(new Error('cgroup deleted')),
    });
    assert.equal(failing.memory, undefined);
    assert.equal(failing.attributes?.id, 'c1');
  });

  it('sums snapshot usage with the oldest timestamp', async () => {
    const sizes: Record<string, { size: number; inodes: number }> = {
      a: { size: 100, inodes: 2 },
      b: { size: 50, inodes: 1 },
      gone: { size: 1, inodes: 1 },
    };
    const sn = {
      list: async () => Object.keys(sizes).map((name) => ({ name })),
      usage: async (_: OpContext, key: string) => {
        if (key === 'gone') throw notFound(`snapshot ${key}`);
        return sizes[key];
      },
    } as unknown as Snapshotter;
    const store = new SnapshotUsageStore(sn, ctx);
    const t = await store.total();
    assert.equal(t.size, 150);
    assert.equal(t.inodes, 3);
    assert.ok(t.timestamp <= (store.get('a')?.timestamp ?? 0n));
    assert.equal(store.get('gone'), undefined);
    assert.equal(store.get('b')?.size, 50);
  });

  it('sees new snapshots at once, measures committed ones once and active ones each period', async () => {
    const snaps = new Map<string, { kind: string; size: number }>([
      ['layer', { kind: 'committed', size: 1000 }],
      ['rw', { kind: 'active', size: 10 }],
    ]);
    const measured: string[] = [];
    const sn = {
      list: async () => [...snaps].map(([name, s]) => ({ name, kind: s.kind })),
      usage: async (_: OpContext, key: string) => {
        measured.push(key);
        const s = snaps.get(key);
        if (s === undefined) throw notFound(`snapshot ${key}`);
        return { size: s.size, inodes: 1 };
      },
    } as unknown as Snapshotter;
    const store = new SnapshotUsageStore(sn, ctx);
    assert.equal((await store.total()).size, 1010);
    // A pull adds a layer: the next total has it without waiting for a sync.
    snaps.set('layer2', { kind: 'committed', size: 500 });
    const rw = snaps.get('rw');
    if (rw) rw.size = 20;
    assert.equal((await store.total()).size, 1510, 'the active layer keeps its last measure');
    await store.sync();
    assert.equal((await store.total()).size, 1520);
    assert.equal(store.get('rw')?.size, 20);
    assert.deepEqual(measured.sort(), ['layer', 'layer2', 'rw', 'rw'].sort());
    snaps.delete('layer');
    assert.equal((await store.total()).size, 520);
  });
});
