import {
  type Container as ContainerPb,
  ContainersService,
  type CreateContainerRequest,
  type DeleteContainerRequest,
  type GetContainerRequest,
  type ListContainerMessage,
  type ListContainersRequest,
  type UpdateContainerRequest,
} from '../../api/containerd/services/containers/v1/containers.js';
import type { ContainerStore } from '../../core/containers/index.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import type { Publisher } from '../../core/events/index.js';
import { type GrpcService, serverStream, unary } from '../../server/service.js';
import { containerFromProto, containerToProto } from '../../wire/containers.js';
import { containerCreate, containerDelete, containerUpdate } from '../../wire/event-payloads.js';

export const CONTAINER_CREATE_TOPIC = '/containers/create';
export const CONTAINER_UPDATE_TOPIC = '/containers/update';
export const CONTAINER_DELETE_TOPIC = '/containers/delete';

/**
 * containerd.services.containers.v1.Containers over a {@link ContainerStore},
 * as containerd's services/containers (local.go, service.go):
 *
 * - ListStream answers the same containers as List, one per message.
 * - Update requires an id (`Container.ID required`) before anything else;
 *   an absent or empty update mask means the store's full replace.
 * - Create, Update and Delete publish `/containers/create` {id, image,
 *   runtime}, `/containers/update` {id, image, labels, snapshot_key} and
 *   `/containers/delete` {id} from the stored record, after the change is
 *   committed; a failure to publish fails the call (the change stays).
 */
export function containersService(store: ContainerStore, publisher: Publisher): GrpcService {
  return {
    name: 'containerd.services.containers.v1.Containers',
    definition: ContainersService,
    namespaced: true,
    handlers: {
      Get: unary(async (ctx, req: GetContainerRequest) => ({
        container: containerToProto(await store.get(ctx, req.id)),
      })),
      List: unary(async (ctx, req: ListContainersRequest) => ({
        containers: (await store.list(ctx, req.filters)).map(containerToProto),
      })),
      ListStream: serverStream(
        async (
          ctx,
          req: ListContainersRequest,
          send: (m: ListContainerMessage) => Promise<void>,
        ) => {
          for (const c of await store.list(ctx, req.filters)) {
            if (ctx.signal.aborted) return;
            await send({ container: containerToProto(c) });
          }
        },
      ),
      Create: unary(async (ctx, req: CreateContainerRequest) => {
        const container = containerToProto(
          await store.create(ctx, containerFromProto(req.container)),
        );
        await publisher.publish(
          ctx,
          CONTAINER_CREATE_TOPIC,
          containerCreate({
            id: container.id,
            image: container.image,
            runtime: { name: container.runtime?.name ?? '', options: container.runtime?.options },
          }),
        );
        return { container };
      }),
      Update: unary(async (ctx, req: UpdateContainerRequest) => {
        if (!req.container || req.container.id === '') {
          throw invalidArgument('Container.ID required');
        }
        const container: ContainerPb = containerToProto(
          await store.update(ctx, containerFromProto(req.container), req.updateMask ?? []),
        );
        await publisher.publish(
          ctx,
          CONTAINER_UPDATE_TOPIC,
          containerUpdate({
            id: container.id,
            image: container.image,
            labels: container.labels,
            snapshotKey: container.snapshotKey,
          }),
        );
        return { container };
      }),
      Delete: unary(async (ctx, req: DeleteContainerRequest) => {
        await store.delete(ctx, req.id);
        await publisher.publish(ctx, CONTAINER_DELETE_TOPIC, containerDelete({ id: req.id }));
        return {};
      }),
    },
  };
}
