import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointOptions } from '../api/containerd/runc/options/oci.js';
import { Any } from '../api/google/protobuf/any.js';
import { anyBuffer, asBuffer } from '../core/any/index.js';
import type { Descriptor, Ingester, Writer } from '../core/content/index.js';
import type { Applier, Comparer } from '../core/diff/index.js';
import { invalidArgument, isAlreadyExists } from '../core/errdefs/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import type { AnyValue, Checkpointer, Task } from '../core/tasks/index.js';
import { removeTree } from '../sys/remove-tree.js';

/** containerd's media types for a checkpoint's parts. */
export const CHECKPOINT_MEDIA_TYPE =
  'application/vnd.containerd.container.criu.checkpoint.criu.tar';
export const CHECKPOINT_CONFIG_MEDIA_TYPE =
  'application/vnd.containerd.container.checkpoint.config.v1+proto';
const TAR = 'application/vnd.oci.image.layer.v1.tar';

/**
 * Writes the container's spec as containerd does: the marshalled Any
 * (type URL and JSON), committed to the content store.
 */
export async function writeSpec(
  ctx: OpContext,
  store: Ingester,
  spec: AnyValue | undefined,
): Promise<Descriptor> {
  const bytes = asBuffer(
    Any.encode(anyBuffer(spec ?? { typeUrl: '', value: new Uint8Array() })).finish(),
  );
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const desc = { mediaType: CHECKPOINT_CONFIG_MEDIA_TYPE, digest, size: bytes.length };
  let w: Writer;
  try {
    w = await store.writer(ctx, {
      ref: `checkpoint-spec-${digest}`,
      total: bytes.length,
      expected: digest,
    });
  } catch (err) {
    if (isAlreadyExists(err)) return desc;
    throw err;
  }
  try {
    await w.truncate(0);
    await w.write(bytes);
    await w.commit(bytes.length, digest);
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
  return desc;
}

/**
 * Task checkpoints, as containerd's Tasks service makes them: the shim
 * (runc + CRIU) writes the image into a scratch directory, which becomes
 * an uncompressed tar in the content store (`…criu.checkpoint.criu.tar`),
 * with the container's spec beside it. Restore goes the other way.
 * Scratch directories live under `scratch` and are always removed; what
 * an earlier daemon left there (a crash mid-checkpoint) goes on construction.
 */
export class TaskCheckpointer implements Checkpointer {
  constructor(
    private readonly opts: {
      scratch: string;
      comparer: Comparer;
      applier: Applier;
      content: Ingester;
    },
  ) {
    mkdirSync(opts.scratch, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(opts.scratch))
      removeTree(join(opts.scratch, name), opts.scratch);
  }

  async checkpoint(
    ctx: OpContext,
    task: Task,
    spec: AnyValue | undefined,
    options: AnyValue | undefined,
  ): Promise<Descriptor[]> {
    // runc's CheckpointOptions.image_path (field 8): the caller keeps the image itself.
    if (options && imagePath(options) !== '') {
      await task.checkpoint(ctx, imagePath(options), options);
      return [];
    }
    const dir = mkdtempSync(join(this.opts.scratch, 'checkpoint-'));
    try {
      const image = join(dir, 'image');
      const empty = join(dir, 'empty');
      mkdirSync(empty);
      await task.checkpoint(ctx, image, options);
      const tar = await this.opts.comparer.compare(
        ctx,
        [{ type: 'bind', source: empty, options: ['rbind', 'ro'] }],
        [{ type: 'bind', source: image, options: ['rbind', 'ro'] }],
        { mediaType: TAR },
      );
      const config = await writeSpec(ctx, this.opts.content, spec);
      return [{ ...tar, mediaType: CHECKPOINT_MEDIA_TYPE }, config];
    } finally {
      removeTree(dir, this.opts.scratch);
    }
  }

  /** Unpacks a checkpoint tar for a restore; {@link release} removes it. */
  async restorePath(ctx: OpContext, desc: Descriptor): Promise<string> {
    if (desc.mediaType !== CHECKPOINT_MEDIA_TYPE) {
      throw invalidArgument(`unsupported checkpoint type ${JSON.stringify(desc.mediaType)}`);
    }
    const dir = mkdtempSync(join(this.opts.scratch, 'restore-'));
    try {
      await this.opts.applier.apply(ctx, { ...desc, mediaType: TAR }, [
        { type: 'bind', source: dir, options: ['rbind', 'rw'] },
      ]);
    } catch (err) {
      removeTree(dir, this.opts.scratch);
      throw err;
    }
    return dir;
  }

  release(path: string): void {
    removeTree(path, this.opts.scratch);
  }
}

/** runc's CheckpointOptions.image_path: where the caller wants the image kept. */
function imagePath(options: AnyValue): string {
  if (!options.typeUrl.endsWith('containerd.runc.v1.CheckpointOptions')) return '';
  return CheckpointOptions.decode(options.value).imagePath;
}
