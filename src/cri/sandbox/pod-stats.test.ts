import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isNotFound } from '../../core/errdefs/index.js';
import { parseNetDev, samplePodCgroup, toCriUsage } from './pod-stats.js';

const v1Files: Record<string, string> = {
  'cpuacct/cpuacct.usage': '5000000000\n',
  'memory/memory.usage_in_bytes': '104857600\n',
  'memory/memory.limit_in_bytes': '9223372036854771712\n',
  'memory/memory.stat':
    'cache 0\nrss 1\ntotal_rss 41943040\ntotal_inactive_file 4194304\ntotal_pgfault 1200\ntotal_pgmajfault 3\n',
};
const v2Files: Record<string, string> = {
  'cpu.stat': 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n',
  'memory.current': '52428800\n',
  'memory.max': '104857600\n',
  'memory.stat': 'anon 20971520\nfile 1000\ninactive_file 2097152\npgfault 99\npgmajfault 1\n',
  'cgroup.controllers': 'cpu memory pids\n',
};

const reader =
  (files: Record<string, string>, v1: boolean) => (controller: string, file: string) => {
    if (v1 && file === 'cgroup.controllers') return '\0v1';
    const text = files[v1 ? `${controller}/${file}` : file];
    if (text === undefined) throw new Error(`no ${controller}/${file}`);
    return text;
  };

describe('pod stats', () => {
  test('cgroup v1: cpuacct usage, memory usage, working set, rss, faults; no limit, no available', () => {
    const s = samplePodCgroup('/kubepods/pod1', 10n, reader(v1Files, true));
    assert.equal(s.cpuUsageNs, 5_000_000_000n);
    assert.deepEqual(s.memory, {
      usage: 104857600n,
      workingSet: 104857600n - 4194304n,
      rss: 41943040n,
      pageFaults: 1200n,
      majorPageFaults: 3n,
    });
  });

  test('cgroup v2: cpu.stat usage_usec in ns, memory.current less inactive_file, available under memory.max', () => {
    const s = samplePodCgroup('/kubepods/pod1', 10n, reader(v2Files, false));
    assert.equal(s.cpuUsageNs, 2_500_000_000n);
    assert.equal(s.memory.workingSet, 52428800n - 2097152n);
    assert.equal(s.memory.available, 104857600n - (52428800n - 2097152n));
    assert.equal(s.memory.rss, 20971520n);
  });

  test('the CPU rate comes from the previous sample; none before it', () => {
    const a = samplePodCgroup('/p', 1_000_000_000n, reader(v2Files, false));
    const b = { ...a, timestamp: 2_000_000_000n, cpuUsageNs: a.cpuUsageNs + 500_000_000n };
    assert.equal(toCriUsage(a, undefined).cpu.usageNanoCores?.value, 0n);
    const u = toCriUsage(b, a);
    assert.equal(u.cpu.usageNanoCores?.value, 500_000_000n, 'half a core');
    assert.equal(u.cpu.usageCoreNanoSeconds?.value, b.cpuUsageNs);
    assert.equal(u.memory.workingSetBytes?.value, b.memory.workingSet);
  });

  test('eth0 counters from /proc/<pid>/net/dev', () => {
    const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     140       2    0    0    0     0          0         0      140       2    0    0    0     0       0          0
  eth0:    9126      80    1    0    0     0          0         0     1414      14    2    0    0     0       0          0
`;
    assert.deepEqual(parseNetDev(text, 'eth0'), {
      name: 'eth0',
      rxBytes: { value: 9126n },
      rxErrors: { value: 1n },
      txBytes: { value: 1414n },
      txErrors: { value: 2n },
    });
    assert.equal(parseNetDev(text, 'eth1'), undefined);
  });

  test('a cgroup that does not exist is not_found naming it', () => {
    assert.throws(
      () => samplePodCgroup('/berth-no-such-cgroup-here', 1n),
      (err: Error) => isNotFound(err) && err.message.includes('/berth-no-such-cgroup-here'),
    );
  });
});
