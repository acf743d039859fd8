/**
 * @module
 * Spec options for the process, root, hostname, mounts, namespaces, cgroup
 * and annotations, each as containerd's option of the same name (`WithX` →
 * `withX`) changes the spec.
 */
import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { notFound } from '../../core/errdefs/index.js';
import { replaceOrAppendEnvValues } from './env.js';
import { ensureLinux, ensureProcess, ensureRoot, setList } from './process.js';
import { cgroupsPathOf, DEFAULT_UNIX_ENV } from './spec.js';
import type {
  LinuxIDMapping,
  LinuxNamespace,
  LinuxNamespaceType,
  Mount,
  SpecOpt,
} from './types.js';

/**
 * Sets environment variables: `K=v` replaces `K` where the process has it,
 * else is appended; a bare `K` removes `K` (containerd's `oci.WithEnv`).
 */
export function withEnv(env: readonly string[]): SpecOpt {
  return (_client, _container, spec) => {
    if (env.length === 0) return;
    const process = ensureProcess(spec);
    setList(process, 'env', replaceOrAppendEnvValues(process.env ?? [], env));
  };
}

/**
 * Environment variables from a file on the client's host, one `K=v` per line
 * (containerd's `oci.WithEnvFile`).
 */
export function withEnvFile(path: string): SpecOpt {
  return async (client, container, spec) => {
    const text = await readFile(path, 'utf8');
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    await withEnv(lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)))(
      client,
      container,
      spec,
    );
  };
}

/** Adds PATH's default where the process has no PATH (containerd's `oci.WithDefaultPathEnv`). */
export function withDefaultPathEnv(): SpecOpt {
  return (_client, _container, spec) => {
    const process = ensureProcess(spec);
    setList(process, 'env', replaceOrAppendEnvValues(process.env ?? [], DEFAULT_UNIX_ENV));
  };
}

/** Replaces the process's arguments (containerd's `oci.WithProcessArgs`). */
export function withProcessArgs(...args: string[]): SpecOpt {
  return (_client, _container, spec) => {
    const process = ensureProcess(spec);
    setList(process, 'args', [...args]);
    delete process.commandLine;
  };
}

/** Sets the process's working directory (containerd's `oci.WithProcessCwd`). */
export function withProcessCwd(cwd: string): SpecOpt {
  return (_client, _container, spec) => {
    ensureProcess(spec).cwd = cwd;
  };
}

/**
 * Gives the process a terminal, and `TERM=xterm` on Linux (containerd's
 * `oci.WithTTY`; it appends TERM even if the environment has one).
 */
export function withTTY(): SpecOpt {
  return (_client, _container, spec) => {
    const process = ensureProcess(spec);
    process.terminal = true;
    if (spec.linux) process.env = [...(process.env ?? []), 'TERM=xterm'];
  };
}

/** Sets the terminal's initial size (containerd's `oci.WithTTYSize`). */
export function withTTYSize(width: number, height: number): SpecOpt {
  return (_client, _container, spec) => {
    ensureProcess(spec).consoleSize = { height, width };
  };
}

/** Sets the container's hostname (containerd's `oci.WithHostname`). */
export function withHostname(name: string): SpecOpt {
  return (_client, _container, spec) => {
    if (name === '') delete spec.hostname;
    else spec.hostname = name;
  };
}

/** Sets the container's NIS domain name (containerd's `oci.WithDomainname`). */
export function withDomainname(name: string): SpecOpt {
  return (_client, _container, spec) => {
    if (name === '') delete spec.domainname;
    else spec.domainname = name;
  };
}

/** Appends mounts (containerd's `oci.WithMounts`). */
export function withMounts(mounts: readonly Mount[]): SpecOpt {
  return (_client, _container, spec) => {
    setList(spec, 'mounts', [...(spec.mounts ?? []), ...mounts.map(copyMount)]);
  };
}

/** Removes the mounts on these destinations (containerd's `oci.WithoutMounts`). */
export function withoutMounts(...destinations: string[]): SpecOpt {
  return (_client, _container, spec) => {
    const drop = new Set(destinations);
    setList(
      spec,
      'mounts',
      (spec.mounts ?? []).filter((m) => !drop.has(cleanPath(m.destination))),
    );
  };
}

/** Removes the `/run` tmpfs (containerd's `oci.WithoutRunMount`). */
export function withoutRunMount(): SpecOpt {
  return withoutMounts('/run');
}

/**
 * Sets the size of the `/dev/shm` tmpfs in KiB (containerd's
 * `oci.WithDevShmSize`); fails `not_found` when the spec has no such mount.
 */
export function withDevShmSize(kb: number): SpecOpt {
  return (_client, _container, spec) => {
    const shm = spec.mounts?.find(
      (m) => cleanPath(m.destination) === '/dev/shm' && m.source === 'shm' && m.type === 'tmpfs',
    );
    if (!shm) throw notFound('no /dev/shm mount specified');
    shm.options = [...(shm.options ?? []).filter((o) => !o.startsWith('size=')), `size=${kb}k`];
  };
}

/** Bind-mounts the host's /etc/hosts read-only (containerd's `oci.WithHostHostsFile`). */
export function withHostHostsFile(): SpecOpt {
  return hostFile('/etc/hosts');
}

/** Bind-mounts the host's /etc/resolv.conf read-only (containerd's `oci.WithHostResolvconf`). */
export function withHostResolvconf(): SpecOpt {
  return hostFile('/etc/resolv.conf');
}

/** Bind-mounts the host's /etc/localtime read-only (containerd's `oci.WithHostLocaltime`). */
export function withHostLocaltime(): SpecOpt {
  return hostFile('/etc/localtime');
}

function hostFile(path: string): SpecOpt {
  return withMounts([{ destination: path, type: 'bind', source: path, options: ['rbind', 'ro'] }]);
}

/**
 * Runs the container in the host's namespace of `kind`: removes that
 * namespace from the spec, nothing else (containerd's
 * `oci.WithHostNamespace`; for host networking ctr adds withHostHostsFile,
 * withHostResolvconf and HOSTNAME itself).
 */
export function withHostNamespace(kind: LinuxNamespaceType): SpecOpt {
  return (_client, _container, spec) => {
    const linux = ensureLinux(spec);
    const namespaces = linux.namespaces ?? [];
    const at = namespaces.findIndex((n) => n.type === kind);
    if (at < 0) return;
    setList(linux, 'namespaces', namespaces.toSpliced(at, 1));
  };
}

/**
 * Uses `ns` (a new namespace of its type, or one to join by `path`),
 * replacing the spec's namespace of the same type (containerd's
 * `oci.WithLinuxNamespace`).
 */
export function withLinuxNamespace(ns: LinuxNamespace): SpecOpt {
  return (_client, _container, spec) => {
    const linux = ensureLinux(spec);
    const namespaces = [...(linux.namespaces ?? [])];
    const at = namespaces.findIndex((n) => n.type === ns.type);
    if (at < 0) namespaces.push({ ...ns });
    else namespaces[at] = { ...ns };
    linux.namespaces = namespaces;
  };
}

/**
 * Adds a user namespace (once) and these id mappings (containerd's
 * `oci.WithUserNamespace`; call it again to add more mappings).
 */
export function withUserNamespace(
  uidMap: readonly LinuxIDMapping[],
  gidMap: readonly LinuxIDMapping[],
): SpecOpt {
  return (_client, _container, spec) => {
    const linux = ensureLinux(spec);
    if (!linux.namespaces?.some((n) => n.type === 'user')) {
      linux.namespaces = [...(linux.namespaces ?? []), { type: 'user' }];
    }
    setList(linux, 'uidMappings', [...(linux.uidMappings ?? []), ...uidMap.map((m) => ({ ...m }))]);
    setList(linux, 'gidMappings', [...(linux.gidMappings ?? []), ...gidMap.map((m) => ({ ...m }))]);
  };
}

/** Allows the process to gain privileges (containerd's `oci.WithNewPrivileges`). */
export function withNewPrivileges(): SpecOpt {
  return (_client, _container, spec) => {
    delete ensureProcess(spec).noNewPrivileges;
  };
}

/** Forbids the process to gain privileges (containerd's `oci.WithNoNewPrivileges`). */
export function withNoNewPrivileges(): SpecOpt {
  return (_client, _container, spec) => {
    ensureProcess(spec).noNewPrivileges = true;
  };
}

/** Uses a root filesystem not managed by a snapshotter (containerd's `oci.WithRootFSPath`). */
export function withRootFSPath(path: string): SpecOpt {
  return (_client, _container, spec) => {
    ensureRoot(spec).path = path;
  };
}

/** Makes the root filesystem read-only (containerd's `oci.WithRootFSReadonly`). */
export function withRootFSReadonly(): SpecOpt {
  return (_client, _container, spec) => {
    ensureRoot(spec).readonly = true;
  };
}

/** Sets the cgroups path (containerd's `oci.WithCgroup`); `''` leaves the choice to the runtime. */
export function withCgroup(path: string): SpecOpt {
  return (_client, _container, spec) => {
    const linux = ensureLinux(spec);
    if (path === '') delete linux.cgroupsPath;
    else linux.cgroupsPath = path;
  };
}

/** Sets the cgroups path to `/<namespace>/<id>`, the default (containerd's `oci.WithNamespacedCgroup`). */
export function withNamespacedCgroup(): SpecOpt {
  return (client, container, spec) => {
    ensureLinux(spec).cgroupsPath = cgroupsPathOf(client.namespace, container.id);
  };
}

/** Adds or replaces annotations (containerd's `oci.WithAnnotations`). */
export function withAnnotations(annotations: Readonly<Record<string, string>>): SpecOpt {
  return (_client, _container, spec) => {
    const merged = { ...(spec.annotations ?? {}), ...annotations };
    if (Object.keys(merged).length === 0) delete spec.annotations;
    else spec.annotations = merged;
  };
}

/** Go's filepath.Clean: normalized, no trailing slash but the root's, `.` for nothing. */
function cleanPath(path: string): string {
  if (path === '') return '.';
  const clean = posix.normalize(path);
  return clean.length > 1 && clean.endsWith('/') ? clean.slice(0, -1) : clean;
}

function copyMount(m: Mount): Mount {
  const out: Mount = { ...m };
  if (m.options) out.options = [...m.options];
  return out;
}
