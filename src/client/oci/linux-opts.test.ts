import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  capabilitiesOf,
  currentCapabilities,
  KNOWN_CAPABILITIES,
  withAddedCapabilities,
  withAllDevicesAllowed,
  withAllKnownCapabilities,
  withAmbientCapabilities,
  withApparmorProfile,
  withBlockIO,
  withCapabilities,
  withCPUCFS,
  withCPURT,
  withCPUShares,
  withCPUs,
  withCPUsMems,
  withDefaultUnixDevices,
  withDroppedCapabilities,
  withMaskedPaths,
  withMemoryLimit,
  withMemorySwap,
  withParentCgroupDevices,
  withPidsLimit,
  withPrivileged,
  withRdt,
  withReadonlyPaths,
  withSeccompUnconfined,
  withSelinuxLabel,
  withWriteableCgroupfs,
  withWriteableSysfs,
} from './linux-opts.js';
import { defaultUnixCaps, generateSpec, specClientWithoutContent } from './spec.js';
import { withMounts } from './spec-opts.js';
import type { Spec, SpecOpt } from './types.js';

const client = specClientWithoutContent('ns');
const gen = (...opts: SpecOpt[]) => generateSpec(client, { id: 'c' }, ...opts);

describe('capabilities', () => {
  it('withCapabilities sets bounding, effective and permitted', async () => {
    const caps = (await gen(withCapabilities(['CAP_KILL']))).process?.capabilities;
    assert.deepEqual(caps, {
      bounding: ['CAP_KILL'],
      effective: ['CAP_KILL'],
      permitted: ['CAP_KILL'],
    });
  });

  it('withAddedCapabilities appends once; withDroppedCapabilities removes', async () => {
    const caps = (
      await gen(
        withAddedCapabilities(['CAP_SYS_ADMIN', 'CAP_KILL']),
        withDroppedCapabilities(['CAP_CHOWN', 'CAP_NOT_THERE']),
      )
    ).process?.capabilities;
    const want = [...defaultUnixCaps().filter((c) => c !== 'CAP_CHOWN'), 'CAP_SYS_ADMIN'];
    assert.deepEqual(caps?.bounding, want);
    assert.deepEqual(caps?.effective, want);
    assert.deepEqual(caps?.permitted, want);
  });

  it('withAmbientCapabilities sets inheritable and ambient', async () => {
    const caps = (await gen(withAmbientCapabilities(['CAP_NET_RAW']))).process?.capabilities;
    assert.deepEqual(caps?.inheritable, ['CAP_NET_RAW']);
    assert.deepEqual(caps?.ambient, ['CAP_NET_RAW']);
  });

  it('knows 41 capabilities by bit and reads the current ones from /proc', async () => {
    assert.equal(KNOWN_CAPABILITIES.length, 41);
    assert.deepEqual(capabilitiesOf(0b1_0000_0001n), ['CAP_CHOWN', 'CAP_SETPCAP']);
    // bits past the known ones are left out
    assert.deepEqual(capabilitiesOf(1n << 63n), []);
    assert.equal(capabilitiesOf((1n << 41n) - 1n).length, 41);
    const current = await currentCapabilities();
    for (const c of current) assert.ok(KNOWN_CAPABILITIES.includes(c));
    if (process.getuid?.() === 0) assert.ok(current.includes('CAP_SYS_ADMIN'));
    assert.equal(
      (await gen(withAllKnownCapabilities())).process?.capabilities?.bounding?.length,
      41,
    );
  });
});

describe('confinement', () => {
  it('withMaskedPaths and withReadonlyPaths replace; empty lists remove', async () => {
    const spec = await gen(withMaskedPaths(['/a']), withReadonlyPaths([]));
    assert.deepEqual(spec.linux?.maskedPaths, ['/a']);
    assert.equal(spec.linux?.readonlyPaths, undefined);
  });

  it('withWriteableSysfs and withWriteableCgroupfs turn ro into rw', async () => {
    const cgroup = {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['ro', 'nosuid'],
    };
    const spec = await gen(withMounts([cgroup]), withWriteableSysfs(), withWriteableCgroupfs());
    assert.deepEqual(spec.mounts?.find((m) => m.type === 'sysfs')?.options, [
      'nosuid',
      'noexec',
      'nodev',
      'rw',
    ]);
    assert.deepEqual(spec.mounts?.find((m) => m.type === 'cgroup')?.options, ['rw', 'nosuid']);
  });

  it('SELinux, AppArmor and seccomp', async () => {
    const spec = await gen(withSelinuxLabel('l'), withApparmorProfile('p'));
    assert.equal(spec.process?.selinuxLabel, 'l');
    assert.equal(spec.process?.apparmorProfile, 'p');
    const cleared = await gen(
      withSelinuxLabel('l'),
      withApparmorProfile('p'),
      withSelinuxLabel(''),
      withApparmorProfile(''),
    );
    assert.equal('selinuxLabel' in (cleared.process ?? {}), false);
    assert.equal('apparmorProfile' in (cleared.process ?? {}), false);
    const seccomp: SpecOpt = (_c, _k, s) => {
      s.linux = { ...s.linux, seccomp: { defaultAction: 'SCMP_ACT_ERRNO' } };
    };
    assert.equal((await gen(seccomp, withSeccompUnconfined())).linux?.seccomp, undefined);
  });

  it('withPrivileged: current capabilities, nothing masked, writable sysfs', async () => {
    const spec = await gen(withPrivileged());
    assert.equal(spec.linux?.maskedPaths, undefined);
    assert.equal(spec.linux?.readonlyPaths, undefined);
    assert.ok(spec.mounts?.find((m) => m.type === 'sysfs')?.options?.includes('rw'));
    assert.deepEqual(spec.process?.capabilities?.bounding ?? [], await currentCapabilities());
  });
});

describe('devices and resources', () => {
  it('withDefaultUnixDevices appends the nine allowed devices after deny-all', async () => {
    const devices = (await gen(withDefaultUnixDevices())).linux?.resources?.devices;
    assert.equal(devices?.length, 10);
    assert.deepEqual(devices?.[0], { allow: false, access: 'rwm' });
    assert.deepEqual(devices?.[8], { allow: true, type: 'c', major: 136, access: 'rwm' });
    assert.deepEqual(devices?.[9], { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' });
  });

  it('withAllDevicesAllowed and withParentCgroupDevices', async () => {
    assert.deepEqual((await gen(withAllDevicesAllowed())).linux?.resources?.devices, [
      { allow: true, access: 'rwm' },
    ]);
    assert.deepEqual((await gen(withParentCgroupDevices())).linux?.resources, {});
  });

  it('swap, memory nodes, realtime, block IO and RDT', async () => {
    const blockIO = { weight: 10 };
    const spec = await gen(
      withMemorySwap(2048),
      withCPUsMems('0'),
      withCPURT(950000, 1000000),
      withBlockIO(blockIO),
      withRdt('gold', '', 'MB:0=50'),
    );
    assert.deepEqual(spec.linux?.resources?.memory, { swap: 2048 });
    assert.deepEqual(spec.linux?.resources?.cpu, {
      mems: '0',
      realtimeRuntime: 950000,
      realtimePeriod: 1000000,
    });
    assert.equal(spec.linux?.resources?.blockIO, blockIO);
    assert.deepEqual(spec.linux?.intelRdt, { closID: 'gold', memBwSchema: 'MB:0=50' });
  });

  it('memory, pids and cpu', async () => {
    const spec = await gen(
      withMemoryLimit(1 << 20),
      withPidsLimit(10),
      withCPUShares(512),
      withCPUs('0-1'),
      withCPUCFS(50000, 100000),
    );
    assert.deepEqual(spec.linux?.resources?.memory, { limit: 1 << 20 });
    assert.deepEqual(spec.linux?.resources?.pids, { limit: 10 });
    assert.deepEqual(spec.linux?.resources?.cpu, {
      shares: 512,
      cpus: '0-1',
      quota: 50000,
      period: 100000,
    });
    // a spec without a Linux section gets no memory limit, as containerd
    const bare: Spec = { ociVersion: '1.1.0' };
    await withMemoryLimit(1)(client, { id: 'c' }, bare);
    assert.equal(bare.linux, undefined);
  });
});
