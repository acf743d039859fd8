import { randomBytes } from 'node:crypto';
import { internal, resourceExhausted } from '../../core/errdefs/index.js';

/** How long a streaming URL stays valid (kubelet's request cache: 1 minute). */
export const REQUEST_TTL_MS = 60_000;
/** Requests waiting for their URL to be used, at most (kubelet's: 1000). */
export const MAX_IN_FLIGHT = 1000;
/** Tokens are 8 URL-safe base64 characters (48 random bits), as kubelet's. */
const TOKEN_LENGTH = 8;

export interface RequestCacheOptions {
  ttlMs?: number;
  maxInFlight?: number;
  /** The clock, in milliseconds (tests inject one). */
  now?: () => number;
}

/**
 * Streaming requests waiting for their URL to be used, as kubelet's request cache keeps them: each gets a random
 * single-use token, consumed by the first request to its URL, and expires after {@link REQUEST_TTL_MS}. Expired
 * entries are dropped as new ones come in, so the cache holds at most `maxInFlight` entries.
 */
export class RequestCache<T> {
  private readonly entries = new Map<string, { req: T; expires: number }>();
  private readonly ttlMs: number;
  private readonly maxInFlight: number;
  private readonly now: () => number;

  constructor(opts: RequestCacheOptions = {}) {
    this.ttlMs = opts.ttlMs ?? REQUEST_TTL_MS;
    this.maxInFlight = opts.maxInFlight ?? MAX_IN_FLIGHT;
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Stores a request and returns its token; resource_exhausted when `maxInFlight` requests wait already. */
  insert(req: T): string {
    this.gc();
    if (this.entries.size >= this.maxInFlight) {
      throw resourceExhausted('maximum number of in-flight requests exceeded');
    }
    for (let i = 0; i < 10; i++) {
      const token = randomBytes(6).toString('base64url').slice(0, TOKEN_LENGTH);
      if (this.entries.has(token)) continue;
      this.entries.set(token, { req, expires: this.now() + this.ttlMs });
      return token;
    }
    throw internal('streaming request cache: failed to generate a unique token');
  }

  /** Takes the request of a token out of the cache; undefined if the token is unknown, used or expired. */
  consume(token: string): T | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    this.entries.delete(token);
    return this.now() > entry.expires ? undefined : entry.req;
  }

  /** Drops expired entries: the map iterates in insertion order, which is expiry order. */
  private gc(): void {
    const now = this.now();
    for (const [token, entry] of this.entries) {
      if (now <= entry.expires) return;
      this.entries.delete(token);
    }
  }
}
