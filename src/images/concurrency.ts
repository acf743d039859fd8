/**
 * @module
 * A counting semaphore (containerd uses golang.org/x/sync's) bounding the
 * blobs transferred at once.
 */
export class Limiter {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(n: number) {
    this.#free = Math.max(1, Math.floor(n));
  }

  /** Runs `fn` once a slot is free; `signal` gives up waiting. */
  async run<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    signal.throwIfAborted();
    if (this.#free > 0) this.#free--;
    else {
      await new Promise<void>((resolve, reject) => {
        const go = () => {
          signal.removeEventListener('abort', abort);
          resolve();
        };
        const abort = () => {
          const i = this.#waiting.indexOf(go);
          if (i >= 0) this.#waiting.splice(i, 1);
          reject(signal.reason);
        };
        this.#waiting.push(go);
        signal.addEventListener('abort', abort, { once: true });
      });
    }
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

/**
 * Tasks that fail together: the first failure aborts `signal` (so the others
 * stop early), and `wait` settles only when every task has, so nothing still
 * runs when the operation returns (and its lease is deleted).
 */
export class TaskGroup {
  readonly #controller = new AbortController();
  readonly #tasks: Promise<unknown>[] = [];
  #error: { err: unknown } | undefined;
  readonly #detach: () => void;

  constructor(parent: AbortSignal) {
    const forward = () => this.#controller.abort(parent.reason);
    if (parent.aborted) forward();
    else parent.addEventListener('abort', forward, { once: true });
    this.#detach = () => parent.removeEventListener('abort', forward);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Starts `fn`; its promise is returned too (it rejects as the task does). */
  go<T>(fn: () => Promise<T>): Promise<T> {
    const p = (async () => fn())();
    this.#tasks.push(
      p.catch((err: unknown) => {
        if (!this.#error) this.#error = { err };
        this.#controller.abort(err);
      }),
    );
    return p;
  }

  /** Waits for every task (tasks may add tasks); throws the first failure. */
  async wait(): Promise<void> {
    try {
      let seen = 0;
      while (seen < this.#tasks.length) {
        const batch = this.#tasks.slice(seen);
        seen = this.#tasks.length;
        await Promise.all(batch);
      }
    } finally {
      this.#detach();
    }
    if (this.#error) throw this.#error.err;
  }
}

/**
 * Mutual exclusion by key (containerd's pkg/kmutex): one holder per key,
 * the others wait first come, first served, and a waiter whose signal
 * aborts stops waiting (rejecting with the signal's reason) without taking
 * the key. A key nobody holds or waits for costs nothing.
 */
export class KeyedMutex {
  /** Held keys, each with its waiters in arrival order. */
  readonly #held = new Map<string, (() => void)[]>();

  /** Whether someone holds `key` now. */
  held(key: string): boolean {
    return this.#held.has(key);
  }

  /** Waits until `key` is this caller's; returns the release (idempotent). */
  async lock(key: string, signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    const waiting = this.#held.get(key);
    if (!waiting) this.#held.set(key, []);
    else {
      await new Promise<void>((resolve, reject) => {
        const go = () => {
          signal.removeEventListener('abort', abort);
          resolve();
        };
        const abort = () => {
          const i = waiting.indexOf(go);
          if (i >= 0) waiting.splice(i, 1);
          reject(signal.reason);
        };
        waiting.push(go);
        signal.addEventListener('abort', abort, { once: true });
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // Handed straight to the next waiter: the key never looks free meanwhile.
      const next = this.#held.get(key)?.shift();
      if (next) next();
      else this.#held.delete(key);
    };
  }
}

/** Runs `fn` holding `key` of `mutex`, released however `fn` ends. */
export async function withKey<T>(
  mutex: KeyedMutex,
  key: string,
  signal: AbortSignal,
  fn: () => Promise<T>,
): Promise<T> {
  const release = await mutex.lock(key, signal);
  try {
    return await fn();
  } finally {
    release();
  }
}
