/** docker's restart manager: the first restart waits this long. */
export const INITIAL_DELAY_MS = 100;
/** ...each following one twice as long as the last... */
const MULTIPLIER = 2;
/** ...at most this long... */
export const MAX_DELAY_MS = 60_000;
/** ...and a task that ran this long before it exited starts the series again. */
export const RESET_AFTER_MS = 10_000;

/**
 * The delay before one container's next restart, as docker's
 * restartmanager computes it: 100 ms, doubling, capped at 1 min; back to
 * 100 ms when the task had run at least 10 s. State is per container and
 * in memory: after a daemon restart the series starts again.
 */
export class Backoff {
  #delay = 0;

  /**
   * The delay before restarting a task that exited after running `ranMs`
   * (undefined when unknown, e.g. a task the monitor did not start: taken
   * as long-running).
   */
  next(ranMs: number | undefined): number {
    if (ranMs === undefined || ranMs >= RESET_AFTER_MS) this.#delay = 0;
    this.#delay =
      this.#delay === 0 ? INITIAL_DELAY_MS : Math.min(this.#delay * MULTIPLIER, MAX_DELAY_MS);
    return this.#delay;
  }
}
