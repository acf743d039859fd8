/**
 * @module
 * The plugin's containers as CRI messages (containerd's toCRIContainer,
 * toCRIContainerStatus, filterCRIContainers), pure functions of the store.
 */
import {
  type Container,
  type ContainerFilter,
  ContainerState,
  type ContainerStatus,
  type ImageSpec,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { COMPLETED_REASON, ERROR_REASON, stateOf } from './status.js';
import type { CriContainer } from './store.js';

export function toCriContainer(c: CriContainer): Container {
  const status = c.status.get();
  const cfg = c.metadata.config;
  return {
    id: c.id,
    podSandboxId: c.sandboxId,
    metadata: cfg.metadata,
    image: cfg.image,
    imageRef: c.metadata.imageRef,
    state: stateOf(status),
    createdAt: status.createdAt,
    labels: { ...cfg.labels },
    annotations: { ...cfg.annotations },
  };
}

/**
 * The status kubelet sees. An exited container without a reason gets
 * `Completed` (exit 0) or `Error`; start and finish times show only in
 * the states that have them.
 */
export function toCriContainerStatus(
  c: CriContainer,
  image: ImageSpec | undefined,
  imageRef: string,
): ContainerStatus {
  const status = c.status.get();
  const state = stateOf(status);
  const cfg = c.metadata.config;
  let reason = status.reason;
  if (state === ContainerState.CONTAINER_EXITED && reason === '') {
    reason = status.exitCode === 0 ? COMPLETED_REASON : ERROR_REASON;
  }
  let startedAt = 0n;
  let finishedAt = 0n;
  if (state === ContainerState.CONTAINER_RUNNING) startedAt = status.startedAt;
  else if (
    state === ContainerState.CONTAINER_EXITED ||
    state === ContainerState.CONTAINER_UNKNOWN
  ) {
    startedAt = status.startedAt;
    finishedAt = status.finishedAt;
  }
  return {
    id: c.id,
    metadata: cfg.metadata,
    state,
    createdAt: status.createdAt,
    startedAt,
    finishedAt,
    exitCode: status.exitCode,
    image,
    imageRef,
    reason,
    message: status.message,
    labels: { ...cfg.labels },
    annotations: { ...cfg.annotations },
    mounts: cfg.mounts,
    logPath: c.metadata.logPath,
    resources: status.resources,
  };
}

/**
 * Containers matching `filter`: its id and pod sandbox id are already
 * resolved from prefixes by the caller (a prefix that names nothing stays
 * as given and matches nothing); state and every label-selector entry must
 * match exactly.
 */
export function filterContainers<T extends Pick<Container, 'id' | 'podSandboxId' | 'labels'>>(
  containers: T[],
  filter:
    | (Partial<Pick<ContainerFilter, 'id' | 'podSandboxId' | 'labelSelector'>> & {
        state?: ContainerFilter['state'];
      })
    | undefined,
  stateOfItem: (c: T) => ContainerState | undefined = (c) =>
    (c as { state?: ContainerState }).state,
): T[] {
  if (!filter) return containers;
  return containers.filter((c) => {
    if (filter.id && filter.id !== c.id) return false;
    if (filter.podSandboxId && filter.podSandboxId !== c.podSandboxId) return false;
    if (filter.state !== undefined && filter.state.state !== stateOfItem(c)) return false;
    for (const [k, v] of Object.entries(filter.labelSelector ?? {})) {
      if (c.labels[k] !== v) return false;
    }
    return true;
  });
}
