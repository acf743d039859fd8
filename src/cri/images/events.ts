/**
 * @module
 * Image records written by the CRI plugin announce themselves as
 * containerd's image service announces them (`/images/create`,
 * `/images/update`, `/images/delete` with the name and labels): in
 * containerd the CRI plugin writes through that service, so `ctr events`
 * shows its pulls and removals.
 */
import type { Publisher } from '../../core/events/index.js';
import type { ImageStore } from '../../core/images/index.js';
import { imageCreate, imageDelete, imageUpdate } from '../../wire/event-payloads.js';

export const IMAGE_CREATE_TOPIC = '/images/create';
export const IMAGE_UPDATE_TOPIC = '/images/update';
export const IMAGE_DELETE_TOPIC = '/images/delete';

/** `store`, publishing an event after each create, update and delete it commits. */
export function publishingImageStore(store: ImageStore, publisher: Publisher): ImageStore {
  return {
    get: (ctx, name) => store.get(ctx, name),
    list: (ctx, filters) => store.list(ctx, filters),
    async create(ctx, image) {
      const created = await store.create(ctx, image);
      await publisher.publish(
        ctx,
        IMAGE_CREATE_TOPIC,
        imageCreate({ name: created.name, labels: created.labels }),
      );
      return created;
    },
    async update(ctx, image, fieldpaths) {
      const updated = await store.update(ctx, image, fieldpaths);
      await publisher.publish(
        ctx,
        IMAGE_UPDATE_TOPIC,
        imageUpdate({ name: updated.name, labels: updated.labels }),
      );
      return updated;
    },
    async delete(ctx, name) {
      await store.delete(ctx, name);
      await publisher.publish(ctx, IMAGE_DELETE_TOPIC, imageDelete({ name }));
    },
  };
}
