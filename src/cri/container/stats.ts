/**
 * @module
 * ContainerStats and ListContainerStats.
 */
import type {
  ContainerStats,
  ContainerStatsRequest,
  ContainerStatsResponse,
  ListContainerStatsRequest,
  ListContainerStatsResponse,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { isNotFound, unavailable } from '../../core/errdefs/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { Task } from '../../core/tasks/index.js';
import { filterContainers } from './convert.js';
import { withMessage } from './helpers.js';
import type { ContainerService } from './service.js';
import * as statusList from './status-list.js';
import type { CriContainer } from './store.js';

export async function containerStats(
  svc: ContainerService,
  callCtx: OpContext,
  req: ContainerStatsRequest,
): Promise<ContainerStatsResponse> {
  const ctx = svc.k8s(callCtx);
  const c = svc.container(req.containerId);
  // One container's stats come from its task's metrics (containerd: "unexpected metrics response" without).
  try {
    svc.opts.tasks.get(ctx, c.id);
  } catch (err) {
    throw withMessage(err, `failed to fetch metrics for container ${JSON.stringify(c.id)}`);
  }
  return { stats: await statsOf(svc, ctx, c) };
}

export async function listContainerStats(
  svc: ContainerService,
  callCtx: OpContext,
  req: ListContainerStatsRequest,
): Promise<ListContainerStatsResponse> {
  const ctx = svc.k8s(callCtx);
  const f = req.filter;
  let list = svc.store.list();
  if (f) {
    const picked = filterContainers(
      list.map((c) => ({
        id: c.id,
        podSandboxId: c.sandboxId,
        labels: c.metadata.config.labels,
        c,
      })),
      {
        id: f.id && (svc.store.find(f.id)?.id ?? f.id),
        podSandboxId: f.podSandboxId && statusList.sandboxIdOf(svc, f.podSandboxId),
        labelSelector: f.labelSelector,
      },
    );
    list = picked.map((p) => p.c);
  }
  // One shim call per container, all at once (containerd asks for every task's metrics in one call).
  return { stats: await Promise.all(list.map((c) => statsOf(svc, ctx, c))) };
}

async function statsOf(
  svc: ContainerService,
  ctx: OpContext,
  c: CriContainer,
): Promise<ContainerStats> {
  if (!svc.opts.stats) throw unavailable('container stats are not available');
  let task: Task | undefined;
  try {
    task = svc.opts.tasks.get(ctx, c.id);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const cfg = c.metadata.config;
  return svc.opts.stats.collect(
    ctx,
    {
      id: c.id,
      ...(cfg.metadata && { metadata: cfg.metadata }),
      labels: cfg.labels,
      annotations: cfg.annotations,
    },
    task,
  );
}
