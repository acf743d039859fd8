/**
 * @module
 * What berth shows of a container, in docker's shapes: the row of `ps`
 * (its template fields: `{{.ID}}`, `{{.Names}}`, `{{.Status}}`, …) and the
 * object of `inspect`, made from the container record, its task (from one
 * Tasks List call for the namespace) and berth's labels. Pure functions of
 * their inputs and `now`, so tests need no daemon.
 */
import type { Container } from '../../core/containers/index.js';
import { goTimeString, humanDuration, timeAgo } from '../format/index.js';
import { Labels, type PortMapping, RestartLabels } from '../labels.js';
import type { TaskInfo } from './tasks.js';

/** docker's container states. */
export type ContainerState = 'created' | 'running' | 'paused' | 'exited';

/** `docker ps`'s row: the fields its templates and `--format json` use. */
export interface ContainerView {
  ID: string;
  Names: string;
  Image: string;
  Command: string;
  CreatedAt: string;
  RunningFor: string;
  Status: string;
  State: ContainerState;
  Ports: string;
  Labels: string;
  Mounts: string;
  Networks: string;
  LocalVolumes: string;
  Size: string;
}

/** The parts of an OCI spec berth reads. */
export interface SpecView {
  hostname?: string;
  process?: {
    args?: string[];
    env?: string[];
    cwd?: string;
    terminal?: boolean;
    user?: { uid?: number; gid?: number };
  };
  mounts?: { destination: string; source?: string; type?: string; options?: string[] }[];
}

/** The record's spec, parsed (undefined when it has none or it is not JSON). */
export function specOf(c: Pick<Container, 'spec'>): SpecView | undefined {
  if (c.spec === undefined) return undefined;
  try {
    return JSON.parse(Buffer.from(c.spec.value).toString('utf8')) as SpecView;
  } catch {
    return undefined;
  }
}

/** The record's creation time. */
export function createdOf(c: Pick<Container, 'createdAt'>): Date {
  return new Date(Number(c.createdAt / 1_000_000n));
}

/** docker's state of a container from its task: no task, or one not started yet, is `created`. */
export function stateOf(task: TaskInfo | undefined): ContainerState {
  switch (task?.status) {
    case 'running':
      return 'running';
    case 'paused':
    case 'pausing':
      return 'paused';
    case 'stopped':
      return 'exited';
    default:
      return 'created';
  }
}

/**
 * docker's status line: `Up 3 minutes`, `Up 3 minutes (Paused)`,
 * `Exited (0) 2 seconds ago`, `Created`. `startedAt` is the task's start
 * (from /proc); without it a running container is just `Up`.
 */
export function statusOf(task: TaskInfo | undefined, now: Date, startedAt?: Date): string {
  const state = stateOf(task);
  if (task === undefined || state === 'created') return 'Created';
  if (state === 'exited') {
    const ago = task.exitedAt === undefined ? '' : ` ${timeAgo(task.exitedAt, now)}`;
    return `Exited (${task.exitStatus})${ago}`;
  }
  const up =
    startedAt === undefined ? 'Up' : `Up ${humanDuration(now.getTime() - startedAt.getTime())}`;
  return state === 'paused' ? `${up} (Paused)` : up;
}

/** The published ports of a container (label `berth/ports`); none when it has no valid label. */
export function portsOf(labels: Readonly<Record<string, string>>): PortMapping[] {
  const raw = labels[Labels.ports];
  if (raw === undefined || raw === '') return [];
  try {
    const v = JSON.parse(raw) as unknown;
    return Array.isArray(v) ? (v as PortMapping[]) : [];
  } catch {
    return [];
  }
}

/** docker's PORTS column: `127.0.0.1:8080->80/tcp, 0.0.0.0:53->53/udp`. */
export function formatPorts(ports: readonly PortMapping[]): string {
  return ports
    .map((p) => `${p.hostIP || '0.0.0.0'}:${p.hostPort}->${p.containerPort}/${p.protocol}`)
    .join(', ');
}

/** The labels a user set: berth's own (`berth/…`) are kept out of sight. */
export function userLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(labels).sort()) {
    if (!k.startsWith('berth/')) out[k] = labels[k] as string;
  }
  return out;
}

/** docker's Ellipsis: at most `max` characters, the last one `…` when cut. */
function ellipsis(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : `${chars.slice(0, max - 1).join('')}…`;
}

export interface ViewOptions {
  now: Date;
  /** `--no-trunc`: full ids and commands. */
  noTrunc?: boolean;
  /** The task's start time, when known. */
  startedAt?: Date;
}

/** The `ps` row of a container. */
export function containerView(
  c: Container,
  task: TaskInfo | undefined,
  opts: ViewOptions,
): ContainerView {
  const spec = specOf(c);
  const command = (spec?.process?.args ?? []).join(' ');
  const created = createdOf(c);
  const labels = userLabels(c.labels);
  return {
    ID: opts.noTrunc === true ? c.id : c.id.slice(0, 12),
    Names: c.labels[Labels.name] ?? c.id,
    Image: c.labels[Labels.image] ?? c.image,
    Command: JSON.stringify(opts.noTrunc === true ? command : ellipsis(command, 20)),
    // Go's time string needs the zone's name (Intl): made only when a format asks for it.
    get CreatedAt() {
      // docker prints the creation to the second (time.Unix(created, 0)).
      return goTimeString(new Date(Math.floor(created.getTime() / 1000) * 1000));
    },
    RunningFor: timeAgo(created, opts.now),
    Status: statusOf(task, opts.now, opts.startedAt),
    State: stateOf(task),
    Ports: formatPorts(portsOf(c.labels)),
    Labels: Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    Mounts: (spec?.mounts ?? [])
      .filter((m) => m.type === 'bind' && !isStateFile(c, m.source))
      .map((m) => m.source ?? '')
      .join(','),
    Networks: c.labels[Labels.network] ?? '',
    LocalVolumes: '0',
    Size: '0B',
  };
}

/** The hosts, resolv.conf and hostname files berth mounts from the container's state dir. */
function isStateFile(c: Pick<Container, 'labels'>, source: string | undefined): boolean {
  const dir = c.labels[Labels.stateDir];
  return dir !== undefined && dir !== '' && source?.startsWith(`${dir}/`) === true;
}

// ---------------------------------------------------------------------------
// Filters

/** The `ps --filter` keys berth knows. */
export const PS_FILTER_KEYS = ['status', 'name', 'id', 'label', 'ancestor', 'exited'] as const;

const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

/** Checks `--filter` keys and values before anything is listed (docker's messages). */
export function checkPsFilters(filters: ReadonlyMap<string, readonly string[]>): void {
  for (const [key, values] of filters) {
    if (!(PS_FILTER_KEYS as readonly string[]).includes(key)) {
      throw new Error(`invalid filter '${key}'`);
    }
    for (const v of values) {
      if (key === 'status' && !STATUSES.includes(v)) {
        throw new Error(`invalid filter 'status=${v}'`);
      }
      if (key === 'exited' && !/^-?\d+$/.test(v)) {
        throw new Error(`invalid filter 'exited=${v}'`);
      }
    }
  }
}

/**
 * docker's filter semantics: values of one key are alternatives, keys all
 * apply. `name` matches a substring of the name (docker: a regular
 * expression), `id` a prefix, `label` a key or `key=value`, `ancestor` the
 * image name (with or without its tag or registry), `exited` an exit code.
 */
export function matchesFilters(
  c: Container,
  task: TaskInfo | undefined,
  filters: ReadonlyMap<string, readonly string[]>,
): boolean {
  for (const [key, values] of filters) {
    if (values.length === 0) continue;
    const ok = values.some((v) => matchOne(c, task, key, v));
    if (!ok) return false;
  }
  return true;
}

function matchOne(c: Container, task: TaskInfo | undefined, key: string, v: string): boolean {
  switch (key) {
    case 'status':
      return stateOf(task) === v;
    case 'name': {
      const name = c.labels[Labels.name] ?? c.id;
      try {
        return new RegExp(v).test(name);
      } catch {
        return name.includes(v);
      }
    }
    case 'id':
      return c.id.startsWith(v);
    case 'label': {
      const eq = v.indexOf('=');
      if (eq < 0) return c.labels[v] !== undefined;
      return c.labels[v.slice(0, eq)] === v.slice(eq + 1);
    }
    case 'ancestor':
      return imageMatches([c.labels[Labels.image] ?? '', c.image], v);
    case 'exited':
      return stateOf(task) === 'exited' && task?.exitStatus === Number(v);
    default:
      return false;
  }
}

/** `busybox` matches `busybox:latest`, `docker.io/library/busybox:latest`, and `busybox:1.36` matches itself. */
function imageMatches(names: readonly string[], want: string): boolean {
  const variants = (n: string): string[] => {
    const out = [n];
    const noTag = n.replace(/:[^:/]+$/, '').replace(/@sha256:[0-9a-f]+$/, '');
    out.push(noTag);
    for (const prefix of ['docker.io/library/', 'docker.io/']) {
      if (n.startsWith(prefix)) out.push(n.slice(prefix.length), noTag.slice(prefix.length));
    }
    return out;
  };
  return names.some((n) => n !== '' && variants(n).includes(want));
}

// ---------------------------------------------------------------------------
// inspect

/** The network facts `inspect` shows (src/cli/network's `containerNetworkInfo`). */
export interface NetworkView {
  network: string;
  ipAddress: string;
  gateway: string;
  macAddress: string;
  addresses?: { address: string; prefixLength: number }[];
}

export interface InspectExtra {
  startedAt?: Date;
  network?: NetworkView;
  /** The json-file log's path (label `berth/log`). */
  logPath?: string;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

type PortMap = Record<string, { HostIp: string; HostPort: string }[]>;

function portMap(ports: readonly PortMapping[]): PortMap {
  const out: PortMap = {};
  for (const p of ports) {
    const key = `${p.containerPort}/${p.protocol}`;
    out[key] ??= [];
    (out[key] as { HostIp: string; HostPort: string }[]).push({
      HostIp: p.hostIP,
      HostPort: String(p.hostPort),
    });
  }
  return out;
}

/** containerd's restart policy label as docker's RestartPolicy. */
export function restartPolicy(labels: Readonly<Record<string, string>>): {
  Name: string;
  MaximumRetryCount: number;
} {
  const raw = labels[RestartLabels.policy] ?? '';
  if (raw === '') return { Name: 'no', MaximumRetryCount: 0 };
  const [name = 'no', n] = raw.split(':');
  return { Name: name, MaximumRetryCount: n === undefined ? 0 : Number(n) || 0 };
}

/** `docker inspect`'s object for a container. */
export function inspectContainer(
  c: Container,
  task: TaskInfo | undefined,
  extra: InspectExtra = {},
): Record<string, unknown> {
  const spec = specOf(c);
  const args = spec?.process?.args ?? [];
  const state = stateOf(task);
  const ports = portsOf(c.labels);
  const name = c.labels[Labels.name] ?? c.id;
  const net = extra.network;
  const networkMode = c.labels[Labels.network] ?? 'none';
  const prefix = net?.addresses?.[0]?.prefixLength ?? 0;
  return {
    Id: c.id,
    Created: createdOf(c).toISOString(),
    Path: args[0] ?? '',
    Args: args.slice(1),
    State: {
      Status: state,
      Running: state === 'running' || state === 'paused',
      Paused: state === 'paused',
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: state === 'running' || state === 'paused' ? (task?.pid ?? 0) : 0,
      ExitCode: state === 'exited' ? (task?.exitStatus ?? 0) : 0,
      Error: '',
      StartedAt: extra.startedAt?.toISOString() ?? ZERO_TIME,
      FinishedAt: task?.exitedAt?.toISOString() ?? ZERO_TIME,
    },
    Image: c.image,
    ResolvConfPath: stateFile(c, 'resolv.conf'),
    HostnamePath: stateFile(c, 'hostname'),
    HostsPath: stateFile(c, 'hosts'),
    LogPath: extra.logPath ?? '',
    Name: `/${name}`,
    RestartCount: Number(c.labels[RestartLabels.count] ?? 0) || 0,
    Driver: c.snapshotter,
    Platform: 'linux',
    Mounts: (spec?.mounts ?? [])
      .filter((m) => m.type === 'bind' && !isStateFile(c, m.source))
      .map((m) => ({
        Type: 'bind',
        Source: m.source ?? '',
        Destination: m.destination,
        Mode: '',
        RW: !(m.options ?? []).includes('ro'),
        Propagation: '',
      })),
    HostConfig: {
      NetworkMode: networkMode,
      PortBindings: portMap(ports),
      RestartPolicy: restartPolicy(c.labels),
      AutoRemove: c.labels[Labels.autoRemove] === 'true',
    },
    Config: {
      Hostname: c.labels[Labels.hostname] ?? spec?.hostname ?? '',
      User: userOf(spec),
      Tty: spec?.process?.terminal === true,
      OpenStdin: false,
      Env: spec?.process?.env ?? [],
      Cmd: args,
      Entrypoint: null,
      Image: c.labels[Labels.image] ?? c.image,
      WorkingDir: spec?.process?.cwd ?? '',
      Labels: { ...c.labels },
    },
    NetworkSettings: {
      IPAddress: net?.ipAddress ?? '',
      IPPrefixLen: prefix,
      Gateway: net?.gateway ?? '',
      MacAddress: net?.macAddress ?? '',
      Ports: portMap(ports),
      Networks:
        net === undefined
          ? {}
          : {
              [net.network]: {
                IPAddress: net.ipAddress,
                IPPrefixLen: prefix,
                Gateway: net.gateway,
                MacAddress: net.macAddress,
              },
            },
    },
  };
}

function userOf(spec: SpecView | undefined): string {
  const u = spec?.process?.user;
  if (u === undefined || ((u.uid ?? 0) === 0 && (u.gid ?? 0) === 0)) return '';
  return `${u.uid ?? 0}:${u.gid ?? 0}`;
}

function stateFile(c: Pick<Container, 'labels'>, file: string): string {
  const dir = c.labels[Labels.stateDir];
  return dir === undefined || dir === '' ? '' : `${dir}/${file}`;
}
