/**
 * @module
 * A container's mounts, as containerd 1.6's CRI plugin builds them: the
 * sandbox's /etc/hostname, /etc/hosts, /etc/resolv.conf and /dev/shm (unless
 * the config mounts those paths), the image's volumes, and the config's
 * mounts, sorted so that shallower destinations come first; the default
 * mounts they replace (and all of /dev/* under a mounted /dev) are dropped,
 * and cgroupfs is added read-only. Host paths that do not exist are created
 * as directories (mode 0755) and symlinks in them resolved; propagation
 * private → `rprivate`, host-to-container → `rslave` (the host path's mount
 * must be shared or a slave) and bidirectional → `rshared` (it must be
 * shared), raising the rootfs propagation to match. SELinux relabelling is
 * ignored: this machine has no SELinux.
 */
import { posix } from 'node:path';
import {
  type ContainerConfig,
  type Mount,
  MountPropagation,
  NamespaceMode,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import { goFsError } from './security-profile.js';
import type { ImageConfig, OciMount, OciSpec, SpecHost } from './types.js';

export const ETC_HOSTNAME = '/etc/hostname';
export const ETC_HOSTS = '/etc/hosts';
export const RESOLV_CONF = '/etc/resolv.conf';
export const DEV_SHM = '/dev/shm';

/** Go's filepath.Clean for slash paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const out = posix.normalize(p);
  return out.length > 1 && out.endsWith('/') ? out.slice(0, -1) : out;
}

/** Whether the config mounts something at `dst` (containerd's isInCRIMounts). */
export function isInCriMounts(dst: string, mounts: readonly Mount[]): boolean {
  const clean = cleanPath(dst);
  return mounts.some((m) => cleanPath(m.containerPath) === clean);
}

function criMount(containerPath: string, hostPath: string, readonly: boolean): Mount {
  return {
    containerPath,
    hostPath,
    readonly,
    selinuxRelabel: false,
    propagation: MountPropagation.PROPAGATION_PRIVATE,
  };
}

/** Where a sandbox keeps the files its containers mount. */
export interface SandboxFiles {
  /** The sandbox's root directory: `hostname`, `hosts`, `resolv.conf`. */
  dir: string;
  /** The sandbox's /dev/shm (a tmpfs); unused under host IPC. */
  shmPath?: string;
}

/**
 * The sandbox files a container mounts (containerd's containerMounts):
 * /etc/hostname (only when the sandbox has that file), /etc/hosts and
 * /etc/resolv.conf (read-only with a read-only rootfs), /dev/shm (the host's
 * under host IPC), each unless the config mounts that path itself.
 */
export async function sandboxFileMounts(
  files: SandboxFiles,
  config: ContainerConfig,
  host: Pick<SpecHost, 'isDirectory'>,
): Promise<Mount[]> {
  const sc = config.linux?.securityContext;
  const ro = sc?.readonlyRootfs ?? false;
  const out: Mount[] = [];
  if (!isInCriMounts(ETC_HOSTNAME, config.mounts)) {
    const hostname = posix.join(files.dir, 'hostname');
    // sandboxes from before /etc/hostname existed have none (containerd stats it)
    if ((await host.isDirectory(hostname)) !== undefined) {
      out.push(criMount(ETC_HOSTNAME, hostname, ro));
    }
  }
  if (!isInCriMounts(ETC_HOSTS, config.mounts)) {
    out.push(criMount(ETC_HOSTS, posix.join(files.dir, 'hosts'), ro));
  }
  if (!isInCriMounts(RESOLV_CONF, config.mounts)) {
    out.push(criMount(RESOLV_CONF, posix.join(files.dir, 'resolv.conf'), ro));
  }
  if (!isInCriMounts(DEV_SHM, config.mounts)) {
    const hostIpc = sc?.namespaceOptions?.ipc === NamespaceMode.NODE;
    const shm = hostIpc ? DEV_SHM : files.shmPath;
    if (!shm)
      throw invalidArgument('sandbox has no /dev/shm of its own and the pod does not use host IPC');
    out.push(criMount(DEV_SHM, shm, false));
  }
  return out;
}

/**
 * The image's volumes as mounts of fresh directories under
 * `<containerRootDir>/volumes/<id>` (containerd's volumeMounts), except
 * those the config mounts. The caller copies the image's content at each
 * destination into the directory before start (containerd's WithVolumes).
 */
export function imageVolumeMounts(
  containerRootDir: string,
  criMounts: readonly Mount[],
  image: ImageConfig,
  newId: () => string,
): Mount[] {
  const out: Mount[] = [];
  for (const dst of Object.keys(image.Volumes ?? {})) {
    if (isInCriMounts(dst, criMounts)) continue;
    out.push(criMount(dst, posix.join(containerRootDir, 'volumes', newId()), false));
  }
  return out;
}

/** One line of /proc/self/mountinfo, what propagation checks need. */
export interface MountInfoEntry {
  mountPoint: string;
  /** The optional fields: `shared:N`, `master:N`, `propagate_from:N`, `unbindable`. */
  optional: string[];
}

/** Parses /proc/self/mountinfo text (proc(5)); mount points have their octal escapes decoded. */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fields = line.slice(0, sep).split(' ');
    if (fields.length < 6) continue;
    out.push({
      mountPoint: (fields[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) =>
        String.fromCharCode(Number.parseInt(o, 8)),
      ),
      optional: fields.slice(6).filter((f) => f !== ''),
    });
  }
  return out;
}

/**
 * The mount `path` is on: the longest mount point that prefixes it
 * (containerd's mount.Lookup), the last one on that point when stacked
 * (the visible one).
 */
export function lookupMount(path: string, mounts: readonly MountInfoEntry[]): MountInfoEntry {
  const dir = cleanPath(path);
  let best: MountInfoEntry | undefined;
  for (const m of mounts) {
    if (!dir.startsWith(m.mountPoint)) continue;
    if (!best || m.mountPoint.length >= best.mountPoint.length) best = m;
  }
  if (!best) throw invalidArgument(`failed to find the mount info for "${dir}"`);
  return best;
}

function ensureShared(path: string, mounts: readonly MountInfoEntry[]): void {
  const info = lookupMount(path, mounts);
  if (info.optional.some((o) => o.startsWith('shared:'))) return;
  throw invalidArgument(
    `path "${path}" is mounted on "${info.mountPoint}" but it is not a shared mount`,
  );
}

function ensureSharedOrSlave(path: string, mounts: readonly MountInfoEntry[]): void {
  const info = lookupMount(path, mounts);
  if (info.optional.some((o) => o.startsWith('shared:') || o.startsWith('master:'))) return;
  throw invalidArgument(
    `path "${path}" is mounted on "${info.mountPoint}" but it is not a shared or slave mount`,
  );
}

/** The number of `/` in a cleaned destination: shallower mounts go first. */
function depth(m: Mount): number {
  return cleanPath(m.containerPath).split('/').length - 1;
}

/**
 * Adds the config's mounts and `extra` (sandbox files, image volumes; the
 * config's win on the same destination) to `spec` (containerd's
 * customopts.WithMounts).
 */
export async function applyCriMounts(
  spec: OciSpec,
  config: ContainerConfig,
  extra: readonly Mount[],
  host: Pick<SpecHost, 'isDirectory' | 'mkdirAll' | 'realpath' | 'lstat' | 'mountInfo'>,
): Promise<void> {
  const mounts = [...config.mounts];
  for (const e of extra) if (!isInCriMounts(e.containerPath, config.mounts)) mounts.push(e);
  // stable, so equal depths keep the config's order
  mounts.sort((a, b) => depth(a) - depth(b));

  spec.mounts.push({
    destination: '/sys/fs/cgroup',
    type: 'cgroup',
    source: 'cgroup',
    options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
  });
  const mountSet = new Set(mounts.map((m) => cleanPath(m.containerPath)));
  spec.mounts = spec.mounts.filter((m) => {
    const dst = cleanPath(m.destination);
    if (mountSet.has(dst)) return false;
    return !(mountSet.has('/dev') && dst.startsWith('/dev/'));
  });

  let mountInfo: MountInfoEntry[] | undefined;
  const info = async () => {
    mountInfo ??= parseMountInfo(await host.mountInfo());
    return mountInfo;
  };
  for (const m of mounts) {
    const dst = m.containerPath;
    let src = m.hostPath;
    const exists = await host.isDirectory(src).catch((err: unknown) => {
      throw invalidArgument(`failed to stat "${src}": ${goFsError('stat', src, err)}`, {
        cause: err,
      });
    });
    if (exists === undefined) {
      await host.mkdirAll(src).catch((err: unknown) => {
        throw invalidArgument(`failed to mkdir "${src}": ${goFsError('mkdir', src, err)}`, {
          cause: err,
        });
      });
    }
    src = await resolveSymbolicLink(src, host);
    const options = ['rbind'];
    switch (m.propagation) {
      case MountPropagation.PROPAGATION_PRIVATE:
        options.push('rprivate');
        break;
      case MountPropagation.PROPAGATION_BIDIRECTIONAL:
        ensureShared(src, await info());
        options.push('rshared');
        spec.linux.rootfsPropagation = 'rshared';
        break;
      case MountPropagation.PROPAGATION_HOST_TO_CONTAINER:
        ensureSharedOrSlave(src, await info());
        options.push('rslave');
        if (
          spec.linux.rootfsPropagation !== 'rshared' &&
          spec.linux.rootfsPropagation !== 'rslave'
        ) {
          spec.linux.rootfsPropagation = 'rslave';
        }
        break;
      default:
        options.push('rprivate');
    }
    options.push(m.readonly ? 'ro' : 'rw');
    spec.mounts.push({ source: src, destination: dst, type: 'bind', options } satisfies OciMount);
  }
}

/** `path` itself unless it is a symlink, else with every link resolved (containerd's ResolveSymbolicLink). */
async function resolveSymbolicLink(
  path: string,
  host: Pick<SpecHost, 'lstat' | 'realpath'>,
): Promise<string> {
  try {
    const st = await host.lstat(path);
    if (!st) throw Object.assign(new Error(`lstat ${path}: no such file`), { code: 'ENOENT' });
    if ((st.mode & 0o170000) !== 0o120000) return path;
    return await host.realpath(path);
  } catch (err) {
    throw invalidArgument(`failed to resolve symlink "${path}": ${goFsError('lstat', path, err)}`, {
      cause: err,
    });
  }
}
