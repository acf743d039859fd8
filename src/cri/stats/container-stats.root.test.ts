import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Containerd } from '../../../test/helpers/containerd.js';
import { ctr, ctrOk } from '../../../test/helpers/ctr.js';
import { buildAndPush, busyboxImage } from '../../../test/helpers/images.js';
import { Registry } from '../../../test/helpers/registry.js';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import { Client } from '../../client/index.js';
import {
  CGROUPS_V1_METRICS,
  CGROUPS_V2_METRICS,
  ContainerStatsCollector,
} from './container-stats.js';

/**
 * The stats from the metrics a real containerd-shim-runc-v2 reports (here
 * through Debian's containerd 1.6, CRI off): a container spinning on one
 * CPU, sampled twice. The numbers are checked against the container's own
 * cgroup files.
 */

const isRoot = process.getuid?.() === 0;
const NS = 'berth-cri-stats';

function nanos(d: Date): bigint {
  return BigInt(d.getTime()) * 1_000_000n;
}

/** A cgroup v1 file of the container (ctr's default cgroups path `/<namespace>/<id>`), or undefined. */
function cgroupFile(controller: string, id: string, file: string): string | undefined {
  try {
    return readFileSync(`/sys/fs/cgroup/${controller}/${NS}/${id}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

describe('CRI container stats from a real shim (root)', {
  skip: !isRoot && 'needs root to run containers',
}, () => {
  let dir: TempDir;
  let reg: Registry;
  let daemon: Containerd;
  let client: Client;
  const id = `stats-${process.pid}`;

  before(async () => {
    dir = tempDir('berth-cri-stats-');
    reg = await Registry.start(dir);
    const img = await buildAndPush(dir, reg, busyboxImage(), 'cri/stats:1');
    daemon = await Containerd.start(dir);
    ctrOk(daemon.socket, ['images', 'pull', '--plain-http', img.pushed.ref], {
      namespace: NS,
      timeoutMs: 60_000,
    });
    ctrOk(daemon.socket, ['run', '-d', img.pushed.ref, id, 'sh', '-c', 'while :; do :; done'], {
      namespace: NS,
    });
    client = new Client(daemon.socket, { namespace: NS });
  });

  after(async () => {
    if (daemon !== undefined) {
      ctr(daemon.socket, ['task', 'kill', '-s', 'SIGKILL', id], { namespace: NS });
      for (let i = 0; i < 50; i++) {
        if (ctr(daemon.socket, ['task', 'rm', id], { namespace: NS }).code === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      ctr(daemon.socket, ['container', 'rm', id], { namespace: NS });
      client?.close();
      await daemon.stop();
    }
    await reg?.stop();
    dir?.remove();
    // containerd leaves the namespace's (empty) cgroup in each hierarchy.
    for (const ctl of readdirSync('/sys/fs/cgroup')) {
      for (const d of [`${ctl}/${NS}/${id}`, `${ctl}/${NS}`]) {
        try {
          rmdirSync(`/sys/fs/cgroup/${d}`);
        } catch {
          // not there, or not a cgroup hierarchy
        }
      }
    }
  });

  it('gives cumulative CPU, the CPU rate since the last sample, and memory', async () => {
    const task = await (await client.loadContainer(id)).task();
    const collector = new ContainerStatsCollector({
      usage: { get: () => ({ timestamp: 1n, size: 4096, inodes: 2 }) },
      mountpoint: '/sn',
    });
    const container = { id, labels: {}, annotations: {} };
    const m1 = await task.metrics();
    assert.ok(m1.data !== undefined);
    assert.ok(
      [CGROUPS_V1_METRICS, CGROUPS_V2_METRICS].includes(m1.data.typeUrl.replace(/^.*\//, '')),
      m1.data.typeUrl,
    );
    const s1 = collector.fromMetrics(container, m1.data, nanos(m1.timestamp));
    await new Promise((r) => setTimeout(r, 1000));
    const m2 = await task.metrics();
    const s2 = collector.fromMetrics(container, m2.data, nanos(m2.timestamp));

    const c1 = s1.cpu?.usageCoreNanoSeconds?.value ?? 0n;
    const c2 = s2.cpu?.usageCoreNanoSeconds?.value ?? 0n;
    assert.ok(c1 > 0n && c2 > c1, `cpu ${c1} then ${c2}`);
    assert.equal(s1.cpu?.usageNanoCores?.value, 0n, 'no rate without a previous sample');
    // A busy loop: most of one core (at least a fifth of one, on a loaded machine), never much over one.
    const rate = s2.cpu?.usageNanoCores?.value ?? 0n;
    assert.ok(rate > 200_000_000n && rate < 1_300_000_000n, `rate ${rate} nanocores`);

    const mem = s2.memory;
    assert.ok(mem !== undefined);
    const usage = mem.usageBytes?.value ?? 0n;
    const ws = mem.workingSetBytes?.value ?? 0n;
    assert.ok(usage > 0n && ws > 0n && ws <= usage, `usage ${usage}, working set ${ws}`);
    assert.equal(mem.availableBytes?.value, 0n, 'no memory limit: nothing available reported');

    // The cgroup's own counters (cgroup v1) bracket what the shim reported.
    const acct = cgroupFile('cpuacct', id, 'cpuacct.usage');
    if (m2.data?.typeUrl.endsWith(CGROUPS_V1_METRICS) && acct !== undefined) {
      assert.ok(BigInt(acct.trim()) >= c2, `cpuacct.usage ${acct.trim()} < ${c2}`);
    }
    assert.deepEqual(s2.writableLayer?.usedBytes, { value: 4096n });
  });
});
