/**
 * @module
 * Device nodes of the client's host in the spec (containerd's
 * `oci.WithLinuxDevice`, `WithDevices`, `WithHostDevices`): what ctr's
 * `--device` and `--privileged` use. They read this host's /dev, so they
 * make sense only where the client runs beside the daemon.
 */
import type { BigIntStats } from 'node:fs';
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { invalidArgument } from '../../core/errdefs/index.js';
import { deviceFromStat, SKIPPED_DEV_DIRS } from '../../core/oci/index.js';
import { ensureLinux, ensureResources } from './process.js';
import type { LinuxDevice, SpecOpt } from './types.js';

export { major, minor } from '../../core/oci/index.js';

/**
 * The device node at `path` (not following a final symlink), as the spec
 * describes it: type `c`, `b` or `p`, numbers, permission bits and owner.
 * Anything else fails `invalid_argument` ("not a device node").
 */
export async function deviceFromPath(path: string): Promise<LinuxDevice> {
  const dev = toDevice(path, await lstat(path, { bigint: true }));
  if (!dev) throw invalidArgument(`${path}: not a device node`);
  return dev;
}

/** The device `st` describes, undefined if it is not a block, char or fifo node. */
function toDevice(path: string, st: BigIntStats): LinuxDevice | undefined {
  return deviceFromStat(path, {
    mode: Number(st.mode),
    rdev: st.rdev,
    uid: Number(st.uid),
    gid: Number(st.gid),
  });
}

/**
 * The devices at `path`: the node itself, or every node under the directory
 * (but pts, shm, fd, mqueue and console, and fifos), renamed under
 * `containerPath` when given (containerd's getDevices).
 */
export async function devicesAt(path: string, containerPath = ''): Promise<LinuxDevice[]> {
  const st = await stat(path);
  if (!st.isDirectory()) {
    const dev = await deviceFromPath(path);
    return [containerPath ? { ...dev, path: containerPath } : dev];
  }
  const inUserNS = await runningInUserNS();
  const out: LinuxDevice[] = [];
  // in name order, as Go's os.ReadDir lists them
  const entries = (await readdir(path, { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  for (const entry of entries) {
    const full = join(path, entry.name);
    const renamed = containerPath ? join(containerPath, basename(entry.name)) : '';
    if (entry.isDirectory()) {
      if (SKIPPED_DEV_DIRS.has(entry.name)) continue;
      try {
        out.push(...(await devicesAt(full, renamed)));
      } catch (err) {
        if (inUserNS && isPermission(err)) continue;
        throw err;
      }
      continue;
    }
    if (entry.name === 'console') continue;
    let dev: LinuxDevice | undefined;
    try {
      dev = toDevice(full, await lstat(full, { bigint: true }));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (inUserNS && isPermission(err)))
        continue;
      throw err;
    }
    if (!dev || dev.type === 'p') continue;
    out.push(renamed ? { ...dev, path: renamed } : dev);
  }
  return out;
}

/** Every device node of this host's /dev (containerd's `oci.HostDevices`). */
export function hostDevices(): Promise<LinuxDevice[]> {
  return devicesAt('/dev');
}

/** Adds device nodes to create in the container (containerd's `oci.WithLinuxDevices`). */
export function withLinuxDevices(devices: readonly LinuxDevice[]): SpecOpt {
  return (_client, _container, spec) => {
    const linux = ensureLinux(spec);
    linux.devices = [...(linux.devices ?? []), ...devices.map((d) => ({ ...d }))];
  };
}

/**
 * This host's device node `path` in the container, allowed with
 * `permissions` (`rwm`) in the device cgroup (containerd's `oci.WithLinuxDevice`).
 */
export function withLinuxDevice(path: string, permissions: string): SpecOpt {
  return withDevice(path, permissions, false);
}

/** Like {@link withLinuxDevice}, `path` resolved first (containerd's `oci.WithLinuxDeviceFollowSymlinks`). */
export function withLinuxDeviceFollowSymlinks(path: string, permissions: string): SpecOpt {
  return withDevice(path, permissions, true);
}

function withDevice(path: string, permissions: string, follow: boolean): SpecOpt {
  return async (_client, _container, spec) => {
    const dev = await deviceFromPath(follow ? await realpath(path) : path);
    allow(spec, [dev], permissions);
  };
}

/**
 * The device node `devicePath`, or every node under that directory, in the
 * container (at `containerPath` when given) and allowed with `permissions`
 * (containerd's `oci.WithDevices`, ctr's `--device`).
 */
export function withDevices(
  devicePath: string,
  containerPath: string,
  permissions: string,
): SpecOpt {
  return async (_client, _container, spec) => {
    allow(spec, await devicesAt(devicePath, containerPath), permissions);
  };
}

/**
 * Every device node of this host (containerd's `oci.WithHostDevices`;
 * ctr's `--privileged` adds it with withAllDevicesAllowed).
 */
export function withHostDevices(): SpecOpt {
  return async (client, container, spec) =>
    withLinuxDevices(await hostDevices())(client, container, spec);
}

function allow(
  spec: Parameters<SpecOpt>[2],
  devices: readonly LinuxDevice[],
  access: string,
): void {
  const linux = ensureLinux(spec);
  const resources = ensureResources(spec);
  linux.devices = [...(linux.devices ?? []), ...devices];
  resources.devices = [
    ...(resources.devices ?? []),
    ...devices.map((d) => ({ allow: true, type: d.type, major: d.major, minor: d.minor, access })),
  ];
}

/** Whether this process runs in a user namespace (its uid map is not the whole range). */
async function runningInUserNS(): Promise<boolean> {
  try {
    const map = (await readFile('/proc/self/uid_map', 'utf8')).trim().split(/\s+/);
    return !(map[0] === '0' && map[1] === '0' && map[2] === '4294967295');
  } catch {
    return false;
  }
}

function isPermission(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EPERM' || code === 'EACCES';
}
