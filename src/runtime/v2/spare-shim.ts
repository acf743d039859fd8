import { existsSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../core/log/index.js';
import { encodeSpareOrder } from '../../shim/spare.js';
import { type Outcome, outcomeOf, READY_TIMEOUT_MS, recordGroupShim } from '../../shim/start.js';
import { setProcessNice } from '../../sys/process.js';
import type { SpawnedChild } from '../../sys/spawn.js';
import { background, type ShimBinaryConfig, type ShimInvocation, shimEnv } from './binary.js';

/**
 * One spare daemon of berth's shim (`-spare`, src/shim/spare.ts), started
 * ahead of need: a container whose group has no shim yet is handed to it
 * ({@link adopt}) instead of waiting for a node start. It runs in its own
 * session, nobody's child (as a daemon after `start`), with fd 4 the order
 * pipe from here and fd 3 its ready pipe back; the end of the order pipe
 * (berthd closing it, or dying) ends a spare that has no group yet.
 *
 * A spare starts at the lowest priority (nice {@link SPARE_NICE}): its node
 * start (~60–90 ms of a core) comes right after a take, while the create
 * that took the last spare still runs, and must not slow it. {@link adopt}
 * gives it berthd's own priority back before the order, so the group
 * daemon, the runc it runs and the containers run as any shim's.
 */
export class SpareShim {
  private readyText = '';
  private readyEnded = false;
  private readonly readyEnd: Promise<void>;
  private taken = false;

  private constructor(
    readonly binary: string,
    private readonly child: SpawnedChild,
    /** The spare's pid, which the shell prints once it put it in the background. */
    private readonly pid: Promise<number>,
  ) {
    child.stdin.on('error', () => {
      // the spare died: its ready pipe ends too, which is what is watched
    });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      if (this.readyText.length < 1 << 16) this.readyText += d;
    });
    this.readyEnd = new Promise((resolve) => {
      const ended = (): void => {
        this.readyEnded = true;
        resolve();
      };
      child.stdout.once('end', ended);
      child.stdout.once('close', ended);
      child.stdout.once('error', ended);
    });
  }

  /** Starts a spare of `binary` (berth's shim), `nice` added to berthd's nice value; throws if it cannot be run. */
  static spawn(cfg: ShimBinaryConfig, binary: string, nice = SPARE_NICE): SpareShim {
    const args = [
      '-c',
      // fd 4 (the order pipe) is the shell's stdin, kept for the daemon: a background
      // command's own stdin is /dev/null.
      `exec 4<&0; nice -n ${nice} "$@" 3>&1 >/dev/null 2>/dev/null </dev/null & echo $! >&2`,
      'sh',
      binary,
      '-spare',
      // Unused until the order (which repeats them), but `ps` shows whose spare it is.
      '-address',
      cfg.address,
      '-publish-binary',
      cfg.publishBinary,
      ...(cfg.debug ? ['-debug'] : []),
    ];
    const bg = background(args, shimEnv(cfg, ''));
    return new SpareShim(binary, bg.child, bg.daemonPid());
  }

  /** False once the spare ended (or was handed a group). */
  get available(): boolean {
    return !this.taken && !this.readyEnded;
  }

  /**
   * Hands the spare the group of `socket` for the container `inv`, as
   * startGroupDaemon starts a daemon for it (the same bundle files, the
   * same answer: the daemon's pid, or the pid of the one that already
   * served the group). Rejects if the spare is gone or fails.
   */
  async adopt(cfg: ShimBinaryConfig, inv: ShimInvocation, socket: string): Promise<number> {
    this.taken = true;
    const spare = await this.pid;
    try {
      if (spare <= 0) throw new Error('the shell printed no pid');
      setProcessNice(spare, getPriority());
    } catch (err) {
      void this.kill();
      this.child.stdin.destroy();
      throw new Error(`spare shim: giving it berthd's priority: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const log = join(inv.bundle, 'log');
    this.child.stdin.end(
      encodeSpareOrder({
        namespace: inv.namespace,
        id: inv.id,
        address: cfg.address,
        publishBinary: cfg.publishBinary,
        socket,
        log: existsSync(log) ? log : '',
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        void this.kill();
        reject(new Error(`spare shim did not listen within ${READY_TIMEOUT_MS} ms`));
      }, READY_TIMEOUT_MS);
    });
    let outcome: Outcome;
    try {
      await Promise.race([this.readyEnd, timedOut]);
      outcome = outcomeOf(this.readyText, () => 0);
    } finally {
      clearTimeout(timer);
    }
    return recordGroupShim(inv.bundle, socket, outcome, () => spare);
  }

  /** Ends a spare that has no group (closing its order pipe); a no-op for an adopted one. */
  close(): void {
    if (!this.taken) this.child.stdin.destroy();
    this.child.stdout.destroy();
    this.child.stderr.destroy();
  }

  private async kill(): Promise<void> {
    const pid = await this.pid;
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}

/**
 * Keeps one spare daemon of berth's shim ready (`spare_shim`, on by
 * default): {@link take} hands it out and starts the next one. A spare that died
 * on its own is not replaced until the next take, so a shim that cannot
 * start costs one attempt per new group, never a loop.
 */
export class SparePool {
  private spare: SpareShim | undefined;
  private refillTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly cfg: ShimBinaryConfig,
    /** berth's shim binary as runtime lookups resolve it now (undefined: not installed). */
    private readonly binary: () => string | undefined,
    private readonly log: Logger,
    private readonly refillDelayMs = REFILL_DELAY_MS,
  ) {}

  /** Starts a spare unless one is ready. */
  fill(): void {
    if (this.closed || this.spare?.available) return;
    this.spare?.close();
    this.spare = undefined;
    const binary = this.binary();
    if (binary === undefined) return;
    try {
      this.spare = SpareShim.spawn(this.cfg, binary);
    } catch (err) {
      this.log.warn({ err, binary }, 'starting a spare shim');
    }
  }

  /**
   * The ready spare of `binary`, if any, now the caller's; the next one
   * starts soon after (also after a take that found none: the first use of
   * berth's shim starts the spares of a daemon whose default runtime is another).
   */
  take(binary: string): SpareShim | undefined {
    if (this.closed) return undefined;
    const s = this.spare;
    this.spare = undefined;
    if (!this.refillTimer) {
      this.refillTimer = setTimeout(() => {
        this.refillTimer = undefined;
        this.fill();
      }, this.refillDelayMs);
      this.refillTimer.unref();
    }
    if (s === undefined) return undefined;
    if (s.binary === binary && s.available) return s;
    s.close();
    return undefined;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.refillTimer);
    this.spare?.close();
    this.spare = undefined;
  }
}

/**
 * How long after a take the next spare starts: at once. Its node start (~60
 * ms of a core) competes with the create that took the last one, but a
 * later start (100 ms was tried) often left the next cold create of a quick
 * `ctr run --rm` loop without a ready spare: 1.3–1.4× the Go shim's cold run
 * instead of 1.2× on this 2-core machine.
 */
const REFILL_DELAY_MS = 0;

/** An idle spare's nice value (the lowest priority), until {@link SpareShim.adopt}. */
export const SPARE_NICE = 19;
