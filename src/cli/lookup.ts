import type { Client } from '../client/index.js';
import type { Container } from '../core/containers/index.js';
import { CliError } from './errors.js';
import { Labels } from './labels.js';

/**
 * The container a user means by `ref`, as docker resolves it: the full ID,
 * then the name (label `berth/name`), then a unique ID prefix. Answers the
 * record; fails with docker's "No such container" when nothing matches, and
 * names the candidates when a prefix is ambiguous.
 */
export async function findContainer(client: Client, ref: string): Promise<Container> {
  const store = client.containerService();
  const ctx = client.context();
  if (ref === '') throw new CliError('No such container: (empty name)');
  const byName = await store.list(ctx, [`labels."${Labels.name}"==${quote(ref)}`]);
  if (byName.length === 1) return byName[0] as Container;
  if (/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(ref)) {
    const byId = await store.list(ctx, [`id==${ref}`]);
    if (byId.length === 1) return byId[0] as Container;
  }
  if (/^[0-9a-f]+$/.test(ref)) {
    const byPrefix = await store.list(ctx, [`id~=^${ref}`]);
    if (byPrefix.length === 1) return byPrefix[0] as Container;
    if (byPrefix.length > 1) {
      throw new CliError(
        `multiple containers match "${ref}": ${byPrefix.map((c) => c.id.slice(0, 12)).join(', ')}`,
      );
    }
  }
  throw new CliError(`No such container: ${ref}`);
}

/** The name berth shows for a container: its `berth/name` label, else its ID. */
export function containerName(c: Pick<Container, 'id' | 'labels'>): string {
  return c.labels[Labels.name] ?? c.id;
}

/** A filter value: quoted when it holds characters containerd's filter syntax reserves. */
function quote(v: string): string {
  return /^[a-zA-Z0-9_./:-]+$/.test(v) ? v : JSON.stringify(v);
}
