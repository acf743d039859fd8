import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { withContainerLabels, withNewSnapshot, withNewSpec } from '../../client/container-opts.js';
import type { Client, Container } from '../../client/index.js';
import type { ImageConfig } from '../../client/oci/types.js';
import { setIdFileStore } from '../../client/oci/user.js';
import type { Container as ContainerRecord } from '../../core/containers/index.js';
import type { CliContext } from '../context.js';
import { CliError, errorLine } from '../errors.js';
import { globalArgv } from '../globals.js';
import { Labels, type PortMapping, RestartLabels } from '../labels.js';
import type { LogConfig } from '../logs/index.js';
import { diskIdFileStore } from './id-file-store.js';
import { ensureImage } from './image.js';
import { StopLabels } from './labels.js';
import { nameConflict, randomName } from './names.js';
import type { CreateOptions } from './options.js';
import { restartLabels } from './restart-policy.js';
import { containerSpecOpts } from './spec.js';
import { containerStateDir, removeStateDir, sweepStateDirs } from './state-dir.js';

/** A container `run`/`create` made. */
export interface CreatedContainer {
  container: Container;
  id: string;
  name: string;
  stateDir: string;
  log: LogConfig;
  /** The log URI tasks of this container write through (berth-logger). */
  logURI: string;
  /** The container's process has a terminal. */
  tty: boolean;
  /** The labels berth gave the record (what `rm` reads: network, state dir). */
  labels: Record<string, string>;
}

export interface CreateMode {
  /** berthd removes the container when its task exits (`run -d --rm`). */
  autoRemove?: boolean;
}

/** 64 random hex digits: a container ID, as docker's. */
export function newContainerId(): string {
  return randomBytes(32).toString('hex');
}

/**
 * Steps 1–3 of `docker run`: the image (pulled if need be), an ID and a
 * name, the spec (image config, the flags, the network's hooks), the labels
 * berth and berthd's restart monitor read, the record with its snapshot,
 * then the state dir with the network's files. Each step is undone when a
 * later one fails: bad input leaves no record, snapshot or state dir.
 */
export async function createContainer(
  ctx: CliContext,
  client: Client,
  opts: CreateOptions,
  mode: CreateMode = {},
): Promise<CreatedContainer> {
  // The namespace's containers (their names and published ports) and the
  // daemon's default runtime (which newContainer asks) are asked while the
  // image is looked up; the list again after a pull or an unpack, long
  // enough for other containers to be made meanwhile.
  const listOthers = () => client.containerService().list(client.context());
  const othersAsked = listOthers();
  othersAsked.catch(() => undefined); // awaited below, unless the image fails first
  client.defaultRuntime().catch(() => undefined);
  const seen = { fetched: false };
  const image = await ensureImage(ctx, client, opts.image, opts.pull, opts.platform, seen);
  const imageConfig = ((await image.spec()).config ?? {}) as ImageConfig;
  const net = await import('../network/index.js');
  const logs = await import('../logs/index.js');
  const id = newContainerId();
  const others = await (seen.fetched ? listOthers() : othersAsked);
  const name = pickName(others, opts.name);
  const g = ctx.globals;
  const stateDir = containerStateDir(g, id);
  const log = logs.logConfig(stateDir, id, parseLogOpts(logs.parseLogOpts, opts.logOpts));
  const logURI = logs.loggerURIFor(log, { binary: loggerBinary(ctx.self) });
  const ports = await publishedPorts(others, opts, imageConfig.ExposedPorts, net);
  if (opts.network === 'bridge') net.ensureDefaultNetwork(g.cniConfDir, g.dataRoot);
  else if (opts.network !== 'host' && opts.network !== 'none') {
    try {
      net.findNetwork(g.cniConfDir, opts.network);
    } catch (err) {
      throw new CliError(errorLine(err), undefined, { cause: err });
    }
  }
  const hostname = opts.hostname ?? (opts.network === 'host' ? osHostname() : id.slice(0, 12));
  const labels: Record<string, string> = {
    ...opts.labels,
    [Labels.name]: name,
    [Labels.image]: opts.image,
    [Labels.network]: opts.network,
    [Labels.ports]: JSON.stringify(ports),
    [Labels.hostname]: hostname,
    [Labels.stateDir]: stateDir,
    [Labels.log]: JSON.stringify(log),
    [RestartLabels.logURI]: logURI,
    [StopLabels.signal]: opts.stopSignal ?? imageConfig.StopSignal ?? 'SIGTERM',
    ...(opts.stopTimeout !== undefined && { [StopLabels.timeout]: String(opts.stopTimeout) }),
    ...restartLabels(opts.restart),
    ...(mode.autoRemove === true && { [Labels.autoRemove]: 'true' }),
  };
  for (const m of opts.mounts) mkdirSync(m.source as string, { recursive: true });
  const network = net.networkSpec({
    network: opts.network,
    ports,
    hostname,
    name,
    containerStateDir: stateDir,
    namespace: g.namespace,
    id,
    hook: { argv0: [...ctx.self], globalArgs: globalArgv(g) },
  });
  setIdFileStore(diskIdFileStore(join(g.dataRoot, 'cache', 'etc')));
  const container = await client.newContainer(
    id,
    withNewSnapshot(id, image),
    withNewSpec(...containerSpecOpts(image, imageConfig, opts, [network.apply])),
    withContainerLabels(labels),
  );
  // The state dir only after the record: a berth killed in between leaves a
  // container that `rm` removes, never a state dir of no container (which
  // only a sweep a minute later could tell from one being created).
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o711 });
    network.writeFiles();
  } catch (err) {
    await container.delete({ snapshotCleanup: true }).catch(() => undefined);
    removeStateDir(g, stateDir);
    throw err;
  }
  sweepQuietly(g, others);
  return { container, id, name, stateDir, log, logURI, tty: opts.tty, labels };
}

/**
 * bin/berth-logger beside the berth that runs: its entry is two levels
 * below the package root in every layout (dist/berth/berth.js, the bundle;
 * dist/cli/berth.js; src/cli/berth.ts), while a module's own URL is not
 * (the bundle's chunks sit elsewhere than src/cli/logs).
 */
export function loggerBinary(self: readonly string[]): string {
  return resolve(dirname(self[1] ?? ''), '../../bin/berth-logger');
}

/**
 * Sweeps the state dirs of containers removed without berth (see
 * sweepStateDirs): those of none of `live`, the namespace's containers
 * before this one (whose own dir is too young to be swept). Never fails the create.
 */
function sweepQuietly(g: CliContext['globals'], live: readonly ContainerRecord[]): void {
  try {
    sweepStateDirs(g, new Set(live.map((c) => c.id)));
  } catch {
    // The next create sweeps.
  }
}

function parseLogOpts<T>(parse: (o: readonly string[]) => T, opts: readonly string[]): T {
  try {
    return parse(opts);
  } catch (err) {
    throw new CliError(`invalid --log-opt: ${errorLine(err)}`);
  }
}

/**
 * `--name`, unless another container of the namespace (`others`) has it
 * (docker's conflict error), or a random docker-like name none has.
 */
function pickName(others: readonly ContainerRecord[], wanted: string | undefined): string {
  const taken = (n: string) => others.find((c) => c.labels[Labels.name] === n);
  if (wanted !== undefined) {
    const other = taken(wanted);
    if (other !== undefined) throw nameConflict(wanted, other.id);
    return wanted;
  }
  for (let retry = 0; retry < 10; retry++) {
    const n = randomName(retry);
    if (taken(n) === undefined) return n;
  }
  throw new CliError('no free random container name: give one with --name');
}

/**
 * `-p` and `-P` as mappings with host ports: `-P` publishes the image's
 * exposed ports on random ones; ports other containers of the namespace
 * publish are never picked (their DNAT rules bind nothing).
 */
async function publishedPorts(
  others: readonly ContainerRecord[],
  opts: CreateOptions,
  exposed: Record<string, unknown> | undefined,
  net: typeof import('../network/index.js'),
): Promise<PortMapping[]> {
  let wanted: PortMapping[];
  try {
    wanted = opts.publish.flatMap((p) => net.parsePublish(p));
  } catch (err) {
    throw new CliError(errorLine(err));
  }
  if (opts.publishAll) {
    const have = new Set(wanted.map((m) => `${m.containerPort}/${m.protocol}`));
    for (const m of net.exposedPortMappings(exposed)) {
      if (!have.has(`${m.containerPort}/${m.protocol}`)) wanted.push({ ...m, hostPort: 0 });
    }
  }
  if (wanted.length === 0) return [];
  const inUse: PortMapping[] = [];
  for (const c of others) {
    const raw = c.labels[Labels.ports];
    if (raw === undefined) continue;
    try {
      inUse.push(...(JSON.parse(raw) as PortMapping[]));
    } catch {
      // A label berth did not write: its ports are not berth's to avoid.
    }
  }
  try {
    return await net.allocateHostPorts(wanted, { inUse });
  } catch (err) {
    throw new CliError(errorLine(err));
  }
}
