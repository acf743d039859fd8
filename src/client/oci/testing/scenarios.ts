/**
 * @module
 * Containers whose specs berth generates and `ctr containers create`
 * generates alike: each scenario names an image (its config and the layers
 * that hold /etc/passwd and /etc/group), ctr's flags, and the spec options
 * that do what those flags do, in ctr's order (containerd 1.7's
 * cmd/ctr/commands/run/run_unix.go). test/e2e/oci-spec.e2e.test.ts runs both
 * against containerd and records golden/<name>.json; golden.test.ts checks
 * the goldens without root.
 */

import { withHostDevices } from '../devices.js';
import { withImageConfig } from '../image-config.js';
import {
  withAddedCapabilities,
  withAllDevicesAllowed,
  withDefaultUnixDevices,
  withDroppedCapabilities,
  withMemoryLimit,
  withPrivileged,
} from '../linux-opts.js';
import {
  withAnnotations,
  withEnv,
  withHostHostsFile,
  withHostNamespace,
  withHostname,
  withHostResolvconf,
  withLinuxNamespace,
  withMounts,
  withNewPrivileges,
  withProcessArgs,
  withProcessCwd,
  withRootFSReadonly,
  withTTY,
} from '../spec-opts.js';
import type { ImageConfig, SpecImage, SpecOpt } from '../types.js';
import { withAdditionalGIDs, withUser } from '../user.js';
import type { LayerEntry } from './images.js';

/** The namespace the scenarios' containers are created in (it is in their cgroups path). */
export const SCENARIO_NAMESPACE = 'oci-spec';

export interface ScenarioImage {
  /** Image config, in test/helpers/images.ts's spelling. */
  readonly config: {
    cmd?: string[];
    entrypoint?: string[];
    env?: string[];
    workingDir?: string;
    user?: string;
  };
  /** Layers above busybox's (bottom first). */
  readonly layers: readonly LayerEntry[][];
}

export interface Scenario {
  /** Also the container id. */
  readonly name: string;
  readonly image: ScenarioImage;
  /** `ctr containers create` flags, before the image reference. */
  readonly flags: readonly string[];
  /** Arguments after the container id. */
  readonly args: readonly string[];
  /** Debian's ctr 1.6 has these flags too (it lacks --user and --hostname on create). */
  readonly ctr16: boolean;
  /** The spec depends on the host (its devices, the capabilities of the process): no golden file. */
  readonly hostSpecific?: boolean;
  /** The options doing what ctr does; `hostname` is the host's name (ctr's --net-host sets HOSTNAME). */
  opts(image: SpecImage, hostname: string): SpecOpt[];
}

const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Users and groups over three layers: changed, deleted and brought back under an opaque /etc. */
const USERS_LAYERS: LayerEntry[][] = [
  [
    { type: 'dir', path: 'etc' },
    {
      type: 'file',
      path: 'etc/passwd',
      content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n',
    },
    { type: 'file', path: 'etc/group', content: 'root:x:0:\napp:x:1000:\n' },
  ],
  [
    {
      type: 'file',
      path: 'etc/passwd',
      content:
        'root:x:0:0:root:/root:/bin/sh\napp:x:1500:1500::/home/app:/bin/sh\nweb:x:1001:1002::/srv:/bin/sh\n',
    },
    { type: 'whiteout', path: 'etc/group' },
    { type: 'dir', path: 'home/app' },
  ],
  [
    { type: 'opaque', path: 'etc' },
    {
      type: 'file',
      path: 'etc/passwd',
      content:
        'root:x:0:0:root:/root:/bin/sh\napp:x:1500:1500::/home/app:/bin/sh\nweb:x:1001:1002::/srv:/bin/sh\n',
    },
    {
      type: 'file',
      path: 'etc/group',
      content:
        '# groups\nroot:x:0:\nwheel:x:10:root\napp:x:1500:app\nstaff:x:50:app,web\nwww:x:1002:\naudio:x:29:web,app\n',
    },
  ],
];

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'privileged',
    image: { config: { cmd: ['sh'] }, layers: [] },
    flags: ['--privileged'],
    args: [],
    ctr16: true,
    hostSpecific: true,
    opts: (image) => [
      withDefaultUnixDevices(),
      withImageConfig(image),
      withPrivileged(),
      withAllDevicesAllowed(),
      withHostDevices(),
    ],
  },
  {
    name: 'default',
    image: { config: { cmd: ['sh'], env: [PATH] }, layers: [] },
    flags: [],
    args: [],
    ctr16: true,
    opts: (image) => [withDefaultUnixDevices(), withImageConfig(image)],
  },
  {
    name: 'named-user',
    image: {
      config: {
        user: 'app',
        env: ['PATH=/usr/bin:/bin', 'FOO=1'],
        entrypoint: ['/bin/sh', '-c'],
        cmd: ['echo hi'],
        workingDir: '/home/app',
      },
      layers: USERS_LAYERS,
    },
    flags: ['--env', 'FOO=2', '--env', 'BAR=3'],
    args: [],
    ctr16: true,
    opts: (image) => [
      withDefaultUnixDevices(),
      withEnv(['FOO=2', 'BAR=3']),
      withImageConfig(image),
    ],
  },
  {
    name: 'uid-user',
    image: { config: { user: '1001', cmd: ['id'] }, layers: USERS_LAYERS },
    flags: [],
    args: [],
    ctr16: true,
    opts: (image) => [withDefaultUnixDevices(), withImageConfig(image)],
  },
  {
    name: 'user-group',
    image: { config: { user: 'web:staff', env: [PATH], cmd: ['id'] }, layers: USERS_LAYERS },
    flags: [],
    args: [],
    ctr16: true,
    opts: (image) => [withDefaultUnixDevices(), withImageConfig(image)],
  },
  {
    name: 'flags',
    image: { config: { user: 'app', env: [PATH], cmd: ['sh'] }, layers: USERS_LAYERS },
    flags: [
      '--tty',
      '--env',
      'A=b',
      '--cwd',
      '/tmp',
      '--read-only',
      '--user',
      'web:staff',
      '--net-host',
      '--hostname',
      'h1',
      '--annotation',
      'k=v',
      '--label',
      'l=v',
      '--mount',
      'type=bind,src=/tmp,dst=/mnt,options=rbind:ro',
      '--cap-add',
      'CAP_SYS_ADMIN',
      '--cap-drop',
      'CAP_KILL',
      '--allow-new-privs',
      '--memory-limit',
      '1048576',
      '--with-ns',
      'pid:/proc/1/ns/pid',
    ],
    args: ['echo', 'hi'],
    ctr16: false,
    opts: (image, hostname) => [
      withDefaultUnixDevices(),
      withEnv(['A=b']),
      withMounts([{ destination: '/mnt', type: 'bind', source: '/tmp', options: ['rbind', 'ro'] }]),
      withImageConfig(image),
      withRootFSReadonly(),
      withProcessArgs('echo', 'hi'),
      withProcessCwd('/tmp'),
      withUser('web:staff'),
      // containerd looks up the user string as it is: "web:staff" names no user
      withAdditionalGIDs('web:staff'),
      withTTY(),
      withHostNamespace('network'),
      withHostHostsFile(),
      withHostResolvconf(),
      withEnv([`HOSTNAME=${hostname}`]),
      withAnnotations({ k: 'v' }),
      withAddedCapabilities(['CAP_SYS_ADMIN']),
      withDroppedCapabilities(['CAP_KILL']),
      withLinuxNamespace({ type: 'pid', path: '/proc/1/ns/pid' }),
      withNewPrivileges(),
      withMemoryLimit(1048576),
      withHostname('h1'),
      // ctr makes its labels annotations too
      withAnnotations({ l: 'v' }),
    ],
  },
];

/**
 * The OCI image config of a scenario's image, as test/helpers/images.ts
 * writes it (Env defaults to the default PATH there).
 */
export function ociConfig(config: ScenarioImage['config']): ImageConfig {
  return {
    Env: config.env ?? [PATH],
    ...(config.entrypoint ? { Entrypoint: config.entrypoint } : {}),
    ...(config.cmd ? { Cmd: config.cmd } : {}),
    ...(config.workingDir ? { WorkingDir: config.workingDir } : {}),
    ...(config.user ? { User: config.user } : {}),
  };
}

/** What a golden file holds: the spec ctr 1.7 generated, and the host name it ran on. */
export interface Golden {
  readonly recordedWith: string;
  readonly hostname: string;
  readonly spec: unknown;
}
