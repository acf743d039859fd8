/**
 * @module
 * The CRI plugin's in-memory view of its containers (containerd's
 * `pkg/cri/store/container`): each container's metadata, status and IO,
 * found by its id or any unique prefix of it (names are reserved in the
 * shared NameIndex, so two containers of a pod never share
 * `<name>_<pod>_…_<attempt>`).
 * The durable truth is elsewhere: the container records (metadata
 * extension) and the status files; {@link ContainerStore} is rebuilt from
 * them at start.
 */
import { alreadyExists, isNotFound, notFound } from '../../core/errdefs/index.js';
import type { ContainerIO } from '../io/index.js';
import { TruncIndex } from '../store/index.js';
import type { ContainerMetadata } from './metadata.js';
import type { StatusStorage } from './status.js';

/** One container as the plugin holds it. */
export class CriContainer {
  /** The container's IO (FIFOs and log); absent when it could not be recreated. */
  io: ContainerIO | undefined;
  /**
   * Set once a Stop with a timeout has sent the stop signal, so a second
   * Stop does not send it again (containerd's IsStopSignaledWithTimeout).
   */
  stopSignaled = false;
  /** Set when berthd itself sent SIGKILL, so an exit by SIGKILL needs no wait for an OOM event. */
  killSent = false;
  /** Resolves once the container's exit has been handled. */
  readonly stopped: Promise<void>;
  private markStopped!: () => void;
  private done = false;
  /** Resolves once a `/tasks/oom` event for this container has been recorded. */
  readonly oomRecorded: Promise<void>;
  private markOom!: () => void;

  constructor(
    readonly metadata: ContainerMetadata,
    readonly status: StatusStorage,
    io?: ContainerIO,
  ) {
    this.io = io;
    this.stopped = new Promise((resolve) => {
      this.markStopped = resolve;
    });
    this.oomRecorded = new Promise((resolve) => {
      this.markOom = resolve;
    });
  }

  /** Says that an OOM of the container has been recorded in its status. */
  oomKilled(): void {
    this.markOom();
  }

  get id(): string {
    return this.metadata.id;
  }

  get sandboxId(): string {
    return this.metadata.sandboxId;
  }

  /** Marks the container stopped; idempotent. */
  stop(): void {
    if (this.done) return;
    this.done = true;
    this.markStopped();
  }

  get isStopped(): boolean {
    return this.done;
  }
}

export class ContainerStore {
  private readonly containers = new Map<string, CriContainer>();
  private readonly index = new TruncIndex();

  /** `already_exists` for an id already held. */
  add(c: CriContainer): void {
    if (this.containers.has(c.id)) throw alreadyExists(`container ${JSON.stringify(c.id)}`);
    this.index.add(c.id);
    this.containers.set(c.id, c);
  }

  /** By id or unique prefix; `not_found` naming what was asked. */
  get(idOrPrefix: string): CriContainer {
    let id: string;
    try {
      id = this.index.get(idOrPrefix);
    } catch (err) {
      if (isNotFound(err)) {
        throw notFound(`container ${JSON.stringify(idOrPrefix)}`, { cause: err });
      }
      throw err;
    }
    const c = this.containers.get(id);
    if (!c) throw notFound(`container ${JSON.stringify(idOrPrefix)}`);
    return c;
  }

  /** Like {@link get}, but undefined for a missing (or empty, or ambiguous) id. */
  find(idOrPrefix: string): CriContainer | undefined {
    try {
      return this.get(idOrPrefix);
    } catch {
      return undefined;
    }
  }

  list(): CriContainer[] {
    return [...this.containers.values()];
  }

  /** Forgets a container; idempotent. Its IO is the caller's to close. */
  delete(id: string): void {
    this.containers.delete(id);
    this.index.delete(id);
  }
}
