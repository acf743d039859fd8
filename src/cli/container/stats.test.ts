import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CgroupMetrics } from '../../client/index.js';
import { cpuPercent, parseNetDev, sampleOf, statsRow } from './stats.js';

const GiB = 1024 ** 3;

function v1(cpuNs: bigint, usage: bigint, limit: bigint): CgroupMetrics {
  return {
    version: 1,
    stats: {
      hugetlb: [],
      network: [],
      pids: { current: 3n, limit: 0n },
      cpu: { usage: { total: cpuNs, kernel: 0n, user: 0n, perCpu: [] } },
      memory: { totalInactiveFile: 1024n * 1024n, usage: { usage, limit, max: 0n, failcnt: 0n } },
      blkio: {
        ioServiceBytesRecursive: [
          { op: 'Read', device: '', major: 8n, minor: 0n, value: 2_000_000n },
          { op: 'Write', device: '', major: 8n, minor: 0n, value: 1000n },
          { op: 'Total', device: '', major: 8n, minor: 0n, value: 2_001_000n },
        ],
      },
    } as unknown as Extract<CgroupMetrics, { version: 1 }>['stats'],
  };
}

describe('stats', () => {
  it('reads cgroup v1 metrics: memory without the inactive file cache, blkio by op, pids', () => {
    const s = sampleOf(
      v1(5_000_000_000n, 3n * 1024n * 1024n, 9_223_372_036_854_771_712n),
      1000,
      8 * GiB,
    );
    assert.equal(s.cpuNs, 5e9);
    assert.equal(s.memUsage, 2 * 1024 * 1024);
    assert.equal(s.memLimit, 0, 'the v1 "no limit" is none');
    assert.equal(s.blkRead, 2_000_000);
    assert.equal(s.blkWrite, 1000);
    assert.equal(s.pids, 3);
    const limited = sampleOf(v1(0n, 1n, 512n * 1024n * 1024n), 0, 8 * GiB);
    assert.equal(limited.memLimit, 512 * 1024 * 1024);
  });

  it('computes CPU % of one CPU between two samples', () => {
    const a = sampleOf(v1(1_000_000_000n, 0n, 0n), 10_000, GiB);
    const b = sampleOf(v1(1_500_000_000n, 0n, 0n), 11_000, GiB);
    assert.equal(cpuPercent(a, b), 50);
    assert.equal(cpuPercent(undefined, b), 0);
  });

  it('sums the network bytes of /proc/<pid>/net/dev, loopback left out', () => {
    const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
  eth0:    1296      16    0    0    0     0          0         0      648       8    0    0    0     0       0          0
`;
    assert.deepEqual(parseNetDev(text), { rx: 1296, tx: 648 });
  });

  it("formats docker's row: binary sizes for memory, decimal for I/O", () => {
    const cur = sampleOf(v1(0n, 3n * 1024n * 1024n, 0n), 0, 2 * GiB);
    const row = statsRow('0123456789abcdef', 'web', undefined, cur, { rx: 1296, tx: 648 }, 2 * GiB);
    assert.equal(row.ID, '0123456789ab');
    assert.equal(row.Name, 'web');
    assert.equal(row.CPUPerc, '0.00%');
    assert.equal(row.MemUsage, '2MiB / 2GiB');
    assert.equal(row.MemPerc, '0.10%');
    assert.equal(row.NetIO, '1.3kB / 648B');
    assert.equal(row.BlockIO, '2MB / 1kB');
    assert.equal(row.PIDs, '3');
  });
});
