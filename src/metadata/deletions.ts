/**
 * Where the stores report deletions, for the collector: containerd's
 * mutation callbacks on its metadata DB. The stores are made first, since
 * the collector is built over them (it asks which commits and snapshot
 * operations are in flight); the collector subscribes once it exists.
 */
export class Deletions {
  private readonly listeners: (() => void)[] = [];

  /** What a store calls after a delete; bound, so it can be passed as is. */
  readonly notify = (): void => {
    for (const listener of this.listeners) listener();
  };

  subscribe(listener: () => void): void {
    this.listeners.push(listener);
  }
}
