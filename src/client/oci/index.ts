/**
 * @module oci
 * containerd's OCI runtime spec generation in TypeScript: the default Linux
 * spec (`generateSpec`) and the spec options (`withX`, as containerd's
 * `oci.WithX`), for `withNewSpec` in the client. User and group names are
 * resolved from the image's layers through the content store, so creating a
 * container needs no privileges on the client's side.
 *
 * ```ts
 * import { oci, withNewSnapshot, withNewSpec } from 'berth/client';
 * const image = await client.getImage('docker.io/library/redis:alpine');
 * const container = await client.newContainer(
 *   'redis',
 *   withNewSnapshot('redis-snapshot', image),
 *   withNewSpec(oci.withImageConfig(image), oci.withEnv(['REDIS_ARGS=--save ""']), oci.withTTY()),
 * );
 * ```
 *
 * Outside the client, `generateSpec(client, container, ...opts)` runs the
 * same: `client` is a {@link SpecClient} (`specClientFor` makes one from a
 * content store), `container` a {@link SpecContainer}.
 */
export {
  deviceFromPath,
  devicesAt,
  hostDevices,
  major,
  minor,
  withDevices,
  withHostDevices,
  withLinuxDevice,
  withLinuxDeviceFollowSymlinks,
  withLinuxDevices,
} from './devices.js';
export { replaceOrAppendEnvValues } from './env.js';
export {
  IMAGE_CONFIG_MEDIA_TYPES,
  readImageConfig,
  withImageConfig,
  withImageConfigArgs,
} from './image-config.js';
export {
  capabilitiesOf,
  currentCapabilities,
  KNOWN_CAPABILITIES,
  withAddedCapabilities,
  withAllCurrentCapabilities,
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
export { defaultMounts } from './mounts.js';
export {
  applyOpts,
  cgroupsPathOf,
  compose,
  DEFAULT_ROOTFS_PATH,
  DEFAULT_UNIX_ENV,
  defaultUnixCaps,
  defaultUnixNamespaces,
  defaultUnixSpec,
  generateSpec,
  OCI_VERSION,
  specClientFor,
  specClientWithoutContent,
  withDefaultSpec,
  withSpecFromBytes,
  withSpecFromFile,
} from './spec.js';
export {
  withAnnotations,
  withCgroup,
  withDefaultPathEnv,
  withDevShmSize,
  withDomainname,
  withEnv,
  withEnvFile,
  withHostHostsFile,
  withHostLocaltime,
  withHostNamespace,
  withHostname,
  withHostResolvconf,
  withLinuxNamespace,
  withMounts,
  withNamespacedCgroup,
  withNewPrivileges,
  withNoNewPrivileges,
  withoutMounts,
  withoutRunMount,
  withProcessArgs,
  withProcessCwd,
  withRootFSPath,
  withRootFSReadonly,
  withTTY,
  withTTYSize,
  withUserNamespace,
} from './spec-opts.js';
export type * from './types.js';
export {
  type IdFileStore,
  setIdFileStore,
  withAdditionalGIDs,
  withAppendAdditionalGroups,
  withUIDGID,
  withUser,
  withUserID,
  withUsername,
} from './user.js';
