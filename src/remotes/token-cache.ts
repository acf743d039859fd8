/**
 * Bearer tokens per registry host and scope set, kept until they expire.
 * Concurrent requests for the same host and scopes share one token fetch.
 */

/** A token is dropped this long before the expiry the server gave, so it is not used as it lapses. */
const EXPIRY_MARGIN_MS = 5_000;
/** `expires_in` when the token server gives none (the distribution spec's default). */
export const DEFAULT_EXPIRES_IN_S = 60;

export interface Token {
  token: string;
  /** ms since the epoch. */
  expiresAt: number;
}

interface Entry {
  promise: Promise<Token>;
  /** Set once the fetch succeeded. */
  value?: Token;
}

export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  static key(host: string, scopes: readonly string[]): string {
    return `${host} ${[...new Set(scopes)].sort().join(' ')}`;
  }

  /**
   * The cached token for `key`, else one from `fetch` (shared by concurrent
   * callers). A failed fetch is not cached.
   */
  get(key: string, fetch: () => Promise<Token>): Promise<Token> {
    const have = this.entries.get(key);
    if (have !== undefined) {
      if (have.value === undefined) return have.promise; // in flight
      if (have.value.expiresAt - EXPIRY_MARGIN_MS > this.now()) return have.promise;
      this.entries.delete(key);
    }
    const entry: Entry = { promise: fetch() };
    this.entries.set(key, entry);
    entry.promise.then(
      (t) => {
        entry.value = t;
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return entry.promise;
  }

  /** Forgets `key`'s token when it is `token` (a 401 answered it), or whatever it is when `token` is undefined. */
  invalidate(key: string, token?: string): void {
    const have = this.entries.get(key);
    if (have === undefined) return;
    if (token === undefined || have.value?.token === token) this.entries.delete(key);
  }

  /** Expiry from a token answer's `expires_in` (seconds). */
  expiry(expiresIn: unknown): number {
    const s =
      typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0
        ? expiresIn
        : DEFAULT_EXPIRES_IN_S;
    return this.now() + s * 1000;
  }
}
