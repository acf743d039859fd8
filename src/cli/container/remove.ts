import type { Client } from '../../client/index.js';
import type { Container } from '../../core/containers/index.js';
import type { CliContext } from '../context.js';
import { removeContainer } from './lifecycle.js';

/**
 * Removes a stopped container as `rm` does (its task, record, snapshot,
 * network state and state dir: lifecycle's removeContainer) and answers
 * the bytes its snapshot held (0 when unknown), measured before.
 */
export async function removeStopped(
  ctx: CliContext,
  client: Client,
  c: Container,
): Promise<number> {
  let size = 0;
  if (c.snapshotter !== '' && c.snapshotKey !== '') {
    size = await client
      .snapshotService(c.snapshotter)
      .usage(client.context(), c.snapshotKey)
      .then((u) => Number(u.size))
      .catch(() => 0);
  }
  await removeContainer(ctx, client, c, false);
  return size;
}
