import { closeSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { flock, isErrno, LOCK_EX, LOCK_NB, LOCK_UN } from '../sys/linux.js';
import { TtrpcServer } from '../ttrpc/server.js';
import { socketPath } from '../ttrpc/socket-path.js';
import { Console, ConsoleSocket } from './console.js';
import { deletesDone } from './container.js';
import type { ShimDeps } from './deps.js';
import { Publisher } from './events.js';
import type { ShimFlags } from './flags.js';
import { createLogger } from './logger.js';
import { OomWatcher } from './oom.js';
import { Reaper } from './reaper.js';
import { TaskService } from './service.js';

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

export async function serve(flags: ShimFlags): Promise<void> {
  const log = createLogger({ debug: flags.debug }).child({
    runtime: 'io.containerd.berth.v1',
    pid: process.pid,
  });
  if (flags.socket === '') {
    answer('no -socket to serve on');
    throw new Error('no -socket to serve on');
  }
  const reaper = Reaper.start(log);
  const oom = OomWatcher.create(log);
  const deps: ShimDeps = {
    reaper,
    consoleSocket: (dir) => ConsoleSocket.create(dir),
    console: (fd, l) => new Console(fd, l),
    oom,
  };
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
  log.info({ address: flags.socket, readyMs: Math.round(performance.now()) }, 'shim serving');
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
