/**
 * @module
 * The disk usage of the CRI namespace's snapshots, as containerd's CRI
 * plugin keeps it (its snapshot store and `snapshotsSyncer`): every
 * `stats_collect_period` the snapshotter's snapshots are listed and each
 * one's usage (bytes and inodes of its own layer) is recorded with the time
 * it was taken. ImageFsInfo sums them; a container's writable layer is the
 * usage of the snapshot named by its id. Measuring an active snapshot walks
 * its directory, which is why active snapshots are measured periodically
 * and not per request.
 *
 * Unlike containerd, ImageFsInfo does not wait for the next period to see a
 * pull: a committed snapshot never changes, so each is measured once, when
 * it is first seen, and listing them (which is cheap) is enough to keep the
 * sum current.
 */
import { isNotFound } from '../../core/errdefs/index.js';
import type { Logger } from '../../core/log/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { Snapshotter } from '../../core/snapshots/index.js';

export interface SnapshotUsage {
  /** When it was measured, nanoseconds since the epoch. */
  timestamp: bigint;
  /** Bytes of this snapshot's own layer. */
  size: number;
  inodes: number;
}

export function nowNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** Usage of every snapshot of one snapshotter, in one namespace, refreshed periodically. */
export class SnapshotUsageStore {
  private usage = new Map<string, SnapshotUsage>();
  private timer: NodeJS.Timeout | undefined;
  /** The measure in progress and whether it re-measures active snapshots. */
  private running: { all: boolean; done: Promise<void> } | undefined;

  constructor(
    private readonly snapshotter: Snapshotter,
    /** A context in the CRI namespace; its signal ends the syncing. */
    private readonly ctx: OpContext,
    private readonly log: Logger = ctx.log,
  ) {}

  /** Re-measures every snapshot now (a caller joins a full measure in progress). */
  sync(): Promise<void> {
    return this.run(true);
  }

  /** Measures the snapshots not measured yet and forgets the ones gone. */
  refresh(): Promise<void> {
    return this.run(false);
  }

  private async run(all: boolean): Promise<void> {
    while (this.running !== undefined) {
      const r = this.running;
      await r.done.catch(() => {});
      if (r.all || !all) return;
    }
    const done = this.measure(all).finally(() => {
      this.running = undefined;
    });
    this.running = { all, done };
    return done;
  }

  private async measure(all: boolean): Promise<void> {
    const next = new Map<string, SnapshotUsage>();
    for (const info of await this.snapshotter.list(this.ctx)) {
      if (this.ctx.signal.aborted) return;
      const last = this.usage.get(info.name);
      // A committed snapshot does not change; an active one waits for the period.
      if (last !== undefined && (!all || info.kind === 'committed')) {
        next.set(info.name, last);
        continue;
      }
      const timestamp = nowNanos();
      try {
        const u = await this.snapshotter.usage(this.ctx, info.name);
        next.set(info.name, { timestamp, size: u.size, inodes: u.inodes });
      } catch (err) {
        // Removed meanwhile; anything else keeps the last measure.
        if (isNotFound(err)) continue;
        if (last !== undefined) next.set(info.name, last);
        this.log.warn({ err, snapshot: info.name }, 'measuring a snapshot failed');
      }
    }
    this.usage = next;
  }

  /** Starts syncing every `periodMs` (containerd: `stats_collect_period` seconds), the first at once. */
  start(periodMs: number): void {
    if (this.timer !== undefined) return;
    const tick = () => {
      this.sync().catch((err: unknown) => this.log.warn({ err }, 'syncing snapshot usage failed'));
    };
    tick();
    this.timer = setInterval(tick, periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The last measure of a snapshot (a container's writable layer); undefined when none yet. */
  get(key: string): SnapshotUsage | undefined {
    return this.usage.get(key);
  }

  /**
   * The sum over every snapshot there is now, timestamped with the oldest
   * measure (containerd's ImageFsInfo).
   */
  async total(): Promise<SnapshotUsage> {
    await this.refresh();
    let timestamp = nowNanos();
    let size = 0;
    let inodes = 0;
    for (const u of this.usage.values()) {
      if (u.timestamp < timestamp) timestamp = u.timestamp;
      size += u.size;
      inodes += u.inodes;
    }
    return { timestamp, size, inodes };
  }
}
