import { canceled } from '../core/errdefs/index.js';

/** A live ingest's hold on the digest it is writing; released once, by commit, close or abort. */
export interface IngestClaim {
  readonly digest: string;
  /** The backend ref (`<namespace>/<ref>`) of the ingest that holds the claim. */
  readonly ref: string;
  /** Lets go of the claim; the next waiter takes it. Idempotent. */
  release(): void;
}

interface Waiter {
  readonly ref: string;
  grant(claim: IngestClaim): void;
}

interface Entry {
  /** The backend ref whose writers hold the digest. */
  ref: string;
  readonly holders: Set<IngestClaim>;
  readonly waiters: Waiter[];
}

/**
 * Which live ingest is writing each expected digest, across namespaces and
 * refs, so that a blob is fetched once however many pulls want it: a writer
 * opened for a digest that another ref is writing waits until that ingest
 * lets go (commit, close, abort), then looks again whether the blob is there.
 *
 * Writers of the same ref share the claim instead of waiting on it: a
 * client that reopens its ref (a resume, a retry) meets the ref lock, which
 * serialises writers of one ref, and never waits on its own ingest. Waiters
 * are granted in arrival order; the granted waiter's ref then holds the claim
 * with any other waiters of that ref.
 *
 * A holder only writes and commits, it never waits for another claim while
 * it holds one, so waits cannot form a cycle.
 */
export class IngestClaims {
  private readonly entries = new Map<string, Entry>();

  /**
   * Takes the claim on `digest` for `ref`, waiting while another ref holds
   * it. Rejects with `canceled` when `signal` aborts first; a waiter that
   * gives up leaves nothing behind.
   */
  acquire(digest: string, ref: string, signal: AbortSignal): Promise<IngestClaim> {
    if (signal.aborted) return Promise.reject(this.canceled(digest, ref, signal));
    const entry = this.entries.get(digest);
    if (entry === undefined) {
      const fresh: Entry = { ref, holders: new Set(), waiters: [] };
      this.entries.set(digest, fresh);
      return Promise.resolve(this.hold(digest, fresh));
    }
    if (entry.ref === ref) return Promise.resolve(this.hold(digest, entry));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = entry.waiters.indexOf(waiter);
        if (i >= 0) entry.waiters.splice(i, 1);
        reject(this.canceled(digest, ref, signal, entry.ref));
      };
      const waiter: Waiter = {
        ref,
        grant: (claim) => {
          signal.removeEventListener('abort', onAbort);
          resolve(claim);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      entry.waiters.push(waiter);
    });
  }

  /** The backend ref writing `digest`, if any. */
  holder(digest: string): string | undefined {
    return this.entries.get(digest)?.ref;
  }

  /** How many writers wait for `digest`. */
  waiting(digest: string): number {
    return this.entries.get(digest)?.waiters.length ?? 0;
  }

  /** Releases every claim `ref` holds: its ingest is gone (aborted). */
  releaseRef(ref: string): void {
    for (const entry of [...this.entries.values()]) {
      if (entry.ref === ref) for (const claim of [...entry.holders]) claim.release();
    }
  }

  private hold(digest: string, entry: Entry): IngestClaim {
    let released = false;
    const claim: IngestClaim = {
      digest,
      ref: entry.ref,
      release: () => {
        if (released) return;
        released = true;
        entry.holders.delete(claim);
        if (entry.holders.size === 0) this.handOver(digest, entry);
      },
    };
    entry.holders.add(claim);
    return claim;
  }

  /** The last holder let go: the oldest waiter's ref takes the claim, with its other waiters. */
  private handOver(digest: string, entry: Entry): void {
    const next = entry.waiters.shift();
    if (next === undefined) {
      this.entries.delete(digest);
      return;
    }
    entry.ref = next.ref;
    const same = entry.waiters.filter((w) => w.ref === next.ref);
    entry.waiters.splice(
      0,
      entry.waiters.length,
      ...entry.waiters.filter((w) => w.ref !== next.ref),
    );
    for (const w of [next, ...same]) w.grant(this.hold(digest, entry));
  }

  private canceled(digest: string, ref: string, signal: AbortSignal, holder?: string): Error {
    const what = holder
      ? `waiting for ingest ${JSON.stringify(holder)} to finish writing ${digest}`
      : `opening ingest ${JSON.stringify(ref)} for ${digest}`;
    return canceled(`${what}: the caller gave up`, { cause: signal.reason });
  }
}
