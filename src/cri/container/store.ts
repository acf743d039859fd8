/**
 * @module
 * The CRI plugin's in-memory view of its containers (containerd's
 * `pkg/cri/store/container`): each container's metadata, status and IO,
 * found by its id or any unique prefix of it; and the index of reserved
 * names, so two containers of a pod never share `<name>_<pod>_…_<attempt>`.
 * The durable truth is elsewhere: the container records (metadata
 * extension) and the status files; {@link ContainerStore} is rebuilt from
 * them at start.
 */
import { alreadyExists, invalidArgument, notFound } from '../../core/errdefs/index.js';
import type { ContainerIO } from './deps.js';
import type { ContainerMetadata } from './metadata.js';
import type { StatusStorage } from './status.js';

/**
 * Ids by unique prefix (containerd's truncindex): `get` answers the id an
 * exact id or unambiguous prefix names; `not_found` for none,
 * `invalid_argument` for an empty or ambiguous prefix.
 */
export class TruncIndex {
  private readonly ids = new Set<string>();

  add(id: string): void {
    if (id === '' || /\s/.test(id)) throw invalidArgument(`illegal id ${JSON.stringify(id)}`);
    if (this.ids.has(id)) throw alreadyExists(`id ${JSON.stringify(id)}`);
    this.ids.add(id);
  }

  delete(id: string): void {
    this.ids.delete(id);
  }

  get(prefix: string): string {
    if (prefix === '') throw invalidArgument('prefix can not be empty');
    if (this.ids.has(prefix)) return prefix;
    let found: string | undefined;
    for (const id of this.ids) {
      if (!id.startsWith(prefix)) continue;
      if (found !== undefined) {
        throw invalidArgument(`ambiguous id prefix ${JSON.stringify(prefix)}`);
      }
      found = id;
    }
    if (found === undefined) throw notFound(`id ${JSON.stringify(prefix)}`);
    return found;
  }
}

/**
 * Names reserved for keys (containerd's registrar): reserving a name again
 * for the same key is fine, for another key `already_exists`.
 */
export class NameIndex {
  private readonly byName = new Map<string, string>();
  private readonly byKey = new Map<string, string>();

  reserve(name: string, key: string): void {
    if (name === '' || key === '') throw invalidArgument('name and key must be set');
    const holder = this.byName.get(name);
    if (holder !== undefined) {
      if (holder === key) return;
      throw alreadyExists(`name ${JSON.stringify(name)} is reserved for ${JSON.stringify(holder)}`);
    }
    const had = this.byKey.get(key);
    if (had !== undefined) {
      throw alreadyExists(`key ${JSON.stringify(key)} already holds name ${JSON.stringify(had)}`);
    }
    this.byName.set(name, key);
    this.byKey.set(key, name);
  }

  releaseByName(name: string): void {
    const key = this.byName.get(name);
    if (key === undefined) return;
    this.byName.delete(name);
    this.byKey.delete(key);
  }

  releaseByKey(key: string): void {
    const name = this.byKey.get(key);
    if (name === undefined) return;
    this.byKey.delete(key);
    this.byName.delete(name);
  }

  get(name: string): string | undefined {
    return this.byName.get(name);
  }
}

/** One container as the plugin holds it. */
export class CriContainer {
  /** The container's IO (FIFOs and log); absent when it could not be recreated. */
  io: ContainerIO | undefined;
  /**
   * Set once a Stop with a timeout has sent the stop signal, so a second
   * Stop does not send it again (containerd's IsStopSignaledWithTimeout).
   */
  stopSignaled = false;
  /** Resolves once the container's exit has been handled. */
  readonly stopped: Promise<void>;
  private markStopped!: () => void;
  private done = false;

  constructor(
    readonly metadata: ContainerMetadata,
    readonly status: StatusStorage,
    io?: ContainerIO,
  ) {
    this.io = io;
    this.stopped = new Promise((resolve) => {
      this.markStopped = resolve;
    });
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
      if ((err as { kind?: string }).kind === 'not_found') {
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
