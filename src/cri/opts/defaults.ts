/**
 * @module
 * containerd 1.6's default Linux spec (`oci.GenerateSpec` for a container
 * in the CRI's `k8s.io` namespace), the base every sandbox and container spec
 * starts from. 1.6 writes runtime-spec `1.0.2-dev` and does not mask
 * /sys/devices/virtual/powercap (1.7 does).
 */
import { DEFAULT_ROOTFS_PATH, defaultLinuxSpec } from '../../core/oci/index.js';
import type {
  OciCapabilities,
  OciCPU,
  OciMemory,
  OciNamespace,
  OciResources,
  OciSpec,
} from './types.js';

export { DEFAULT_PATH_ENV, defaultUnixCaps } from '../../core/oci/index.js';

/** The runtime-spec version containerd 1.6.20 vendors. */
export const OCI_VERSION = '1.0.2-dev';

/** The containerd namespace CRI objects live in. */
export const CRI_NAMESPACE = 'k8s.io';

/**
 * containerd 1.6's default spec for container `id` in the k8s.io namespace
 * (src/core/oci's defaults, runtime-spec 1.0.2-dev, /sys/devices/virtual/powercap
 * not masked) with the cgroups path `/k8s.io/<id>`.
 */
export function defaultUnixSpec(id: string): OciSpec {
  return defaultLinuxSpec({
    ociVersion: OCI_VERSION,
    cgroupsPath: `/${CRI_NAMESPACE}/${id}`,
    maskPowercap: false,
  });
}

/**
 * The CRI's changes to the default spec for both sandboxes and containers:
 * no /run mount (containerd's WithoutRunMount), no default seccomp or
 * AppArmor profile and no rlimits (WithoutDefaultSecuritySettings), the
 * rootfs at `rootfs` in the bundle.
 */
export function criBaseSpec(id: string): OciSpec {
  const spec = defaultUnixSpec(id);
  spec.mounts = spec.mounts.filter((m) => m.destination !== '/run');
  delete spec.process.apparmorProfile;
  delete spec.linux.seccomp;
  delete spec.process.rlimits;
  spec.root.path = DEFAULT_ROOTFS_PATH;
  return spec;
}

/** Sets (replacing one of the same type) or adds a namespace (containerd's WithLinuxNamespace). */
export function setNamespace(spec: OciSpec, ns: OciNamespace): void {
  const list = spec.linux.namespaces ?? [];
  spec.linux.namespaces = list;
  const at = list.findIndex((n) => n.type === ns.type);
  if (at >= 0) list[at] = ns;
  else list.push(ns);
}

/** Removes the namespace of `type` (containerd's WithoutNamespace). */
export function removeNamespace(spec: OciSpec, type: OciNamespace['type']): void {
  spec.linux.namespaces = (spec.linux.namespaces ?? []).filter((n) => n.type !== type);
}

/**
 * `env` with `overrides` applied as containerd's replaceOrAppendEnvValues
 * does: `K=v` replaces `K` where `env` has it, else is appended (so two
 * overrides of one new key are both kept, the later last); `K` alone removes
 * `K` from `env`.
 */
export function replaceOrAppendEnv(env: readonly string[], overrides: readonly string[]): string[] {
  const results = [...env];
  const index = new Map<string, number>();
  env.forEach((e, i) => {
    const eq = e.indexOf('=');
    index.set(eq < 0 ? e : e.slice(0, eq), i);
  });
  for (const value of overrides) {
    const eq = value.indexOf('=');
    const at = index.get(eq < 0 ? value : value.slice(0, eq));
    if (eq < 0) {
      if (at !== undefined) results[at] = '';
    } else if (at !== undefined) results[at] = value;
    else results.push(value);
  }
  return results.filter((e) => e !== '');
}

/** The spec's `linux.resources`, created when missing. */
export function resourcesOf(spec: OciSpec): OciResources {
  if (!spec.linux.resources) spec.linux.resources = {};
  return spec.linux.resources;
}

/** The spec's `linux.resources.cpu`, created when missing. */
export function cpuOf(spec: OciSpec): OciCPU {
  const res = resourcesOf(spec);
  if (!res.cpu) res.cpu = {};
  return res.cpu;
}

/** The spec's `linux.resources.memory`, created when missing. */
export function memoryOf(spec: OciSpec): OciMemory {
  const res = resourcesOf(spec);
  if (!res.memory) res.memory = {};
  return res.memory;
}

/** The process's capability sets, created when missing. */
export function capsOf(spec: OciSpec): OciCapabilities {
  if (!spec.process.capabilities) spec.process.capabilities = {};
  return spec.process.capabilities;
}
