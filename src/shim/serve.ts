import { closeSync, constants, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../core/log/index.js';
import { dup3, flock, isErrno, LOCK_EX, LOCK_NB, LOCK_UN, O_CLOEXEC } from '../sys/linux.js';
import { TtrpcServer } from '../ttrpc/server.js';
import { socketPath } from '../ttrpc/socket-path.js';
import { beforeExit, codeCacheUsed } from './code-cache.js';
import { Console, ConsoleSocket } from './console.js';
import { deletesDone, probeDefaultRunc } from './container.js';
import type { ShimDeps } from './deps.js';
import { Publisher } from './events.js';
import type { ShimFlags } from './flags.js';
import { createLogger, type LineSink, stderrSink } from './logger.js';
import { OomWatcher } from './oom.js';
import { Reaper } from './reaper.js';
import { TaskService } from './service.js';
import { parseSpareOrder, readSpareOrder, SPARE_ORDER_FD, type SpareOrder } from './spare.js';

/**
 * The daemon: a child subreaper serving containerd.task.v2.Task on
 * `-socket` for every container of its group, publishing events to
 * TTRPC_ADDRESS. Started by `start` with a ready pipe on fd 3: `ok` once
 * listening, `exists` when another daemon already owns the socket (the
 * concurrent start that lost), else the error. Exits after a Shutdown that
 * finds no container left, and on SIGTERM/SIGINT.
 */

const READY_FD = 3;

function answer(text: string): void {
  try {
    writeSync(READY_FD, `${text}\n`);
    closeSync(READY_FD);
  } catch {
    // started by hand, without a ready pipe
  }
}

/** What a daemon sets up before it knows its group: the same for a spare and a started daemon. */
interface Prepared {
  log: Logger;
  reaper: Reaper;
  oom: OomWatcher;
  deps: ShimDeps;
}

function prepare(debug: boolean, sink?: LineSink): Prepared {
  const log = createLogger({ debug, sink }).child({
    runtime: 'io.containerd.berth.v1',
    pid: process.pid,
  });
  const reaper = Reaper.start(log);
  const oom = OomWatcher.create(log);
  const deps: ShimDeps = {
    reaper,
    consoleSocket: (dir) => ConsoleSocket.create(dir),
    console: (fd, l) => new Console(fd, l),
    oom,
  };
  return { log, reaper, oom, deps };
}

export async function serve(flags: ShimFlags): Promise<void> {
  await serveGroup(prepare(flags.debug), flags);
}

/**
 * A spare daemon (src/shim/spare.ts): prepares, asks runc its version, then
 * waits for its order and serves that group as {@link serve} would. Its
 * stderr is /dev/null until the order names the bundle's log FIFO; nothing
 * is logged before (the logger's sink is switched then).
 */
export async function serveSpare(flags: ShimFlags): Promise<void> {
  let sink: LineSink = () => {};
  const prepared = prepare(flags.debug, (line) => sink(line));
  probeDefaultRunc(prepared.deps);
  // What the group's daemon would load only once it serves: net.Server#listen loads node's
  // cluster module on first use (a few ms, when the order came otherwise).
  await import('node:cluster');
  const line = await readSpareOrder(SPARE_ORDER_FD);
  if (line === undefined) {
    // berthd closed the pipe (it stopped, or died) before it needed this spare.
    prepared.oom.close();
    prepared.reaper.close();
    process.exit(0);
  }
  let order: SpareOrder;
  try {
    order = parseSpareOrder(line);
  } catch (err) {
    answer((err as Error).message);
    throw err;
  }
  process.env.NAMESPACE = order.namespace;
  if (order.log !== '') redirectStderr(order.log);
  sink = stderrSink;
  await serveGroup(prepared, { ...flags, ...order, spare: false });
}

/** Makes `path` (a log FIFO whose reader is open) this process's stderr; keeps /dev/null if it cannot. */
function redirectStderr(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK | O_CLOEXEC);
  } catch {
    return;
  }
  try {
    dup3(fd, 2);
  } catch {
    // stderr stays /dev/null
  } finally {
    closeSync(fd);
  }
}

async function serveGroup(prepared: Prepared, flags: ShimFlags): Promise<void> {
  const { log, reaper, oom, deps } = prepared;
  if (flags.socket === '') {
    answer('no -socket to serve on');
    throw new Error('no -socket to serve on');
  }
  const publisher = new Publisher(process.env.TTRPC_ADDRESS ?? '', log);
  const server = new TtrpcServer({ log });
  const lingerMs = lingerFromEnv();
  let lingerTimer: NodeJS.Timeout | undefined;
  // Opt-in (BERTH_SHIM_LINGER_MS): after the Shutdown that left it empty the
  // shim serves on until no request came for that long, so the group's next
  // container (a start's Connect or a Create) finds it alive.
  const linger = (): void => {
    if (lingerTimer) return;
    const check = (): void => {
      lingerTimer = undefined;
      if (service.size > 0) return;
      const quiet = Date.now() - service.lastRequest;
      if (quiet >= lingerMs) void stop(0);
      else lingerTimer = setTimeout(check, lingerMs - quiet);
    };
    lingerTimer = setTimeout(check, lingerMs);
  };
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await server.close().catch(() => {});
    try {
      unlinkSync(`${socketPath(flags.socket)}.lock`);
    } catch {
      // gone already
    }
    // runc deletes started after their Delete answered finish first (runc's state and cgroups).
    await Promise.race([deletesDone(), new Promise((r) => setTimeout(r, 10_000))]);
    await Promise.race([publisher.close(), new Promise((r) => setTimeout(r, 5000))]);
    oom.close();
    reaper.close();
    beforeExit();
    process.exit(code);
  };
  const service = new TaskService({
    namespace: flags.namespace,
    deps,
    events: publisher,
    log,
    debug: flags.debug,
    onShutdown: () => {
      if (lingerMs <= 0) void stop(0);
      else linger();
    },
  });
  service.register(server);
  // Concurrent starts of one group: the lock makes claim-and-listen atomic,
  // so exactly one daemon serves the socket and the others answer `exists`.
  const lock = await lockFile(`${socketPath(flags.socket)}.lock`);
  try {
    await server.listen(flags.socket, 0o600);
  } catch (err) {
    unlock(lock);
    // claimSocketPath refuses a socket another daemon serves: that daemon is the group's shim.
    const msg = (err as Error).message;
    if (isErrno(err, 'EADDRINUSE') || /in use|already|live/i.test(msg)) {
      answer('exists');
      process.exit(0);
    }
    answer(msg);
    throw err;
  }
  unlock(lock);
  // One container's failure must not take the group's supervision down.
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception'));
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  answer('ok');
  // ms since the process started (node's own start included): the group's cold-start cost.
  // process.uptime, not performance.now: the global `performance` loads node:perf_hooks on
  // first use (~4 ms), here right when the daemon's first request comes.
  log.info(
    {
      address: flags.socket,
      readyMs: Math.round(process.uptime() * 1000),
      codeCache: codeCacheUsed(),
    },
    'shim serving',
  );
}

async function lockFile(path: string): Promise<number | undefined> {
  let fd: number;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o711 });
    fd = openSync(path, 'a', 0o600);
  } catch {
    return undefined;
  }
  for (let i = 0; i < 500; i++) {
    try {
      flock(fd, LOCK_EX | LOCK_NB);
      return fd;
    } catch (err) {
      if (!isErrno(err, 'EWOULDBLOCK', 'EAGAIN')) break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  closeSync(fd);
  return undefined;
}

function unlock(fd: number | undefined): void {
  if (fd === undefined) return;
  try {
    flock(fd, LOCK_UN);
    closeSync(fd);
  } catch {
    // closing drops the lock anyway
  }
}

/** BERTH_SHIM_LINGER_MS: how long an empty shim waits for its group's next container (default 0: exits at once). */
function lingerFromEnv(): number {
  const v = Number(process.env.BERTH_SHIM_LINGER_MS ?? '0');
  return Number.isFinite(v) && v > 0 ? Math.min(v, 3_600_000) : 0;
}
