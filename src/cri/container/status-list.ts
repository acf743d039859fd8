/**
 * @module
 * ContainerStatus, ListContainers and UpdateContainerResources.
 */
import {
  ContainerConfig,
  ContainerState,
  type ContainerStatusRequest,
  type ContainerStatusResponse,
  type ListContainersRequest,
  type ListContainersResponse,
  type UpdateContainerResourcesRequest,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { failedPrecondition, isNotFound } from '../../core/errdefs/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { Task } from '../../core/tasks/index.js';
import type { OciSpec } from '../opts/index.js';
import { applyResources } from '../opts/resources.js';
import { LINUX_RESOURCES_TYPE_URL } from './constants.js';
import { filterContainers, toCriContainer, toCriContainerStatus } from './convert.js';
import { ignoreNotFound, splitReferences, withMessage } from './helpers.js';
import { resourcesOfSpec } from './resources.js';
import type { ContainerService } from './service.js';
import { stateOf } from './status.js';
import type { CriContainer } from './store.js';

export async function containerStatus(
  svc: ContainerService,
  callCtx: OpContext,
  req: ContainerStatusRequest,
): Promise<ContainerStatusResponse> {
  const ctx = svc.k8s(callCtx);
  const c = svc.container(req.containerId);
  let image = c.metadata.config.image;
  let imageRef = c.metadata.imageRef;
  const found = await svc.opts.images.resolve(ctx, imageRef).catch(ignoreNotFound);
  if (found) {
    const { repoTags, repoDigests } = splitReferences(found.references);
    if (repoTags[0]) image = { image: repoTags[0], annotations: {} };
    if (repoDigests[0]) imageRef = repoDigests[0];
  }
  const status = toCriContainerStatus(c, image, imageRef);
  const info: Record<string, string> = {};
  if (req.verbose) info.info = JSON.stringify(await verboseInfo(svc, ctx, c));
  return { status, info };
}

/** containerd's ContainerInfo (`crictl inspect`'s `info`). */
async function verboseInfo(
  svc: ContainerService,
  ctx: OpContext,
  c: CriContainer,
): Promise<object> {
  const s = c.status.get();
  const record = await svc.opts.records.get(ctx, c.id);
  return {
    sandboxID: c.sandboxId,
    pid: s.pid,
    removing: s.removing,
    snapshotKey: record.snapshotKey,
    snapshotter: record.snapshotter,
    runtimeType: record.runtime.name,
    runtimeOptions: record.runtime.options ? { typeUrl: record.runtime.options.typeUrl } : null,
    config: ContainerConfig.toJSON(c.metadata.config),
    runtimeSpec: record.spec ? JSON.parse(Buffer.from(record.spec.value).toString('utf8')) : null,
  };
}

export function listContainers(
  svc: ContainerService,
  _ctx: OpContext,
  req: ListContainersRequest,
): ListContainersResponse {
  const f = req.filter;
  const all = svc.store.list().map(toCriContainer);
  if (!f) return { containers: all };
  return {
    containers: filterContainers(all, {
      ...f,
      id: f.id && (svc.store.find(f.id)?.id ?? f.id),
      podSandboxId: f.podSandboxId && sandboxIdOf(svc, f.podSandboxId),
    }),
  };
}

export function sandboxIdOf(svc: ContainerService, idOrPrefix: string): string {
  try {
    return svc.opts.sandboxes.get(idOrPrefix).id;
  } catch {
    return idOrPrefix;
  }
}

/** UpdateContainerResources: the spec first, then the running task; the spec is put back if the task refuses. */
export async function updateContainerResources(
  svc: ContainerService,
  callCtx: OpContext,
  req: UpdateContainerResourcesRequest,
): Promise<object> {
  const ctx = svc.k8s(callCtx);
  const c = svc.container(req.containerId);
  svc.sandbox(c.sandboxId);
  if (c.status.get().removing) {
    throw failedPrecondition(`container ${JSON.stringify(c.id)} is in removing state`);
  }
  const record = await svc.opts.records.get(ctx, c.id);
  const specAny = record.spec;
  if (!specAny) throw failedPrecondition(`container ${JSON.stringify(c.id)} has no spec`);
  const oldSpec: OciSpec = JSON.parse(Buffer.from(specAny.value).toString('utf8'));
  const newSpec: OciSpec = structuredClone(oldSpec);
  newSpec.linux ??= {} as OciSpec['linux'];
  try {
    applyResources(newSpec, req.linux, svc.opts.spec.options);
  } catch (err) {
    throw withMessage(err, 'failed to update resource in spec');
  }
  const put = (spec: OciSpec, cx: OpContext) =>
    svc.opts.records.update(
      cx,
      { ...record, spec: { typeUrl: specAny.typeUrl, value: Buffer.from(JSON.stringify(spec)) } },
      ['spec'],
    );
  await put(newSpec, ctx);
  try {
    if (stateOf(c.status.get()) === ContainerState.CONTAINER_RUNNING) {
      let task: Task | undefined;
      try {
        task = svc.opts.tasks.get(ctx, c.id);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      await task
        ?.update(
          ctx,
          {
            typeUrl: LINUX_RESOURCES_TYPE_URL,
            value: Buffer.from(JSON.stringify(newSpec.linux?.resources ?? {})),
          },
          {},
        )
        .catch(ignoreNotFound);
    }
    await c.status.updateSync((s) => ({ ...s, resources: resourcesOfSpec(newSpec) }));
  } catch (err) {
    await put(oldSpec, svc.detached(ctx)).catch((e) =>
      ctx.log.error({ err: e, container: c.id }, 'restoring the spec after a failed update'),
    );
    throw withMessage(err, 'failed to update resources');
  }
  return {};
}
