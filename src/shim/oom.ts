/**
 * @module oom
 * OOM events for the containers a shim serves.
 *
 * cgroup v1: an eventfd registered on the container's memory.oom_control
 * (through cgroup.event_control) is signalled on each OOM. All eventfds are
 * waited on with one epoll fd, by one koffi async epoll_wait on libuv's
 * threadpool with a short timeout, in a loop that runs only while something
 * is watched: one pool thread at most, whatever the number of containers.
 * The eventfd is also signalled when the cgroup is removed: that is no OOM,
 * and the watch ends (as containerd's epoller does).
 *
 * cgroup v2: memory.events is watched (inotify through fs.watch) and an OOM
 * reported each time its `oom_kill` count grows.
 */
import {
  closeSync,
  existsSync,
  type FSWatcher,
  openSync,
  readFileSync,
  readSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { join, posix } from 'node:path';
import { notFound } from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import { type MountInfo, parseMountInfo } from '../sys/cgroup.js';
import {
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLLIN,
  epollCreate,
  epollCtl,
  epollWait,
  eventfd,
} from '../sys/linux.js';

/** Where a process's memory cgroup is, and which version. */
export interface MemoryCgroup {
  version: 1 | 2;
  dir: string;
}

/**
 * The memory cgroup directory of a process, from its /proc/<pid>/cgroup text
 * and this process's mounts: the v1 `memory` hierarchy when one is mounted
 * (hybrid hosts included), else the cgroup2 mount. Paths are joined under the
 * mount's own root, as a mount of a sub-tree shows them.
 */
export function memoryCgroup(procCgroup: string, mounts: MountInfo[]): MemoryCgroup | undefined {
  let v1Path: string | undefined;
  let v2Path: string | undefined;
  for (const line of procCgroup.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (line.slice(0, first) === '0' && controllers === '') v2Path = path;
    else if (controllers.split(',').includes('memory')) v1Path = path;
  }
  if (v1Path !== undefined) {
    const m = mounts.find((x) => x.fsType === 'cgroup' && x.superOptions.includes('memory'));
    if (m) return { version: 1, dir: under(m, v1Path) };
  }
  if (v2Path !== undefined) {
    const m = mounts.filter((x) => x.fsType === 'cgroup2').at(-1);
    if (m) return { version: 2, dir: under(m, v2Path) };
  }
  return undefined;
}

function under(m: MountInfo, path: string): string {
  const rel = m.root === '/' ? path : posix.relative(m.root, path);
  if (rel.startsWith('..')) return join(m.mountPoint, path); // not below the mount's root: best effort
  return join(m.mountPoint, rel);
}

/** The `oom_kill` count of a cgroup v2 memory.events text. */
export function oomKillCount(memoryEvents: string): number {
  const m = /^oom_kill (\d+)$/m.exec(memoryEvents);
  return m ? Number(m[1]) : 0;
}

interface V1Watch {
  version: 1;
  id: string;
  dir: string;
  efd: number;
  token: number;
}

interface V2Watch {
  version: 2;
  id: string;
  dir: string;
  watcher: FSWatcher;
  kills: number;
}

type Watch = V1Watch | V2Watch;

/** How long one epoll_wait holds its pool thread; also how long close() may take to free it. */
const WAIT_MS = 1000;

export class OomWatcher {
  private readonly watches = new Map<string, Watch>();
  private readonly byToken = new Map<number, V1Watch>();
  private readonly listeners: ((id: string) => void)[] = [];
  private nextToken = 1;
  private epfd = -1;
  private looping = false;
  private closed = false;
  private mounts: MountInfo[] | undefined;

  private constructor(private readonly log: Logger) {}

  static create(log: Logger): OomWatcher {
    return new OomWatcher(log);
  }

  /** Watches the memory cgroup of `pid` (v1: memory.oom_control via eventfd; v2: memory.events oom_kill). */
  add(id: string, pid: number): void {
    if (this.closed) return;
    this.remove(id);
    this.mounts ??= parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
    const cg = memoryCgroup(readFileSync(`/proc/${pid}/cgroup`, 'utf8'), this.mounts);
    if (!cg) throw notFound(`oom: no memory cgroup found for process ${pid}`);
    this.addCgroup(id, cg);
  }

  /** Watches a memory cgroup directory given directly (`add` finds it from a pid). */
  addCgroup(id: string, cg: MemoryCgroup): void {
    if (this.closed) return;
    this.remove(id);
    if (cg.version === 1) this.addV1(id, cg.dir);
    else this.addV2(id, cg.dir);
  }

  /** Stops watching `id` (nothing if not watched). */
  remove(id: string): void {
    const w = this.watches.get(id);
    if (!w) return;
    this.watches.delete(id);
    if (w.version === 2) {
      w.watcher.close();
      return;
    }
    this.byToken.delete(w.token);
    try {
      epollCtl(this.epfd, EPOLL_CTL_DEL, w.efd);
    } catch {
      // already gone
    }
    closeSync(w.efd);
  }

  onOom(listener: (id: string) => void): void {
    this.listeners.push(listener);
  }

  /** Stops every watch; the epoll fd is closed once the running wait returns (≤ 1 s). */
  close(): void {
    if (this.closed) return;
    for (const id of [...this.watches.keys()]) this.remove(id);
    this.closed = true;
    if (!this.looping) this.closeEpoll();
  }

  private addV1(id: string, dir: string): void {
    if (this.epfd < 0) this.epfd = epollCreate();
    const efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    try {
      const ofd = openSync(join(dir, 'memory.oom_control'), 'r');
      try {
        writeFileSync(join(dir, 'cgroup.event_control'), `${efd} ${ofd}`);
      } finally {
        closeSync(ofd);
      }
      const token = this.nextToken++;
      epollCtl(this.epfd, EPOLL_CTL_ADD, efd, EPOLLIN, token);
      const w: V1Watch = { version: 1, id, dir, efd, token };
      this.watches.set(id, w);
      this.byToken.set(token, w);
    } catch (err) {
      closeSync(efd);
      throw err;
    }
    if (!this.looping) void this.loop();
  }

  private addV2(id: string, dir: string): void {
    const file = join(dir, 'memory.events');
    const read = () => oomKillCount(readFileSync(file, 'utf8'));
    const w: V2Watch = { version: 2, id, dir, kills: read(), watcher: undefined as never };
    w.watcher = watch(file, () => {
      let kills: number;
      try {
        kills = read();
      } catch {
        this.remove(id); // the cgroup is gone
        return;
      }
      if (kills > w.kills) {
        w.kills = kills;
        this.emit(id);
      }
    });
    w.watcher.on('error', () => this.remove(id));
    this.watches.set(id, w);
  }

  private async loop(): Promise<void> {
    this.looping = true;
    const buf = Buffer.alloc(8);
    let failed = false;
    try {
      while (!this.closed && this.byToken.size > 0) {
        let events: Awaited<ReturnType<typeof epollWait>>;
        try {
          events = await epollWait(this.epfd, 16, WAIT_MS);
        } catch (err) {
          this.log.error({ err }, 'oom: epoll_wait failed; OOM events stop');
          failed = true;
          return;
        }
        for (const ev of events) {
          const w = this.byToken.get(ev.data);
          if (!w) continue; // removed while the wait ran
          try {
            readSync(w.efd, buf, 0, 8, null);
          } catch {
            continue; // EAGAIN: read already
          }
          if (!existsSync(join(w.dir, 'memory.oom_control'))) {
            this.remove(w.id); // signalled because the cgroup was removed
            continue;
          }
          this.emit(w.id);
        }
      }
    } finally {
      this.looping = false;
      if (this.closed) this.closeEpoll();
      else if (!failed && this.byToken.size > 0) void this.loop(); // added as the loop ended
    }
  }

  private emit(id: string): void {
    for (const l of this.listeners) {
      try {
        l(id);
      } catch (err) {
        this.log.error({ err, id }, 'oom: listener failed');
      }
    }
  }

  private closeEpoll(): void {
    if (this.epfd < 0) return;
    closeSync(this.epfd);
    this.epfd = -1;
  }
}
