/**
 * @module
 * Spec options for capabilities, confinement (masked and read-only paths,
 * sysfs, seccomp, AppArmor, SELinux), device access and resources, each as
 * containerd's option of the same name changes the spec.
 */
import { readFile } from 'node:fs/promises';
import { capabilitiesOf, KNOWN_CAPABILITIES } from '../../core/oci/index.js';
import {
  ensureCapabilities,
  ensureLinux,
  ensureProcess,
  ensureResources,
  setList,
} from './process.js';
import { compose } from './spec.js';
import type { LinuxDeviceCgroup, SpecOpt } from './types.js';

export { capabilitiesOf, KNOWN_CAPABILITIES } from '../../core/oci/index.js';

/** The effective capabilities of this (the client's) process, from /proc/self/status. */
export async function currentCapabilities(): Promise<string[]> {
  const status = await readFile('/proc/self/status', 'utf8');
  const line = status.split('\n').find((l) => l.startsWith('CapEff:'));
  if (!line) return [];
  return capabilitiesOf(BigInt(`0x${line.slice('CapEff:'.length).trim()}`));
}

/** Sets the bounding, effective and permitted capabilities (containerd's `oci.WithCapabilities`). */
export function withCapabilities(caps: readonly string[]): SpecOpt {
  return (_client, _container, spec) => {
    const c = ensureCapabilities(spec);
    setList(c, 'bounding', [...caps]);
    setList(c, 'effective', [...caps]);
    setList(c, 'permitted', [...caps]);
  };
}

/** Adds capabilities to the bounding, effective and permitted sets (containerd's `oci.WithAddedCapabilities`). */
export function withAddedCapabilities(caps: readonly string[]): SpecOpt {
  return (_client, _container, spec) => {
    const c = ensureCapabilities(spec);
    for (const set of ['bounding', 'effective', 'permitted'] as const) {
      const list = [...(c[set] ?? [])];
      for (const cap of caps) if (!list.includes(cap)) list.push(cap);
      setList(c, set, list);
    }
  };
}

/** Removes capabilities from the bounding, effective and permitted sets (containerd's `oci.WithDroppedCapabilities`). */
export function withDroppedCapabilities(caps: readonly string[]): SpecOpt {
  return (_client, _container, spec) => {
    const c = ensureCapabilities(spec);
    for (const set of ['bounding', 'effective', 'permitted'] as const) {
      setList(
        c,
        set,
        (c[set] ?? []).filter((cap) => !caps.includes(cap)),
      );
    }
  };
}

/** Sets the inheritable and ambient capabilities (containerd's `oci.WithAmbientCapabilities`). */
export function withAmbientCapabilities(caps: readonly string[]): SpecOpt {
  return (_client, _container, spec) => {
    const c = ensureCapabilities(spec);
    setList(c, 'inheritable', [...caps]);
    setList(c, 'ambient', [...caps]);
  };
}

/** Every capability this client process has (containerd's `oci.WithAllCurrentCapabilities`). */
export function withAllCurrentCapabilities(): SpecOpt {
  return async (client, container, spec) =>
    withCapabilities(await currentCapabilities())(client, container, spec);
}

/** Every capability Linux knows (containerd's `oci.WithAllKnownCapabilities`). */
export function withAllKnownCapabilities(): SpecOpt {
  return withCapabilities(KNOWN_CAPABILITIES);
}

/** Sets the masked paths; none for an empty list (containerd's `oci.WithMaskedPaths`). */
export function withMaskedPaths(paths: readonly string[]): SpecOpt {
  return (_client, _container, spec) => {
    setList(ensureLinux(spec), 'maskedPaths', [...paths]);
  };
}

/** Sets the read-only paths; none for an empty list (containerd's `oci.WithReadonlyPaths`). */
export function withReadonlyPaths(paths: readonly string[]): SpecOpt {
  return (_client, _container, spec) => {
    setList(ensureLinux(spec), 'readonlyPaths', [...paths]);
  };
}

/** Makes sysfs mounts writable (containerd's `oci.WithWriteableSysfs`). */
export function withWriteableSysfs(): SpecOpt {
  return writable('sysfs');
}

/** Makes cgroup mounts writable (containerd's `oci.WithWriteableCgroupfs`). */
export function withWriteableCgroupfs(): SpecOpt {
  return writable('cgroup');
}

function writable(type: string): SpecOpt {
  return (_client, _container, spec) => {
    for (const m of spec.mounts ?? []) {
      if (m.type === type && m.options) m.options = m.options.map((o) => (o === 'ro' ? 'rw' : o));
    }
  };
}

/** Sets the process's SELinux label; `''` for none (containerd's `oci.WithSelinuxLabel`). */
export function withSelinuxLabel(label: string): SpecOpt {
  return (_client, _container, spec) => {
    const process = ensureProcess(spec);
    if (label === '') delete process.selinuxLabel;
    else process.selinuxLabel = label;
  };
}

/** Sets the process's AppArmor profile; `''` for none (containerd's `oci.WithApparmorProfile`). */
export function withApparmorProfile(profile: string): SpecOpt {
  return (_client, _container, spec) => {
    const process = ensureProcess(spec);
    if (profile === '') delete process.apparmorProfile;
    else process.apparmorProfile = profile;
  };
}

/** Removes the seccomp profile (containerd's `oci.WithSeccompUnconfined`). */
export function withSeccompUnconfined(): SpecOpt {
  return (_client, _container, spec) => {
    delete ensureLinux(spec).seccomp;
  };
}

/** Clears the device cgroup rules: the parent cgroup's apply (containerd's `oci.WithParentCgroupDevices`). */
export function withParentCgroupDevices(): SpecOpt {
  return (_client, _container, spec) => {
    delete ensureResources(spec).devices;
  };
}

/** Allows read, write and mknod of every device (containerd's `oci.WithAllDevicesAllowed`). */
export function withAllDevicesAllowed(): SpecOpt {
  return (_client, _container, spec) => {
    ensureResources(spec).devices = [{ allow: true, access: 'rwm' }];
  };
}

/**
 * Allows the devices every container needs: null, random, full, tty, zero,
 * urandom, console, the pts and ptmx (containerd's `oci.WithDefaultUnixDevices`).
 */
export function withDefaultUnixDevices(): SpecOpt {
  return (_client, _container, spec) => {
    const resources = ensureResources(spec);
    const allow = (major: number, minor?: number): LinuxDeviceCgroup => ({
      allow: true,
      type: 'c',
      major,
      ...(minor === undefined ? {} : { minor }),
      access: 'rwm',
    });
    resources.devices = [
      ...(resources.devices ?? []),
      allow(1, 3), // /dev/null
      allow(1, 8), // /dev/random
      allow(1, 7), // /dev/full
      allow(5, 0), // /dev/tty
      allow(1, 5), // /dev/zero
      allow(1, 9), // /dev/urandom
      allow(5, 1), // /dev/console
      allow(136), // /dev/pts/*
      allow(5, 2), // /dev/ptmx
    ];
  };
}

/**
 * A privileged container (containerd's `oci.WithPrivileged`): every
 * capability this client has, nothing masked or read-only, writable sysfs
 * and cgroupfs, no SELinux label, AppArmor or seccomp profile.
 */
export function withPrivileged(): SpecOpt {
  return compose(
    withAllCurrentCapabilities(),
    withMaskedPaths([]),
    withReadonlyPaths([]),
    withWriteableSysfs(),
    withWriteableCgroupfs(),
    withSelinuxLabel(''),
    withApparmorProfile(''),
    withSeccompUnconfined(),
  );
}

/** Limits memory, in bytes (containerd's `oci.WithMemoryLimit`; Linux specs only). */
export function withMemoryLimit(limit: number): SpecOpt {
  return (_client, _container, spec) => {
    if (!spec.linux) return;
    const resources = ensureResources(spec);
    resources.memory = { ...resources.memory, limit };
  };
}

/** Limits the number of processes (containerd's `oci.WithPidsLimit`). */
export function withPidsLimit(limit: number): SpecOpt {
  return (_client, _container, spec) => {
    ensureResources(spec).pids = { limit };
  };
}

/** Sets the CPU shares (containerd's `oci.WithCPUShares`). */
export function withCPUShares(shares: number): SpecOpt {
  return (_client, _container, spec) => {
    const resources = ensureResources(spec);
    resources.cpu = { ...resources.cpu, shares };
  };
}

/** Sets the CPUs the container may run on, e.g. `0-3,8` (containerd's `oci.WithCPUs`). */
export function withCPUs(cpus: string): SpecOpt {
  return (_client, _container, spec) => {
    const resources = ensureResources(spec);
    resources.cpu = { ...resources.cpu, cpus };
  };
}

/** Sets the CFS quota and period, in µs (containerd's `oci.WithCPUCFS`). */
export function withCPUCFS(quota: number, period: number): SpecOpt {
  return (_client, _container, spec) => {
    const resources = ensureResources(spec);
    resources.cpu = { ...resources.cpu, quota, period };
  };
}

/** Sets memory plus swap, in bytes (containerd's `oci.WithMemorySwap`). */
export function withMemorySwap(swap: number): SpecOpt {
  return (_client, _container, spec) => {
    const resources = ensureResources(spec);
    resources.memory = { ...resources.memory, swap };
  };
}

/** Sets the memory nodes the container may use, e.g. `0-1` (containerd's `oci.WithCPUsMems`). */
export function withCPUsMems(mems: string): SpecOpt {
  return (_client, _container, spec) => {
    const resources = ensureResources(spec);
    resources.cpu = { ...resources.cpu, mems };
  };
}

/** Sets the realtime runtime and period, in µs (containerd's `oci.WithCPURT`). */
export function withCPURT(runtime: number, period: number): SpecOpt {
  return (_client, _container, spec) => {
    const resources = ensureResources(spec);
    resources.cpu = { ...resources.cpu, realtimeRuntime: runtime, realtimePeriod: period };
  };
}

/** Sets the block IO parameters, as runtime-spec spells them (containerd's `oci.WithBlockIO`). */
export function withBlockIO(blockIO: unknown): SpecOpt {
  return (_client, _container, spec) => {
    ensureResources(spec).blockIO = blockIO;
  };
}

/** Sets the Intel RDT class and schemas (containerd's `oci.WithRdt`). */
export function withRdt(closID: string, l3CacheSchema: string, memBwSchema: string): SpecOpt {
  return (_client, _container, spec) => {
    ensureLinux(spec).intelRdt = {
      ...(closID ? { closID } : {}),
      ...(l3CacheSchema ? { l3CacheSchema } : {}),
      ...(memBwSchema ? { memBwSchema } : {}),
    };
  };
}
