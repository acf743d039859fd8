import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { posix } from 'node:path';
import { BinaryReader } from '@bufbuild/protobuf/wire';

/**
 * Groups: one berth shim process serves every container of a group.
 *
 * The group of a container is, in order: its spec's `io.containerd.runc.v2.group`
 * annotation (as the runc shim), its `io.kubernetes.cri.sandbox-id` annotation
 * (a pod's containers share their sandbox's shim), else the runtime options'
 * default: `namespace` (one shim per namespace, berth's default), `container`
 * (one shim per container) or any other string (that fixed group).
 *
 * Both the shim's `start` and berthd compute the group and its socket address
 * with these functions, so berthd can reuse a live group shim without asking
 * `start`.
 */

/** The runtime name containerd and berthd know berth's shim by. */
export const BERTH_RUNTIME = 'io.containerd.berth.v1';

/** The annotation the runc shim groups by (containerd's runc v2 shim). */
export const GROUP_ANNOTATION = 'io.containerd.runc.v2.group';

/** The annotation containerd's CRI puts on every container of a pod (and the sandbox). */
export const SANDBOX_ID_ANNOTATION = 'io.kubernetes.cri.sandbox-id';

/** The runtime options' default group: one shim per namespace. */
export const GROUP_NAMESPACE = 'namespace';

/** The runtime options' default for one shim per container. */
export const GROUP_CONTAINER = 'container';

/** Field number of `string group` in berth's superset of runc's Options. */
export const OPTIONS_GROUP_FIELD = 100;

/** Where the stock shim keeps its sockets; berth's shim shares the directory. */
export const SOCKET_DIR = '/run/containerd/s';

/**
 * The group of a container: the group annotation, else the sandbox-id
 * annotation, else `defaultGroup` ('namespace' → the namespace, 'container'
 * → the container id, '' → as 'namespace', anything else → that group).
 */
export function groupOf(
  annotations: Readonly<Record<string, string>> | undefined,
  namespace: string,
  containerId: string,
  defaultGroup = GROUP_NAMESPACE,
): string {
  const byAnnotation = annotations?.[GROUP_ANNOTATION] || annotations?.[SANDBOX_ID_ANNOTATION];
  if (byAnnotation) return byAnnotation;
  switch (defaultGroup) {
    case '':
    case GROUP_NAMESPACE:
      return namespace;
    case GROUP_CONTAINER:
      return containerId;
    default:
      return defaultGroup;
  }
}

/**
 * The ttrpc address of a group's shim:
 * `unix:///run/containerd/s/<sha256 hex of "<containerd address>/<namespace>/berth-group/<group>">`.
 * The path is joined (and cleaned) as Go's filepath.Join does for the stock
 * shim's socket, whose key is `<address>/<namespace>/<id>`: the `berth-group`
 * element keeps the two apart.
 */
export function groupAddress(containerdAddress: string, namespace: string, group: string): string {
  const key = posix.join(containerdAddress, namespace, 'berth-group', group);
  return `unix://${SOCKET_DIR}/${createHash('sha256').update(key).digest('hex')}`;
}

/** The socket path of a `unix://` address (a bare path is returned as it is). */
export function socketPathOf(address: string): string {
  return address.startsWith('unix://') ? address.slice('unix://'.length) : address;
}

/**
 * True if a shim accepts connections at `address`. Nobody listening
 * (ECONNREFUSED), no socket file (ENOENT) or a file that is no socket
 * (ENOTSOCK) → false. A listener too busy to accept within `timeoutMs`
 * (or EAGAIN: its backlog is full) still counts as alive.
 */
export function isShimAlive(address: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(socketPathOf(address));
    const done = (alive: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(alive);
    };
    const timer = setTimeout(() => done(true), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'EAGAIN'));
  });
}

/**
 * The `group` (field 100) of marshalled runtime options: berth's superset of
 * runc's `containerd.runc.v1.Options`. runc's own Options (no field 100), no
 * options or bytes that do not parse give '' (the default: 'namespace').
 */
export function optionsGroup(value: Uint8Array | undefined): string {
  if (value === undefined || value.length === 0) return '';
  let group = '';
  try {
    const reader = new BinaryReader(value);
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (field === OPTIONS_GROUP_FIELD && wireType === 2) group = reader.string();
      else reader.skip(wireType);
    }
  } catch {
    return '';
  }
  return group;
}
