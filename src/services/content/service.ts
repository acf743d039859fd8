import { ContentDelete } from '../../api/containerd/events/content.js';
import {
  type AbortRequest,
  ContentService,
  type DeleteContentRequest,
  type InfoRequest,
  type ListContentRequest,
  type ListContentResponse,
  type ListStatusesRequest,
  type ReadContentRequest,
  type ReadContentResponse,
  type StatusRequest,
  type UpdateRequest,
  type WriteContentRequest,
  type WriteContentResponse,
} from '../../api/containerd/services/content/v1/content.js';
import type { ContentStore } from '../../core/content/index.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import type { Publisher } from '../../core/events/index.js';
import { bidiStream, type GrpcService, serverStream, unary } from '../../server/service.js';
import { contentInfoFromProto, contentInfoToProto, statusToProto } from '../../wire/content.js';
import { handleWrite } from './write.js';

/** How many infos one List response carries (containerd sends batches of 100). */
const LIST_BATCH = 100;

/** containerd.services.content.v1.Content over a namespaced {@link ContentStore}. */
export function contentService(store: ContentStore, publisher: Publisher): GrpcService {
  return {
    name: 'containerd.services.content.v1.Content',
    definition: ContentService,
    namespaced: true,
    handlers: {
      Info: unary(async (ctx, req: InfoRequest) => ({
        info: contentInfoToProto(await store.info(ctx, req.digest)),
      })),
      Update: unary(async (ctx, req: UpdateRequest) => {
        if (!req.info) throw invalidArgument('info is required');
        const info = contentInfoFromProto(req.info);
        return { info: contentInfoToProto(await store.update(ctx, info, req.updateMask)) };
      }),
      List: serverStream(
        async (ctx, req: ListContentRequest, send: (r: ListContentResponse) => Promise<void>) => {
          const infos = await store.list(ctx, req.filters);
          for (let i = 0; i < infos.length; i += LIST_BATCH) {
            await send({ info: infos.slice(i, i + LIST_BATCH).map(contentInfoToProto) });
          }
        },
      ),
      Delete: unary(async (ctx, req: DeleteContentRequest) => {
        await store.delete(ctx, req.digest);
        await publisher.publish(ctx, '/content/delete', {
          typeUrl: 'containerd.events.ContentDelete',
          value: ContentDelete.encode({ digest: req.digest }).finish(),
        });
        return {};
      }),
      Read: serverStream(
        async (ctx, req: ReadContentRequest, send: (r: ReadContentResponse) => Promise<void>) => {
          let offset = Number(req.offset);
          const chunks = store.read(ctx, req.digest, { offset, size: Number(req.size) });
          for await (const data of chunks) {
            await send({ offset: BigInt(offset), data });
            offset += data.length;
          }
        },
      ),
      Status: unary(async (ctx, req: StatusRequest) => ({
        status: statusToProto(await store.status(ctx, req.ref)),
      })),
      ListStatuses: unary(async (ctx, req: ListStatusesRequest) => ({
        statuses: (await store.listStatuses(ctx, req.filters)).map(statusToProto),
      })),
      Write: bidiStream(
        (
          ctx,
          requests: AsyncIterable<WriteContentRequest>,
          send: (r: WriteContentResponse) => Promise<void>,
        ) => handleWrite(store, ctx, requests, send),
      ),
      Abort: unary(async (ctx, req: AbortRequest) => {
        await store.abort(ctx, req.ref);
        return {};
      }),
    },
  };
}
