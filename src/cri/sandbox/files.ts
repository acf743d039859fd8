import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { NamespaceMode, type PodSandboxConfig } from '../../api/k8s/cri/runtime/v1/api.js';
import {
  isErrno,
  MNT_DETACH,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  mount,
  umount2,
} from '../../sys/linux.js';

/** containerd's default pod /dev/shm size (64 MiB). */
const SHM_SIZE = 64 << 20;
const HOST_HOSTS = '/etc/hosts';
const HOST_RESOLV_CONF = '/etc/resolv.conf';

/** The files every container of a pod bind-mounts, under the sandbox's root dir. */
export function sandboxFilePaths(dir: string): {
  hostname: string;
  hosts: string;
  resolvConf: string;
} {
  return {
    hostname: join(dir, 'hostname'),
    hosts: join(dir, 'hosts'),
    resolvConf: join(dir, 'resolv.conf'),
  };
}

/** The pod shares the host's IPC namespace (and so its /dev/shm). */
export function hostIpc(config: PodSandboxConfig): boolean {
  return config.linux?.securityContext?.namespaceOptions?.ipc === NamespaceMode.NODE;
}

export function hostNetwork(config: PodSandboxConfig): boolean {
  return config.linux?.securityContext?.namespaceOptions?.network === NamespaceMode.NODE;
}

export function hostPid(config: PodSandboxConfig): boolean {
  return config.linux?.securityContext?.namespaceOptions?.pid === NamespaceMode.NODE;
}

/**
 * resolv.conf from the pod's DNSConfig, as containerd writes it: search,
 * then the nameservers, then options.
 */
export function resolvConf(dns: {
  servers: string[];
  searches: string[];
  options: string[];
}): string {
  let out = '';
  if (dns.searches.length > 0) out += `search ${dns.searches.join(' ')}\n`;
  for (const s of dns.servers) out += `nameserver ${s}\n`;
  if (dns.options.length > 0) out += `options ${dns.options.join(' ')}\n`;
  return out;
}

/**
 * Writes hostname, hosts and resolv.conf into `dir` (containerd's
 * setupSandboxFiles): the pod's hostname or the host's, the host's
 * /etc/hosts, the pod's DNS config or the host's resolv.conf.
 */
export function writeSandboxFiles(dir: string, config: PodSandboxConfig): void {
  const p = sandboxFilePaths(dir);
  const name = config.hostname !== '' ? config.hostname : osHostname();
  writeFileSync(p.hostname, `${name}\n`, { mode: 0o644 });
  copyFileSync(HOST_HOSTS, p.hosts);
  const dns = config.dnsConfig;
  if (
    dns !== undefined &&
    (dns.servers.length > 0 || dns.searches.length > 0 || dns.options.length > 0)
  ) {
    writeFileSync(p.resolvConf, resolvConf(dns), { mode: 0o644 });
  } else {
    copyFileSync(HOST_RESOLV_CONF, p.resolvConf);
  }
}

/** Mounts the pod's /dev/shm (a tmpfs) at `path`. */
export function mountShm(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  mount('shm', path, 'tmpfs', MS_NOEXEC | MS_NOSUID | MS_NODEV, `mode=1777,size=${SHM_SIZE}`);
}

/** Unmounts the pod's /dev/shm; a path that is not (or no longer) mounted is fine. */
export function unmountShm(path: string): void {
  try {
    umount2(path, MNT_DETACH);
  } catch (err) {
    if (!isErrno(err, 'EINVAL', 'ENOENT')) throw err;
  }
}
