import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LinuxContainerResources } from '../../api/k8s/cri/runtime/v1/api.js';
import { criBaseSpec } from './defaults.js';
import {
  applyResources,
  cgroupsPathOf,
  passthroughAnnotations,
  pathMatch,
  restrictedOomScoreAdj,
} from './resources.js';
import { testOptions } from './testing/fake-host.js';

describe('cgroups path (containerd getCgroupsPath)', () => {
  test('cgroupfs parent', () => {
    assert.equal(cgroupsPathOf('/kubepods/burstable/pod1', 'abc'), '/kubepods/burstable/pod1/abc');
    assert.equal(cgroupsPathOf('/kubepods/', 'abc'), '/kubepods/abc');
  });
  test('systemd slice parent', () => {
    assert.equal(
      cgroupsPathOf('/kubepods.slice/kubepods-pod1.slice', 'abc'),
      'kubepods-pod1.slice:cri-containerd:abc',
    );
  });
});

describe('oom_score_adj restriction', () => {
  test('unrestricted: as asked', () => {
    assert.equal(restrictedOomScoreAdj(-998, testOptions()), -998);
  });
  test('restricted: raised to the daemon own, never lowered', () => {
    const o = testOptions({ restrictOomScoreAdj: true, daemonOomScoreAdj: -500 });
    assert.equal(restrictedOomScoreAdj(-998, o), -500);
    assert.equal(restrictedOomScoreAdj(1000, o), 1000);
    assert.equal(restrictedOomScoreAdj(-500, o), -500);
  });
  test('restricted without knowing the daemon value is an error', () => {
    assert.throws(
      () => restrictedOomScoreAdj(0, testOptions({ restrictOomScoreAdj: true })),
      /oom_score_adj is unknown/,
    );
  });
});

describe('resources (containerd WithResources)', () => {
  const r = (over: Partial<LinuxContainerResources>) => LinuxContainerResources.fromPartial(over);
  test('cpu, cpuset, memory', () => {
    const spec = criBaseSpec('c');
    applyResources(
      spec,
      r({
        cpuPeriod: 100000n,
        cpuQuota: 50000n,
        cpuShares: 512n,
        cpusetCpus: '0-1',
        cpusetMems: '0',
        memoryLimitInBytes: 256n << 20n,
      }),
      testOptions(),
    );
    assert.deepEqual(spec.linux.resources?.cpu, {
      period: 100000,
      quota: 50000,
      shares: 512,
      cpus: '0-1',
      mems: '0',
    });
    assert.deepEqual(spec.linux.resources?.memory, { limit: 268435456 });
  });
  test('zero values are left out', () => {
    const spec = criBaseSpec('c');
    applyResources(spec, r({}), testOptions());
    assert.deepEqual(spec.linux.resources, {
      devices: [{ allow: false, access: 'rwm' }],
      cpu: {},
      memory: {},
    });
  });
  test('no resources message: nothing', () => {
    const spec = criBaseSpec('c');
    applyResources(spec, undefined, testOptions());
    assert.deepEqual(spec.linux.resources, { devices: [{ allow: false, access: 'rwm' }] });
  });
  test('swap follows the limit when the controller exists; an explicit swap limit wins', () => {
    const spec = criBaseSpec('c');
    applyResources(
      spec,
      r({ memoryLimitInBytes: 1000n }),
      testOptions({ swapControllerAvailable: true }),
    );
    assert.deepEqual(spec.linux.resources?.memory, { limit: 1000, swap: 1000 });
    const spec2 = criBaseSpec('c');
    applyResources(
      spec2,
      r({ memoryLimitInBytes: 1000n, memorySwapLimitInBytes: 3000n }),
      testOptions({ swapControllerAvailable: true }),
    );
    assert.deepEqual(spec2.linux.resources?.memory, { limit: 1000, swap: 3000 });
  });
  test('negative quota (unlimited) passes through', () => {
    const spec = criBaseSpec('c');
    applyResources(spec, r({ cpuQuota: -1n }), testOptions());
    assert.equal(spec.linux.resources?.cpu?.quota, -1);
  });
  test('hugepages: only with the controller enabled and present', () => {
    const limits = r({ hugepageLimits: [{ pageSize: '2MB', limit: 4194304n }] });
    const off = criBaseSpec('c');
    applyResources(off, limits, testOptions({ hugetlbAvailable: true }));
    assert.equal(off.linux.resources?.hugepageLimits, undefined);
    const on = criBaseSpec('c');
    applyResources(
      on,
      limits,
      testOptions({ disableHugetlbController: false, hugetlbAvailable: true }),
    );
    assert.deepEqual(on.linux.resources?.hugepageLimits, [{ pageSize: '2MB', limit: 4194304 }]);
    const missing = criBaseSpec('c');
    applyResources(missing, limits, testOptions({ disableHugetlbController: false }));
    assert.equal(missing.linux.resources?.hugepageLimits, undefined);
    assert.throws(
      () =>
        applyResources(
          criBaseSpec('c'),
          limits,
          testOptions({ disableHugetlbController: false, tolerateMissingHugetlbController: false }),
        ),
      /hugetlb cgroup controller is missing/,
    );
  });
  test('unified keys', () => {
    const spec = criBaseSpec('c');
    applyResources(
      spec,
      r({ unified: { 'memory.high': '1000', 'pids.max': '10' } }),
      testOptions(),
    );
    assert.deepEqual(spec.linux.resources?.unified, { 'memory.high': '1000', 'pids.max': '10' });
  });
});

describe('annotation pass-through (Go path.Match)', () => {
  test('pathMatch', () => {
    assert.ok(pathMatch('*', 'io.kubernetes.x'));
    assert.ok(!pathMatch('*', 'a/b'));
    assert.ok(pathMatch('io.katacontainers.*', 'io.katacontainers.config.x'));
    assert.ok(!pathMatch('io.katacontainers.*', 'ioXkatacontainers.y'));
    assert.ok(pathMatch('a?c', 'abc'));
    assert.ok(pathMatch('[a-c]x', 'bx'));
    assert.ok(!pathMatch('[^a-c]x', 'bx'));
    assert.ok(pathMatch('\\*', '*'));
    assert.ok(!pathMatch('[', '['));
  });
  test('only matching annotations pass', () => {
    assert.deepEqual(passthroughAnnotations({ 'a.b/c': '1', 'x.y': '2', 'a.z': '3' }, ['a.*']), {
      'a.z': '3',
    });
    assert.deepEqual(passthroughAnnotations({ a: '1' }, undefined), {});
  });
});
