import type {
  CreateImageResponse,
  GetImageResponse,
  Image as ImagePb,
  ImagesClient,
  ListImagesResponse,
  UpdateImageResponse,
} from '../api/containerd/services/images/v1/images.js';
import { notFound } from '../core/errdefs/index.js';
import type { Image, ImageStore } from '../core/images/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { imageFromProto, imageToProto } from '../wire/images.js';
import { fromTimestamp } from '../wire/timestamp.js';
import type { Rpc } from './rpc.js';

/** An {@link ImageStore} over the Images service (containerd's `remoteImages`). */
export class ImagesProxy implements ImageStore {
  constructor(
    private readonly client: ImagesClient,
    private readonly rpc: Rpc,
  ) {}

  async get(ctx: OpContext, name: string): Promise<Image> {
    const res = await this.rpc.unary<GetImageResponse>(ctx, (md, o, cb) =>
      this.client.get({ name }, md, o, cb),
    );
    return imageOf(res.image, name);
  }

  async list(ctx: OpContext, filters: readonly string[] = []): Promise<Image[]> {
    const res = await this.rpc.unary<ListImagesResponse>(ctx, (md, o, cb) =>
      this.client.list({ filters: [...filters] }, md, o, cb),
    );
    return res.images.map((i) => imageOf(i, i.name));
  }

  async create(ctx: OpContext, image: Omit<Image, 'createdAt' | 'updatedAt'>): Promise<Image> {
    const res = await this.rpc.unary<CreateImageResponse>(ctx, (md, o, cb) =>
      this.client.create({ image: toWire(image) }, md, o, cb),
    );
    return imageOf(res.image, image.name);
  }

  async update(
    ctx: OpContext,
    image: Omit<Image, 'createdAt' | 'updatedAt'>,
    fieldpaths?: readonly string[],
  ): Promise<Image> {
    const res = await this.rpc.unary<UpdateImageResponse>(ctx, (md, o, cb) =>
      this.client.update(
        { image: toWire(image), ...(fieldpaths && { updateMask: [...fieldpaths] }) },
        md,
        o,
        cb,
      ),
    );
    return imageOf(res.image, image.name);
  }

  /** With `sync`, garbage collection has run when the promise resolves. */
  async delete(ctx: OpContext, name: string, opts: { sync?: boolean } = {}): Promise<void> {
    await this.rpc.unary(ctx, (md, o, cb) =>
      this.client.delete({ name, sync: opts.sync ?? false }, md, o, cb),
    );
  }
}

function toWire(image: Omit<Image, 'createdAt' | 'updatedAt'>): ImagePb {
  const pb = imageToProto({ ...image, createdAt: 0n, updatedAt: 0n });
  // The store sets the times; send none, as containerd's client does.
  delete pb.createdAt;
  delete pb.updatedAt;
  return pb;
}

function imageOf(pb: ImagePb | undefined, name: string): Image {
  if (pb === undefined) throw notFound(`image "${name}": the response carries no image`);
  return {
    ...imageFromProto(pb),
    createdAt: fromTimestamp(pb.createdAt),
    updatedAt: fromTimestamp(pb.updatedAt),
  };
}
