import type { PodSandbox, PodSandboxFilter } from '../../api/k8s/cri/runtime/v1/api.js';

/**
 * ListPodSandbox's filter as containerd applies it: `id` is an id or a
 * unique prefix (resolved by the caller with `resolveId`; an unknown or
 * ambiguous prefix is kept as is and so matches nothing), `state` exact,
 * and every `labelSelector` pair must be among the sandbox's labels.
 */
export function filterSandboxes(
  items: readonly PodSandbox[],
  filter: PodSandboxFilter | undefined,
  resolveId: (prefix: string) => string | undefined,
): PodSandbox[] {
  if (filter === undefined) return [...items];
  const id = filter.id === '' ? '' : (resolveId(filter.id) ?? filter.id);
  const selector = Object.entries(filter.labelSelector ?? {});
  return items.filter((sb) => {
    if (id !== '' && sb.id !== id) return false;
    if (filter.state !== undefined && sb.state !== filter.state.state) return false;
    return selector.every(([k, v]) => sb.labels[k] === v);
  });
}
