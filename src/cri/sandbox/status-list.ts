/**
 * @module
 * PodSandboxStatus and ListPodSandbox.
 */
import type {
  PodSandbox,
  PodSandboxFilter,
  PodSandboxStatus,
} from '../../api/k8s/cri/runtime/v1/api.js';
import type { Container } from '../../core/containers/index.js';
import { isNotFound } from '../../core/errdefs/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import { filterSandboxes } from './filters.js';
import type { SandboxManager } from './manager.js';
import type { Sandbox } from './sandbox.js';
import { toCriSandbox, toCriSandboxStatus, verboseSandboxInfo } from './status.js';
import { bigintReplacer } from './util.js';

/** PodSandboxStatus, and containerd's verbose info. */
export async function status(
  mgr: SandboxManager,
  ctx: OpContext,
  idOrPrefix: string,
  verbose: boolean,
): Promise<{ status: PodSandboxStatus; info: Record<string, string> }> {
  const sb = mgr.store.sandbox(idOrPrefix);
  const status = toCriSandboxStatus(sb);
  if (!verbose) return { status, info: {} };
  return {
    status,
    info: { info: JSON.stringify(await verboseInfo(mgr, ctx, sb), bigintReplacer) },
  };
}

async function verboseInfo(
  mgr: SandboxManager,
  ctx: OpContext,
  sb: Sandbox,
): Promise<Record<string, unknown>> {
  let processStatus = 'deleted';
  try {
    processStatus = (await mgr.opts.tasks.get(ctx, sb.id).state(ctx)).status;
  } catch (err) {
    if (!isNotFound(err)) processStatus = 'unknown';
  }
  let record: Container | undefined;
  try {
    record = await mgr.opts.containers.get(ctx, sb.id);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  return verboseSandboxInfo(sb, processStatus, record);
}

/** ListPodSandbox. */
export function list(mgr: SandboxManager, filter: PodSandboxFilter | undefined): PodSandbox[] {
  const items = mgr.store.list().map(toCriSandbox);
  return filterSandboxes(items, filter, (prefix) => {
    try {
      return mgr.store.sandbox(prefix).id;
    } catch {
      return undefined;
    }
  });
}
