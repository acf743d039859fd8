import { canceled } from '../core/errdefs/index.js';

/**
 * One unpack of a layer under way in a namespace: an active snapshot
 * prepared to be committed as `target` (a chain ID), or a claim, which says
 * a namespace just found `target` missing and is about to prepare it.
 */
export interface Extraction {
  readonly ns: string;
  readonly target: string;
  /**
   * The namespace's parent key and its backend key (`''` for a base layer);
   * undefined for a claim, whose parent is not known yet.
   */
  readonly parent?: { key: string; bkey: string };
  /** Settles when the extraction is committed or let go, or the claim lapses. */
  readonly done: Promise<void>;
}

interface Entry extends Extraction {
  settle(): void;
  timer?: NodeJS.Timeout;
}

/**
 * The extractions in flight in this process, by target, so that another
 * namespace unpacking the same layer waits for the first one and then
 * shares its committed snapshot (see `MetadataSnapshotter`). Memory only:
 * after a restart nothing is in flight, and an active snapshot a crash left
 * is nobody's extraction (waiting for it could never end).
 */
export class SnapshotExtractions {
  private readonly byTarget = new Map<string, Set<Entry>>();

  /**
   * Registers `ns` as about to extract `target` (its Stat found nothing):
   * another namespace looking for `target` waits up to `ms` for the
   * extraction to start. Does nothing if `ns` already has one for `target`.
   */
  claim(ns: string, target: string, ms: number): void {
    if ([...(this.byTarget.get(target) ?? [])].some((e) => e.ns === ns)) return;
    const entry = this.add(ns, target, undefined);
    entry.timer = setTimeout(() => this.end(entry), ms);
  }

  /**
   * Registers the extraction of `target` in `ns` on top of `parent`; a
   * claim `ns` held for it ends (its waiters then find this). Call
   * {@link end} with the result when it is committed or removed.
   */
  begin(ns: string, target: string, parent: { key: string; bkey: string }): Extraction {
    for (const e of this.byTarget.get(target) ?? []) {
      if (e.ns === ns && e.parent === undefined) this.end(e);
    }
    return this.add(ns, target, parent);
  }

  /** Ends an extraction or claim and wakes its waiters (again: nothing). */
  end(extraction: Extraction): void {
    const entry = extraction as Entry;
    const set = this.byTarget.get(entry.target);
    if (!set?.delete(entry)) return;
    if (set.size === 0) this.byTarget.delete(entry.target);
    clearTimeout(entry.timer);
    entry.settle();
  }

  /** Extractions and claims of `target` in namespaces other than `ns`. */
  elsewhere(ns: string, target: string): Extraction[] {
    return [...(this.byTarget.get(target) ?? [])].filter((e) => e.ns !== ns);
  }

  /**
   * Waits until one of `extractions` ends; rejects with `canceled` naming
   * `target` when `signal` aborts first.
   */
  static async waitAny(
    extractions: readonly Extraction[],
    target: string,
    signal: AbortSignal,
  ): Promise<void> {
    if (signal.aborted) throw canceledWait(target, signal);
    let onAbort!: () => void;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(canceledWait(target, signal));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([...extractions.map((e) => e.done), aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private add(ns: string, target: string, parent: Entry['parent']): Entry {
    let settle!: () => void;
    const done = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const entry: Entry = { ns, target, ...(parent && { parent }), done, settle };
    const set = this.byTarget.get(target) ?? new Set<Entry>();
    this.byTarget.set(target, set);
    set.add(entry);
    return entry;
  }
}

function canceledWait(target: string, signal: AbortSignal): Error {
  return canceled(
    `waiting for snapshot ${JSON.stringify(target)} being extracted in another namespace: the caller gave up`,
    { cause: signal.reason },
  );
}
