import { AUTO_REMOVE_LABEL } from '../core/containers/index.js';

/**
 * The labels `berth` keeps on a container record: what docker keeps in its
 * own container store, here on containerd's record so that any client sees
 * it and berthd's restart monitor can act on it. Values are strings; JSON
 * where a structure is needed.
 */
export const Labels = {
  /** The container's name (`--name`, or a generated one): unique per namespace. */
  name: 'berth/name',
  /** The network mode: `bridge`, `host`, `none`, or a CNI network name. */
  network: 'berth/network',
  /** JSON `PortMapping[]`: the published ports (`-p`, `-P`). */
  ports: 'berth/ports',
  /** The container's hostname. */
  hostname: 'berth/hostname',
  /** The directory holding the container's hosts, resolv.conf, hostname, logs and the FIFOs of attached processes. */
  stateDir: 'berth/state-dir',
  /** JSON `LogConfig`: where the container's stdout and stderr are kept. */
  log: 'berth/log',
  /** `true`: berthd removes the container (task, record, snapshot) when its task exits (`run --rm -d`). */
  autoRemove: AUTO_REMOVE_LABEL,
  /** The image reference the user typed (`berth ps` shows it as docker does). */
  image: 'berth/image',
} as const;

/** containerd's restart monitor labels, honoured by berthd's restart monitor and by containerd's own. */
export { RestartLabels } from '../core/containers/index.js';

/** One published port: `-p [ip:]host:ctr[/tcp|udp]`. The CNI portmap plugin's runtimeConfig shape. */
export interface PortMapping {
  hostIP: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}
