/**
 * @module
 * RunPodSandbox (containerd's sandbox_run.go): the name, the netns and the pod network, the pause
 * container (spec, snapshot, record, task) and the exit monitor of its task; each step undone when a
 * later one fails.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PodSandboxConfig } from '../../api/k8s/cri/runtime/v1/api.js';
import type { Container } from '../../core/containers/index.js';
import { failedPrecondition, invalidArgument, newError } from '../../core/errdefs/index.js';
import { LEASE_EXPIRE_LABEL } from '../../core/leases/index.js';
import type { Mount } from '../../core/mount/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { Task } from '../../core/tasks/index.js';
import { createNetnsAt, newNetnsPath, removeNetns } from '../../sys/netns.js';
import { removeTree } from '../../sys/remove-tree.js';
import { buildSandboxSpec, realSpecHost } from '../opts/index.js';
import { LEASE_TTL_MS, SPEC_TYPE_URL } from './constants.js';
import { hostIpc, hostNetwork, mountShm, unmountShm, writeSandboxFiles } from './files.js';
import type { SandboxImage } from './image.js';
import type { SandboxManager, SandboxRuntime } from './manager.js';
import {
  encodeSandboxMetadata,
  KIND_LABEL,
  KIND_SANDBOX,
  SANDBOX_METADATA_EXTENSION,
} from './metadata.js';
import { podNetworkRequest, selectPodIps } from './network.js';
import { makeSandboxName, Sandbox, type SandboxMetadata } from './sandbox.js';
import * as stopRemove from './stop-remove.js';
import { ignoreNotFound, withContext } from './util.js';

/** RunPodSandbox: everything done is undone when a step fails. */
export async function run(
  mgr: SandboxManager,
  ctx: OpContext,
  config: PodSandboxConfig | undefined,
  runtimeHandler: string,
): Promise<string> {
  if (config?.metadata === undefined) throw invalidArgument('sandbox config must include metadata');
  if (config.metadata.name === '') throw invalidArgument('sandbox config must include a name');
  const runtime = mgr.opts.runtime(runtimeHandler);
  const id = randomBytes(32).toString('hex');
  const name = makeSandboxName(config.metadata);
  const log = mgr.opts.log.child({ sandbox: id, name });
  try {
    mgr.names.reserve(name, id);
  } catch (err) {
    throw newError(
      'already_exists',
      `failed to reserve sandbox name ${JSON.stringify(name)}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const undo: { what: string; fn: () => Promise<void> | void }[] = [
    { what: 'name reservation', fn: () => mgr.names.releaseByName(name) },
  ];
  try {
    return await runSteps(mgr, ctx, id, name, config, runtimeHandler, runtime, undo);
  } catch (err) {
    for (const step of undo.reverse()) {
      try {
        await step.fn();
      } catch (cleanupErr) {
        log.warn({ err: cleanupErr }, `undoing a failed RunPodSandbox: ${step.what}`);
      }
    }
    throw err;
  }
}

async function runSteps(
  mgr: SandboxManager,
  ctx: OpContext,
  id: string,
  name: string,
  config: PodSandboxConfig,
  runtimeHandler: string,
  runtime: SandboxRuntime,
  undo: { what: string; fn: () => Promise<void> | void }[],
): Promise<string> {
  const { opts } = mgr;
  const t0 = performance.now();
  const steps: Record<string, number> = {};
  const mark = (step: string) => {
    steps[step] = Math.round(performance.now() - t0);
  };
  const image = await opts.images.ensure(ctx, opts.sandboxImage).catch((err: Error) => {
    throw withContext(err, `failed to get sandbox image ${JSON.stringify(opts.sandboxImage)}`);
  });

  mark('image');
  const dir = mgr.sandboxDir(id);
  const stateDir = mgr.sandboxStateDir(id);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  undo.push({ what: 'sandbox root dir', fn: () => removeTree(dir, opts.rootDir) });
  mkdirSync(stateDir, { recursive: true, mode: 0o755 });
  undo.push({ what: 'sandbox state dir', fn: () => removeTree(stateDir, opts.stateDir) });
  writeSandboxFiles(dir, config);
  let shmPath: string | undefined;
  if (!hostIpc(config)) {
    shmPath = join(stateDir, 'shm');
    mountShm(shmPath);
    undo.push({ what: 'shm mount', fn: () => unmountShm(shmPath as string) });
  }

  const md: SandboxMetadata = {
    id,
    name,
    config,
    netnsPath: '',
    ip: '',
    additionalIps: [],
    runtimeHandler,
  };
  // The pod network and the pause container (spec, snapshot, record,
  // task) are made at once: both need only the pinned netns, and the pause
  // does not start before the network is up. The record gets the pod's IPs
  // once the ADD has answered (containerd 1.7 updates it the same way).
  let networkUp: Promise<void> = Promise.resolve();
  let netnsMade: Promise<void> = Promise.resolve();
  if (!hostNetwork(config)) {
    const network = opts.network;
    if (network === undefined) {
      throw failedPrecondition('failed to setup network: no CNI network is configured');
    }
    mark('files');
    // The namespace is made while the pause's spec, snapshot and record are:
    // the spec needs only its name; the ADD and the task wait for it.
    const netnsPath = newNetnsPath(mgr.netnsDir);
    md.netnsPath = netnsPath;
    const made = createNetnsAt(netnsPath, mgr.netnsDir).then(() => mark('netns'));
    netnsMade = made;
    undo.push({
      what: 'network namespace',
      fn: async () => {
        // Not while it is being made: a pin after the removal would stay.
        await made.catch(() => {});
        await removeNetns(netnsPath, mgr.netnsDir);
      },
    });
    const req = podNetworkRequest(id, netnsPath, config);
    // Registered before setup: a failed ADD may have allocated (an IP) already.
    undo.push({ what: 'pod network', fn: () => network.remove(req) });
    networkUp = made
      .then(() => network.setup(req, { signal: ctx.signal }))
      .then(
        (result) => {
          mark('network');
          const ips = selectPodIps(result);
          md.ip = ips.ip;
          md.additionalIps = ips.additionalIps;
          md.cniResult = result.raw;
        },
        (err: Error) => {
          throw withContext(err, `failed to setup network for sandbox ${JSON.stringify(id)}`);
        },
      );
  }
  const pauseMade = createPause(mgr, ctx, md, image, runtime, dir, shmPath, netnsMade, undo, mark);
  const [net, pause] = await Promise.allSettled([networkUp, pauseMade]);
  // The network's error first: a pause that fails with it is its consequence.
  if (net.status === 'rejected') throw net.reason;
  if (pause.status === 'rejected') throw pause.reason;
  const { task, record } = pause.value;
  // The record learns the pod IPs while the pause starts: the undo steps
  // already cover a failure of either.
  const recorded =
    md.netnsPath === ''
      ? Promise.resolve()
      : opts.containers
          .update(
            ctx,
            { ...record, extensions: { [SANDBOX_METADATA_EXTENSION]: encodeSandboxMetadata(md) } },
            [`extensions.${SANDBOX_METADATA_EXTENSION}`],
          )
          .then(() => {});
  const started = task.start(ctx).catch((err: Error) => {
    throw withContext(err, `failed to start sandbox container task ${JSON.stringify(id)}`);
  });
  const [rec, start] = await Promise.allSettled([recorded, started]);
  if (rec.status === 'rejected') throw rec.reason;
  if (start.status === 'rejected') throw start.reason;
  const pid = start.value;
  const sb = new Sandbox(
    md,
    { state: 'ready', pid, createdAt: record.createdAt },
    dir,
    mgr.sandboxStateDir(id),
    shmPath,
  );
  mgr.store.add(sb);
  monitor(mgr, sb, task);
  mark('start');
  opts.log.debug({ sandbox: id, ms: steps }, 'pod sandbox running');
  return id;
}

/** The pause container: its spec, snapshot (leased until the record names it), record and task, not started. */
async function createPause(
  mgr: SandboxManager,
  ctx: OpContext,
  md: SandboxMetadata,
  image: SandboxImage,
  runtime: SandboxRuntime,
  dir: string,
  shmPath: string | undefined,
  netnsMade: Promise<void>,
  undo: { what: string; fn: () => Promise<void> | void }[],
  mark: (step: string) => void,
): Promise<{ task: Task; record: Container }> {
  const { opts } = mgr;
  const { id, config } = md;
  const spec = await buildSandboxSpec({
    id,
    config,
    image: image.config,
    netnsPath: md.netnsPath,
    dir,
    ...(shmPath !== undefined && { shmPath }),
    options: opts.specOptions,
    host: realSpecHost,
  });
  mark('spec');
  const specAny = { typeUrl: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(spec)) };

  // The lease expires (a day, as containerd's client leases) should berthd die before the record exists.
  const expire = new Date(Date.now() + LEASE_TTL_MS).toISOString().replace(/\.\d+Z$/, 'Z');
  const lease = await opts.leases.create(ctx, {
    id: `cri-sandbox-${id}`,
    labels: { [LEASE_EXPIRE_LABEL]: expire },
  });
  let rootfs: Mount[];
  let record: Container;
  try {
    rootfs = await opts.snapshotter.prepare({ ...ctx, lease: lease.id }, id, image.chainId);
    mark('snapshot');
    undo.push({
      what: 'snapshot',
      fn: () => ignoreNotFound(opts.snapshotter.remove(mgr.bg, id)),
    });
    record = await opts.containers.create(ctx, {
      id,
      labels: { ...image.labels, ...config.labels, [KIND_LABEL]: KIND_SANDBOX },
      image: image.name,
      runtime: { name: runtime.type, ...(runtime.options && { options: runtime.options }) },
      spec: specAny,
      snapshotter: opts.snapshotterName,
      snapshotKey: id,
      sandbox: '',
      extensions: { [SANDBOX_METADATA_EXTENSION]: encodeSandboxMetadata(md) },
    });
    undo.push({
      what: 'container record',
      fn: () => ignoreNotFound(opts.containers.delete(mgr.bg, id)),
    });
  } finally {
    await opts.leases.delete(ctx, lease.id).catch(() => {});
  }

  // runc joins the pod's network namespace: it must exist by now.
  await netnsMade;
  const { task } = await opts.tasks
    .create(ctx, id, {
      spec: specAny,
      runtime: runtime.type,
      ...(runtime.options && { runtimeOptions: runtime.options }),
      rootfs,
      io: { stdin: '', stdout: '', stderr: '', terminal: false },
    })
    .catch((err: Error) => {
      throw withContext(err, 'failed to create containerd task');
    });
  mark('task');
  undo.push({ what: 'task', fn: () => stopRemove.killAndDelete(mgr, task) });
  return { task, record };
}

/** Waits for the pause to exit, then marks the pod NOTREADY and deletes the task (containerd's exit handler). */
export function monitor(mgr: SandboxManager, sb: Sandbox, task: Task): void {
  const pid = sb.status.pid;
  task.wait(mgr.bg).then(
    async () => {
      if (mgr.store.list().includes(sb) && sb.status.pid === pid) {
        sb.status = { ...sb.status, state: 'notready', pid: 0 };
      }
      await ignoreNotFound(mgr.opts.tasks.delete(mgr.bg, sb.id)).catch((err) =>
        mgr.opts.log.warn({ err, sandbox: sb.id }, 'deleting the exited sandbox task'),
      );
    },
    (err) => {
      // berthd is stopping or the shim is gone; recovery finds the task again.
      mgr.opts.log.debug({ err, sandbox: sb.id }, 'sandbox exit monitor ended');
    },
  );
}
