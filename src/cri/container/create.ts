/**
 * @module
 * CreateContainer (containerd's container_create.go): the record, the snapshot, the spec, the IO and
 * the status file, each undone when a later step fails.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  CreateContainerRequest,
  CreateContainerResponse,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { invalidArgument, isNotFound, notFound } from '../../core/errdefs/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import { nowNanos } from '../../core/time/index.js';
import { buildContainerSpec, imageVolumeMounts, type OciSpec } from '../opts/index.js';
import { withMessage } from './helpers.js';
import {
  buildLabels,
  CONTAINER_METADATA_EXTENSION,
  type ContainerMetadata,
  encodeMetadata,
  makeContainerName,
  SPEC_TYPE_URL,
} from './metadata.js';
import { resourcesOfSpec } from './resources.js';
import { SnapshotFileReader } from './rootfs-reader.js';
import type { ContainerService } from './service.js';
import { newStatus, StatusStorage } from './status.js';
import { CriContainer } from './store.js';

/** CreateContainer: everything done is undone when a step fails. */
export async function createContainer(
  svc: ContainerService,
  callCtx: OpContext,
  req: CreateContainerRequest,
): Promise<CreateContainerResponse> {
  const ctx = svc.k8s(callCtx);
  const config = req.config;
  if (!config?.metadata) throw invalidArgument('container config must include metadata');
  const sandbox = svc.sandbox(req.podSandboxId);
  if (sandbox.state !== 'ready') {
    throw notFound(
      `failed to get sandbox container task: no running task found: task ${sandbox.id} not found`,
    );
  }
  const sandboxConfig = req.sandboxConfig ?? sandbox.config;
  const podMeta = sandboxConfig.metadata ??
    sandbox.config.metadata ?? { name: '', uid: '', namespace: '', attempt: 0 };
  const id = randomBytes(32).toString('hex');
  const name = makeContainerName(config.metadata, podMeta);
  const log = ctx.log.child({ container: id, name });
  const undo: (() => Promise<unknown> | unknown)[] = [];
  try {
    try {
      svc.names.reserve(name, id);
    } catch (err) {
      throw withMessage(err, `failed to reserve container name ${JSON.stringify(name)}`);
    }
    undo.push(() => svc.names.releaseByName(name));

    const imageRef = config.image?.image ?? '';
    const image = await svc.opts.images.resolve(ctx, imageRef).catch((err) => {
      throw withMessage(err, `failed to resolve image ${JSON.stringify(imageRef)}`);
    });
    const imageConfig = image.config.config ?? {};
    const imageName = image.references[0] ?? image.id;

    const rootDir = svc.rootDirOf(id);
    const stateDir = svc.stateDirOf(id);
    await mkdir(rootDir, { recursive: true, mode: 0o755 });
    await mkdir(stateDir, { recursive: true, mode: 0o755 });
    undo.push(async () => svc.removeDirsOf(id));

    // The pod's runtime and its options (runc's Root…), as containerd takes them from the sandbox's record.
    const sandboxRecord = await svc.opts.records.get(ctx, sandbox.id).catch((err) => {
      throw withMessage(err, `failed to get sandbox ${JSON.stringify(sandbox.id)} info`);
    });
    const runtime = sandboxRecord.runtime;
    const snapshotter = svc.snapshotter(svc.opts.snapshotter);
    const volumeMounts = svc.opts.ignoreImageDefinedVolumes
      ? []
      : imageVolumeMounts(rootDir, config.mounts, imageConfig, () =>
          randomBytes(32).toString('hex'),
        );
    const metadata: ContainerMetadata = {
      id,
      name,
      sandboxId: sandbox.id,
      config,
      imageRef: image.id,
      logPath:
        sandboxConfig.logDirectory !== '' && config.logPath !== ''
          ? join(sandboxConfig.logDirectory, config.logPath)
          : '',
      stopSignal: imageConfig.StopSignal ?? '',
    };

    let spec: OciSpec | undefined;
    await svc.withLease(ctx, async (lctx) => {
      const mounts = await snapshotter.prepare(lctx, id, image.chainId);
      undo.push(() => snapshotter.remove(svc.detached(ctx), id));
      const reader = new SnapshotFileReader(mounts, join(stateDir, 'rootfs-ro'));
      try {
        spec = await buildContainerSpec({
          id,
          sandbox: {
            id: sandbox.id,
            pid: sandbox.pid,
            config: sandboxConfig,
            dir: sandbox.dir,
            ...(sandbox.shmPath !== undefined && { shmPath: sandbox.shmPath }),
          },
          config,
          image: imageConfig,
          imageName,
          readRootfsFile: (path) => reader.readFile(path),
          volumeMounts,
          targetPid: async (target) => svc.targetPid(sandbox.id, target),
          options: svc.opts.spec.options,
          host: svc.opts.spec.host,
        }).catch((err) => {
          throw withMessage(err, `failed to generate container ${JSON.stringify(id)} spec`);
        });
        // The image's content under each VOLUME goes into its fresh directory (containerd's WithVolumes).
        for (const v of volumeMounts) await reader.copyDirInto(v.containerPath, v.hostPath);
      } finally {
        reader.close();
      }
      await svc.opts.records.create(lctx, {
        id,
        labels: buildLabels(config.labels, imageConfig.Labels, (k, err) =>
          log.warn({ err, label: k }, 'image label not added to the container'),
        ),
        image: imageName,
        runtime: { name: runtime.name, ...(runtime.options && { options: runtime.options }) },
        spec: { typeUrl: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(spec)) },
        snapshotter: svc.opts.snapshotter,
        snapshotKey: id,
        sandbox: '',
        extensions: { [CONTAINER_METADATA_EXTENSION]: encodeMetadata(metadata) },
      });
      undo.push(() => svc.opts.records.delete(svc.detached(ctx), id));
    });
    if (!spec) throw new Error(`container ${id}: no spec was built`);

    const io = await svc.createIO(stateDir, config);
    undo.push(() => io.close());
    const status = await StatusStorage.create(
      rootDir,
      newStatus({ createdAt: nowNanos(), resources: resourcesOfSpec(spec) }),
    );
    undo.push(() => status.delete());
    svc.store.add(new CriContainer(metadata, status, io));
    log.debug('container created');
    return { containerId: id };
  } catch (err) {
    for (const fn of undo.reverse()) {
      try {
        await fn();
      } catch (e) {
        if (!isNotFound(e)) log.warn({ err: e }, 'undoing a failed CreateContainer');
      }
    }
    throw err;
  }
}
