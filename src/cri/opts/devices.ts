/**
 * @module
 * Device nodes in the container, as containerd 1.6 adds them: the config's
 * devices (a host device node, or every node under a host directory, at the
 * container path, allowed in the device cgroup with the given permissions)
 * and, for privileged containers, every device of the host's /dev. Device
 * facts come from lstat through {@link SpecHost}, so tests use fake nodes.
 */
import type { ContainerConfig } from '../../api/k8s/cri/runtime/v1/api.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import { deviceFromStat, S_IFMT, SKIPPED_DEV_DIRS } from '../../core/oci/index.js';
import { resourcesOf } from './defaults.js';
import { goFsError } from './security-profile.js';
import type { FileStat, OciDevice, OciSpec, SpecHost } from './types.js';

const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;

export { major, minor } from '../../core/oci/index.js';

/** The device `st` describes; undefined when it is no block, char or fifo node. */
export function deviceOf(path: string, st: FileStat): OciDevice | undefined {
  return deviceFromStat(path, st);
}

type DeviceHost = Pick<SpecHost, 'lstat' | 'isDirectory' | 'readDir' | 'realpath'>;

/**
 * The devices at host `path`: the node itself, or the nodes under the
 * directory (not pts, shm, fd, mqueue, console, fifos), renamed under
 * `containerPath` when given (containerd's getDevices).
 */
export async function devicesAt(
  path: string,
  containerPath: string,
  host: DeviceHost,
): Promise<OciDevice[]> {
  let isDir: boolean | undefined;
  try {
    isDir = await host.isDirectory(path);
  } catch (err) {
    throw invalidArgument(`error stating device path: ${goFsError('stat', path, err)}`, {
      cause: err,
    });
  }
  if (isDir === undefined) {
    throw invalidArgument(`error stating device path: stat ${path}: no such file or directory`);
  }
  if (!isDir) {
    const st = await host.lstat(path);
    const dev = st && deviceOf(path, st);
    if (!dev) throw invalidArgument(`device "${path}": not a device node`);
    return [containerPath ? { ...dev, path: containerPath } : dev];
  }
  const out: OciDevice[] = [];
  const names = (await host.readDir(path)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) {
    const full = `${path.replace(/\/$/, '')}/${name}`;
    const renamed = containerPath ? `${containerPath.replace(/\/$/, '')}/${name}` : '';
    const st = await host.lstat(full);
    if (!st) continue;
    if ((st.mode & S_IFMT) === S_IFDIR) {
      if (SKIPPED_DEV_DIRS.has(name)) continue;
      out.push(...(await devicesAt(full, renamed, host)));
      continue;
    }
    if (name === 'console' || (st.mode & S_IFMT) === S_IFLNK) continue;
    const dev = deviceOf(full, st);
    if (!dev || dev.type === 'p') continue;
    out.push(renamed ? { ...dev, path: renamed } : dev);
  }
  return out;
}

/**
 * Adds the config's devices (containerd's customopts.WithDevices): each host
 * path with its symlink resolved; with `ownershipFromSecurityContext`, a
 * non-zero run_as_user / run_as_group owns the new nodes.
 */
export async function applyConfigDevices(
  spec: OciSpec,
  config: ContainerConfig,
  host: DeviceHost,
  ownershipFromSecurityContext: boolean,
): Promise<void> {
  const linux = spec.linux;
  const before = linux.devices?.length ?? 0;
  for (const device of config.devices) {
    let path = device.hostPath;
    const st = await host.lstat(path).catch((err: unknown) => {
      throw invalidArgument(`device "${path}": ${goFsError('lstat', path, err)}`, { cause: err });
    });
    if (!st) throw invalidArgument(`device "${path}": lstat ${path}: no such file or directory`);
    if ((st.mode & S_IFMT) === S_IFLNK) path = await host.realpath(path);
    for (const dev of await devicesAt(path, device.containerPath, host)) {
      linux.devices = [...(linux.devices ?? []), dev];
      const resources = resourcesOf(spec);
      resources.devices = [
        ...(resources.devices ?? []),
        {
          allow: true,
          type: dev.type,
          major: dev.major,
          minor: dev.minor,
          access: device.permissions,
        },
      ];
    }
  }
  if (!ownershipFromSecurityContext) return;
  const sc = config.linux?.securityContext;
  const uid = sc?.runAsUser ? Number(BigInt.asUintN(32, sc.runAsUser.value)) : 0;
  const gid = sc?.runAsGroup ? Number(BigInt.asUintN(32, sc.runAsGroup.value)) : 0;
  for (const dev of (linux.devices ?? []).slice(before)) {
    if (uid !== 0) dev.uid = uid;
    if (gid !== 0) dev.gid = gid;
  }
}

/** Every device of the host's /dev (containerd's oci.HostDevices). */
export function hostDevices(host: DeviceHost): Promise<OciDevice[]> {
  return devicesAt('/dev', '', host);
}
