import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isNotFound } from '../core/errdefs/predicates.js';
import { cgroupMetrics, parseKeyValues, parseProcCgroup } from './stats.js';

describe('cgroup metrics', () => {
  it('parses /proc/<pid>/cgroup on v1 and v2', () => {
    const v1 = parseProcCgroup(
      '12:memory:/default/c1\n4:cpu,cpuacct:/default/c1\n1:name=systemd:/default/c1\n0::/\n',
    );
    assert.deepEqual(v1, {
      version: 1,
      paths: {
        memory: '/default/c1',
        cpu: '/default/c1',
        cpuacct: '/default/c1',
        'name=systemd': '/default/c1',
      },
    });
    assert.deepEqual(parseProcCgroup('0::/system.slice/c1\n'), {
      version: 2,
      path: '/system.slice/c1',
    });
  });

  it('parses key value files', () => {
    const m = parseKeyValues('cache 4096\ntotal_rss 8192\n');
    assert.equal(m.get('cache'), 4096n);
    assert.equal(m.get('total_rss'), 8192n);
  });

  it('no cgroup is not_found', async () => {
    await assert.rejects(cgroupMetrics(undefined), isNotFound);
  });
});
