import type { CreateTaskResponse, GetResponse } from '../api/containerd/services/tasks/v1/tasks.js';
import type { Container as ContainerInfo } from '../core/containers/index.js';
import {
  failedPrecondition,
  internal,
  invalidArgument,
  isNotFound,
} from '../core/errdefs/index.js';
import type { Labels } from '../core/labels/index.js';
import type { Mount } from '../core/mount/index.js';
import { mountToProto } from '../wire/mounts.js';
import type { Creator, IO } from './cio/index.js';
import type { Client } from './client.js';
import type { Image } from './image.js';
import { type CallOpts, Task } from './task.js';

/** Options of {@link Container.newTask} (containerd's `NewTaskOpts`). */
export interface NewTaskOptions extends CallOpts {
  /** Root filesystem mounts; default the container's snapshot's mounts. */
  rootfs?: Mount[];
  /** Options for the runtime (CreateTaskRequest.options), an Any. */
  options?: { typeUrl: string; value: Uint8Array };
  /** A runtime binary path to use instead of the runtime name (containerd 1.7). */
  runtimePath?: string;
}

/** Options of {@link Container.delete} (containerd's `DeleteOpts`). */
export interface DeleteOptions extends CallOpts {
  /** Also remove the container's snapshot (containerd's `WithSnapshotCleanup`). */
  snapshotCleanup?: boolean;
}

/**
 * A container (containerd's `Container`): a record in the daemon naming an
 * OCI spec, a runtime and a root filesystem snapshot. Methods read the
 * record afresh from the daemon.
 */
export class Container {
  constructor(
    private readonly client: Client,
    readonly id: string,
  ) {}

  /** The record as the daemon has it now. */
  info(opts: CallOpts = {}): Promise<ContainerInfo> {
    return this.client.containerService().get(this.client.context(opts.signal), this.id);
  }

  /** The OCI runtime spec, parsed from the record's JSON. */
  async spec(opts: CallOpts = {}): Promise<Record<string, unknown>> {
    const info = await this.info(opts);
    if (info.spec === undefined) throw internal(`container "${this.id}" has no spec`);
    try {
      return JSON.parse(Buffer.from(info.spec.value).toString('utf8')) as Record<string, unknown>;
    } catch (err) {
      throw invalidArgument(`container "${this.id}": spec is not JSON (${info.spec.typeUrl})`, {
        cause: err,
      });
    }
  }

  /** The image the container was made from (`not_found` when it names none or it is gone). */
  async image(opts: CallOpts = {}): Promise<Image> {
    const info = await this.info(opts);
    if (info.image === '') throw invalidArgument(`container "${this.id}" has no image`);
    return this.client.getImage(info.image, opts);
  }

  async labels(opts: CallOpts = {}): Promise<Labels> {
    return (await this.info(opts)).labels;
  }

  /** Sets (or with an empty value removes) the given labels; answers all labels. */
  async setLabels(labels: Labels, opts: CallOpts = {}): Promise<Labels> {
    const ctx = this.client.context(opts.signal);
    const store = this.client.containerService();
    const current = await store.get(ctx, this.id);
    const updated = await store.update(
      ctx,
      { ...current, labels },
      Object.keys(labels).map((k) => `labels.${k}`),
    );
    return updated.labels;
  }

  /**
   * Deletes the container record, and with `snapshotCleanup` its snapshot.
   * A container with a task is refused (`failed_precondition`), as in
   * containerd's client.
   */
  async delete(opts: DeleteOptions = {}): Promise<void> {
    const ctx = this.client.context(opts.signal);
    if (await this.hasTask(opts)) {
      throw failedPrecondition(`cannot delete running task ${this.id}`);
    }
    const info = await this.info(opts);
    if (opts.snapshotCleanup === true && info.snapshotKey !== '' && info.snapshotter !== '') {
      try {
        await this.client.snapshotService(info.snapshotter).remove(ctx, info.snapshotKey);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    await this.client.containerService().delete(ctx, this.id);
  }

  /**
   * Creates the container's task (not started: call `start`), with the IO
   * `ioCreate` makes for it and the container's snapshot as its root
   * filesystem.
   */
  async newTask(ioCreate: Creator, opts: NewTaskOptions = {}): Promise<Task> {
    const ctx = this.client.context(opts.signal);
    const infoAsked = this.info(opts);
    infoAsked.catch(() => undefined); // awaited below
    // The IO is made while the record and its mounts are asked, once that
    // call is on its way: FIFOs take a process (mkfifo), whose start blocks.
    const ioMade = new Promise((resolve) => setImmediate(resolve)).then(() => ioCreate(this.id));
    ioMade.catch(() => undefined); // awaited below, maybe after a failed call
    let rootfs = opts.rootfs;
    try {
      const info = await infoAsked;
      if (rootfs === undefined && info.snapshotKey !== '') {
        rootfs = await this.client.snapshotService(info.snapshotter).mounts(ctx, info.snapshotKey);
      }
    } catch (err) {
      await ioMade.then(
        async (io) => {
          io.cancel();
          await io.close();
        },
        () => undefined,
      );
      throw err;
    }
    const io: IO = await ioMade;
    try {
      const res = await this.client.connection.rpc.unary<CreateTaskResponse>(ctx, (md, o, cb) =>
        this.client.connection.tasks.create(
          {
            containerId: this.id,
            rootfs: (rootfs ?? []).map(mountToProto),
            stdin: io.config.stdin,
            stdout: io.config.stdout,
            stderr: io.config.stderr,
            terminal: io.config.terminal,
            ...(opts.options && {
              options: { typeUrl: opts.options.typeUrl, value: Buffer.from(opts.options.value) },
            }),
            runtimePath: opts.runtimePath ?? '',
          },
          md,
          o,
          cb,
        ),
      );
      return new Task(this.client.taskScope(), this.id, res.pid, io);
    } catch (err) {
      io.cancel();
      await io.close();
      throw err;
    }
  }

  /**
   * The container's existing task (created by this or another client); it
   * has no IO in this client. `not_found` when the container has none.
   */
  async task(opts: CallOpts = {}): Promise<Task> {
    const res = await this.getTask(opts);
    return new Task(this.client.taskScope(), this.id, res.process?.pid ?? 0, undefined);
  }

  private async hasTask(opts: CallOpts): Promise<boolean> {
    try {
      await this.getTask(opts);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  private getTask(opts: CallOpts): Promise<GetResponse> {
    return this.client.connection.rpc.unary<GetResponse>(
      this.client.context(opts.signal),
      (md, o, cb) =>
        this.client.connection.tasks.get({ containerId: this.id, execId: '' }, md, o, cb),
    );
  }
}
