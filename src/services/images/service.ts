import { ImageCreate, ImageDelete, ImageUpdate } from '../../api/containerd/events/image.js';
import {
  type CreateImageRequest,
  type DeleteImageRequest,
  type GetImageRequest,
  type Image as ImagePb,
  ImagesService,
  type ListImagesRequest,
  type UpdateImageRequest,
} from '../../api/containerd/services/images/v1/images.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import type { AnyPayload, Publisher } from '../../core/events/index.js';
import type { GcScheduler } from '../../core/gc/index.js';
import type { ImageStore } from '../../core/images/index.js';
import { type GrpcService, unary } from '../../server/service.js';
import { imageFromProto, imageToProto } from '../../wire/images.js';

/** Event topics and payload type URLs (containerd keeps the services package for these). */
export const IMAGE_CREATE_TOPIC = '/images/create';
export const IMAGE_UPDATE_TOPIC = '/images/update';
export const IMAGE_DELETE_TOPIC = '/images/delete';
export const IMAGE_CREATE_TYPE = 'containerd.services.images.v1.ImageCreate';
export const IMAGE_UPDATE_TYPE = 'containerd.services.images.v1.ImageUpdate';
export const IMAGE_DELETE_TYPE = 'containerd.services.images.v1.ImageDelete';

/**
 * containerd.services.images.v1.Images over an {@link ImageStore}, as
 * containerd's services/images/local.go:
 *
 * - Create and Update require a name, publish `/images/create` or
 *   `/images/update` with the stored name and labels, and answer the
 *   stored image.
 * - Delete publishes `/images/delete`, then with `sync` waits for a garbage
 *   collection to finish; otherwise it schedules one. The 2.0 `target`
 *   precondition is ignored, as containerd 1.6 does.
 * - Events are published after the change is committed; a failure to
 *   publish fails the call (the change stays), as in containerd.
 */
export function imagesService(
  store: ImageStore,
  publisher: Publisher,
  gc: GcScheduler,
): GrpcService {
  return {
    name: 'containerd.services.images.v1.Images',
    definition: ImagesService,
    namespaced: true,
    handlers: {
      Get: unary(async (ctx, req: GetImageRequest) => ({
        image: imageToProto(await store.get(ctx, req.name)),
      })),
      List: unary(async (ctx, req: ListImagesRequest) => ({
        images: (await store.list(ctx, req.filters)).map(imageToProto),
      })),
      Create: unary(async (ctx, req: CreateImageRequest) => {
        const image = imageToProto(await store.create(ctx, imageFromProto(named(req.image))));
        await publisher.publish(ctx, IMAGE_CREATE_TOPIC, {
          typeUrl: IMAGE_CREATE_TYPE,
          value: ImageCreate.encode({ name: image.name, labels: image.labels }).finish(),
        } satisfies AnyPayload);
        return { image };
      }),
      Update: unary(async (ctx, req: UpdateImageRequest) => {
        const image = imageToProto(
          await store.update(ctx, imageFromProto(named(req.image)), req.updateMask ?? []),
        );
        await publisher.publish(ctx, IMAGE_UPDATE_TOPIC, {
          typeUrl: IMAGE_UPDATE_TYPE,
          value: ImageUpdate.encode({ name: image.name, labels: image.labels }).finish(),
        });
        return { image };
      }),
      Delete: unary(async (ctx, req: DeleteImageRequest) => {
        await store.delete(ctx, req.name);
        await publisher.publish(ctx, IMAGE_DELETE_TOPIC, {
          typeUrl: IMAGE_DELETE_TYPE,
          value: ImageDelete.encode({ name: req.name }).finish(),
        });
        if (req.sync) await gc.collect();
        else gc.schedule();
        return {};
      }),
    },
  };
}

/** containerd checks the name before the store sees the request. */
function named(image: ImagePb | undefined): ImagePb {
  if (!image || image.name === '') throw invalidArgument('Image.Name required');
  return image;
}
