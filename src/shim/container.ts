import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Mount } from '../api/containerd/types/mount.js';
import { alreadyExists, failedPrecondition, notFound, unknown } from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import { mountAll, unmountAll } from '../sys/mount.js';
import type { ConsoleSocketLike, ShimDeps } from './deps.js';
import { EXEC_FIFO, knownRuncVersion, startByExecFifo } from './exec-fifo.js';
import { ProcessIO } from './io.js';
import { optionsJson, type ShimOptions } from './options.js';
import { Process, type Stdio } from './process.js';
import { type RestoreOpts, Runc, type SpawnFn } from './runc.js';
import { loadProcessCgroup, type ProcessCgroup } from './stats.js';

/**
 * One container of the group: its runc, its init and exec processes, its
 * rootfs mount, its cgroup. What the Go shim's runc.Container and
 * process.Init do; stdio in io.ts.
 */

export interface CreateConfig {
  namespace: string;
  id: string;
  bundle: string;
  rootfs: readonly Mount[];
  stdio: Stdio;
  checkpoint: string;
  parentCheckpoint: string;
  options: ShimOptions;
}

const CONSOLE_TIMEOUT_MS = 30_000;
const IO_DRAIN_MS = 10_000;
/** How long Delete waits for output pipes to reach EOF (the Go shim's 2 s): a daemonized child may hold one. */
const PIPE_DRAIN_MS = 2000;

/** Whether the init's exit must kill the container's other processes: no own pid namespace (containerd's ShouldKillAllOnExit). */
export function shouldKillAllOnExit(spec: unknown): boolean {
  const nss = (spec as { linux?: { namespaces?: { type?: string; path?: string }[] } } | undefined)
    ?.linux?.namespaces;
  if (!Array.isArray(nss)) return true;
  return !nss.some((ns) => ns?.type === 'pid' && !ns.path);
}

/** runc's error for a kill, as the Go shim's checkKillError classifies it. */
export function killError(err: unknown): Error {
  const msg = err instanceof Error ? err.message : String(err);
  if (
    msg.includes('os: process already finished') ||
    msg.includes('container not running') ||
    msg.toLowerCase().includes('no such process') ||
    (err as NodeJS.ErrnoException)?.code === 'ESRCH'
  ) {
    return notFound('process already finished');
  }
  if (msg.includes('does not exist')) return notFound('no such container');
  return unknown(`unknown error after kill: ${msg}`);
}

async function readPid(path: string): Promise<number> {
  const text = await readFile(path, 'utf8');
  const pid = Number.parseInt(text.trim(), 10);
  if (!(pid > 0)) throw unknown(`pid file ${path}: no pid in ${JSON.stringify(text)}`);
  return pid;
}

/** runc deletes still running after their Delete answered, by `<runc root>/<id>`. */
const pendingDeletes = new Map<string, Promise<void>>();

/** Settles once every runc delete started after a Delete answered has finished. */
export async function deletesDone(): Promise<void> {
  while (pendingDeletes.size > 0) await Promise.all(pendingDeletes.values());
}

/** True if the spec has poststop hooks (runc runs them in its delete). */
export function hasPoststopHooks(spec: unknown): boolean {
  const hooks = (spec as { hooks?: { poststop?: unknown[] } } | undefined)?.hooks?.poststop;
  return Array.isArray(hooks) && hooks.length > 0;
}

/** The runc binary of options that name none: the one exec-fifo.ts's start may stand in for. */
const DEFAULT_RUNC = 'runc';

/** Asks the default runc its version ahead of the first Create (a spare daemon does, while idle). */
export function probeDefaultRunc(deps: ShimDeps): void {
  knownRuncVersion(DEFAULT_RUNC, (c, a, o) => deps.reaper.spawn(c, a, o));
}

/**
 * runc state left by a shim killed between a Delete's answer and its
 * deferred `runc delete` (or by any other dead shim): the daemon creates a
 * task only for a container that has none, and this shim serves none of
 * that id, so the state is stale and goes before the create reuses the id.
 */
async function removeStaleState(runc: Runc, id: string, log: Logger): Promise<void> {
  // One stat, synchronously: a failed fs.promises.access builds an error with its stack.
  if (!existsSync(join(runc.config.root, id, 'state.json'))) return;
  log.warn({ id }, 'removing stale runc state of a container of this id before its create');
  await runc.delete(id, true).catch((err) => log.warn({ err, id }, 'runc delete of stale state'));
}

export class Container {
  readonly init: Process;
  readonly execs = new Map<string, Process>();
  private readonly reserved = new Set<string>();
  cgroup: ProcessCgroup | undefined;
  /** The init's pid was reaped: no new exec may start. */
  initExited = false;
  /** The service waits for the init's exit (it sets initExited in the turn that reaps it). */
  initWatched = false;
  /** Execs started and not yet exited (the init's exit is published after theirs). */
  runningExecs = 0;
  private execsDrained: (() => void) | undefined;
  /** Settles once Start published /tasks/start (an exit meanwhile waits for it). */
  starting: Promise<void> | undefined;
  private restore: RestoreOpts | undefined;
  killAllOnExit = true;
  /** runc runs these in its delete: then Delete answers after it, as the Go shim's does. */
  poststopHooks = true;

  private constructor(
    readonly namespace: string,
    readonly id: string,
    readonly bundle: string,
    readonly rootfs: string,
    readonly runc: Runc,
    readonly options: ShimOptions,
    stdio: Stdio,
    private readonly deps: ShimDeps,
    private readonly log: Logger,
  ) {
    this.init = new Process(id, true, stdio);
  }

  get pid(): number {
    return this.init.pid;
  }

  static async create(cfg: CreateConfig, deps: ShimDeps, log: Logger): Promise<Container> {
    const rootfs = cfg.rootfs.length > 0 ? join(cfg.bundle, 'rootfs') : '';
    const o = cfg.options;
    const spawn: SpawnFn = (c, a, opts) => deps.reaper.spawn(c, a, opts);
    const runc = new Runc({
      command: o.binaryName,
      root: join(o.root, cfg.namespace),
      log: join(cfg.bundle, 'log.json'),
      systemdCgroup: o.systemdCgroup,
      spawn,
    });
    // Its answer is there by the Start (see startInitOnce).
    if (o.binaryName === DEFAULT_RUNC) knownRuncVersion(DEFAULT_RUNC, spawn);
    const c = new Container(
      cfg.namespace,
      cfg.id,
      cfg.bundle,
      rootfs,
      runc,
      o,
      cfg.stdio,
      deps,
      log.child({ id: cfg.id, namespace: cfg.namespace }),
    );
    // runc's state of a container of that id must be gone before its create.
    await pendingDeletes.get(join(runc.config.root, cfg.id));
    await removeStaleState(runc, cfg.id, c.log);
    const specRead = readFile(join(cfg.bundle, 'config.json'), 'utf8').then(
      (t) => {
        const parsed = JSON.parse(t);
        c.killAllOnExit = shouldKillAllOnExit(parsed);
        c.poststopHooks = hasPoststopHooks(parsed);
      },
      () => {},
    );
    await writeFile(join(cfg.bundle, 'options.json'), optionsJson(o), { mode: 0o600 });
    if (rootfs) {
      await mkdir(rootfs, { mode: 0o711 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      try {
        mountAll(cfg.rootfs, rootfs);
      } catch (err) {
        throw unknown(`failed to mount rootfs component: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    try {
      await c.createInit(cfg);
    } catch (err) {
      c.init.closeIO();
      // runc may have created it before the failure (a console or pid file problem).
      if (c.init.pid > 0 || cfg.checkpoint === '') {
        await runc.delete(cfg.id, true).catch(() => {});
      }
      if (rootfs) {
        try {
          unmountAll(rootfs);
        } catch (e) {
          c.log.warn({ err: e }, 'failed to cleanup rootfs mount');
        }
      }
      throw err;
    }
    await specRead;
    return c;
  }

  private async createInit(cfg: CreateConfig): Promise<void> {
    const p = this.init;
    const pidFile = join(cfg.bundle, 'init.pid');
    let socket: ConsoleSocketLike | undefined;
    try {
      if (cfg.stdio.terminal) {
        socket = await this.deps.consoleSocket(tmpdir());
      } else {
        p.io = await ProcessIO.open(cfg.stdio, {
          id: cfg.id,
          namespace: cfg.namespace,
          reaper: this.deps.reaper,
          log: this.log,
        });
      }
      if (cfg.checkpoint !== '') {
        // Restored at Start (runc restore --detach), as the Go shim's createdCheckpoint state.
        this.restore = {
          pidFile,
          imagePath: cfg.checkpoint,
          workPath: this.options.criuWorkPath || join(cfg.bundle, 'work'),
          parentPath: cfg.parentCheckpoint,
          noPivot: this.options.noPivotRoot,
          ...(p.io ? { stdio: p.io.stdio } : {}),
        };
        return;
      }
      try {
        await this.runc.create(cfg.id, cfg.bundle, {
          pidFile,
          noPivot: this.options.noPivotRoot,
          noNewKeyring: this.options.noNewKeyring,
          ...(socket ? { consoleSocket: socket.path } : {}),
          ...(p.io ? { stdio: p.io.stdio } : {}),
        });
      } catch (err) {
        throw unknown(`OCI runtime create failed: ${(err as Error).message}`, { cause: err });
      }
      p.io?.started();
      if (socket) await this.attachConsole(p, socket);
      p.pid = await readPid(pidFile);
    } finally {
      socket?.close();
    }
    this.cgroup = await loadProcessCgroup(p.pid);
  }

  private async attachConsole(p: Process, socket: ConsoleSocketLike): Promise<void> {
    let master: number;
    try {
      master = await socket.receive(CONSOLE_TIMEOUT_MS);
    } catch (err) {
      throw unknown(`failed to retrieve console master: ${(err as Error).message}`, {
        cause: err,
      });
    }
    p.console = this.deps.console(master, this.log);
    p.console.start({ stdin: p.stdio.stdin, stdout: p.stdio.stdout });
  }

  /** The init (execId '') or an exec. */
  process(execId: string): Process {
    if (execId === '') return this.init;
    const p = this.execs.get(execId);
    if (!p) throw notFound(`process does not exist ${execId}`);
    return p;
  }

  /** Starts the init: runc start (or restore); its pid. */
  async startInit(): Promise<void> {
    const p = this.init;
    p.check('start');
    if (p.starting) throw failedPrecondition('cannot start a running process');
    p.starting = true;
    try {
      await this.startInitOnce(p);
    } finally {
      p.starting = false;
    }
  }

  private async startInitOnce(p: Process): Promise<void> {
    if (this.restore) {
      const opts = this.restore;
      let socket: ConsoleSocketLike | undefined;
      try {
        if (p.stdio.terminal) socket = await this.deps.consoleSocket(tmpdir());
        await this.runc.restore(this.id, this.bundle, {
          ...opts,
          ...(socket ? { consoleSocket: socket.path } : {}),
        });
        p.io?.started();
        if (socket) await this.attachConsole(p, socket);
      } catch (err) {
        throw unknown(`OCI runtime restore failed: ${(err as Error).message}`, { cause: err });
      } finally {
        socket?.close();
      }
      this.restore = undefined;
      p.pid = await readPid(opts.pidFile);
      this.cgroup = await loadProcessCgroup(p.pid);
    } else {
      try {
        const fifo = join(this.runc.config.root, this.id, EXEC_FIFO);
        const fast =
          p.status === 'created' &&
          this.options.binaryName === DEFAULT_RUNC &&
          !process.env.NOTIFY_SOCKET &&
          knownRuncVersion(DEFAULT_RUNC, this.spawnRunc) &&
          (await startByExecFifo(fifo, this.initGone(p)));
        if (!fast) await this.runc.start(this.id);
      } catch (err) {
        throw unknown(`OCI runtime start failed: ${(err as Error).message}`, { cause: err });
      }
    }
    if (p.status === 'created') p.status = 'running';
  }

  private readonly spawnRunc: SpawnFn = (c, a, opts) => this.deps.reaper.spawn(c, a, opts);

  /** Settles when the init has exited (or is no child of this shim any more). */
  private initGone(p: Process): Promise<unknown> {
    return this.deps.reaper.wait(p.pid).catch(() => undefined);
  }

  /** Adds an exec (created, not started); `id` in use is already_exists. */
  addExec(execId: string, stdio: Stdio, specJson: Uint8Array): Process {
    if (this.execs.has(execId) || this.reserved.has(execId)) {
      throw alreadyExists(`id ${execId}`);
    }
    this.init.check('exec');
    let spec: Record<string, unknown>;
    try {
      spec = JSON.parse(Buffer.from(specJson).toString('utf8')) as Record<string, unknown>;
    } catch (err) {
      throw unknown(`exec ${execId}: process spec: ${(err as Error).message}`);
    }
    spec.terminal = stdio.terminal;
    const p = new Process(execId, false, stdio);
    execSpecs.set(p, spec);
    this.execs.set(execId, p);
    return p;
  }

  /** runc exec --detach: the exec's pid. */
  async startExec(p: Process): Promise<void> {
    p.check('start');
    if (p.starting) throw failedPrecondition('cannot start a running process');
    if (this.initExited || this.init.hasExited) {
      throw failedPrecondition(`container ${this.id} init process is not running`);
    }
    const pidFile = join(this.bundle, `${p.id}.pid`);
    const processFile = join(this.bundle, `.exec-${p.id}.json`);
    let socket: ConsoleSocketLike | undefined;
    p.starting = true;
    try {
      await writeFile(processFile, JSON.stringify(execSpecs.get(p) ?? {}), { mode: 0o600 });
      if (p.stdio.terminal) {
        socket = await this.deps.consoleSocket(tmpdir());
      } else {
        p.io = await ProcessIO.open(p.stdio, {
          id: this.id,
          namespace: this.namespace,
          reaper: this.deps.reaper,
          log: this.log,
        });
      }
      try {
        await this.runc.exec(this.id, {
          pidFile,
          processFile,
          ...(socket ? { consoleSocket: socket.path } : {}),
          ...(p.io ? { stdio: p.io.stdio } : {}),
        });
      } catch (err) {
        throw unknown(`OCI runtime exec failed: ${(err as Error).message}`, { cause: err });
      }
      p.io?.started();
      if (socket) await this.attachConsole(p, socket);
      p.pid = await readPid(pidFile);
      p.status = 'running';
    } catch (err) {
      p.closeIO();
      throw err;
    } finally {
      p.starting = false;
      socket?.close();
      void unlink(processFile).catch(() => {});
    }
    execSpecs.delete(p);
  }

  async kill(execId: string, signal: number, all: boolean): Promise<void> {
    const p = this.process(execId);
    p.check('kill');
    if (p.init && !all && (p.status === 'running' || p.status === 'created') && p.pid > 0) {
      // All `runc kill` does here is kill(2) on the init, after checking that its pid is
      // still the container's: the init is this subreaper's child until reaped, and once
      // watched, initExited is set in the same turn as the reaping, so the pid cannot be
      // another process's. One runc run fewer (as the Go shim signals exec processes). A
      // paused container goes through runc, which thaws it for SIGKILL; so does --all.
      if (this.initWatched && !this.initExited) {
        try {
          process.kill(p.pid, signal);
        } catch (err) {
          throw killError(err);
        }
        return;
      }
    }
    if (p.init) {
      try {
        await this.runc.kill(this.id, signal, all);
      } catch (err) {
        throw killError(err);
      }
      return;
    }
    if (p.pid === 0) throw failedPrecondition('process not created');
    if (p.hasExited) throw notFound('process already finished');
    try {
      process.kill(p.pid, signal);
    } catch (err) {
      throw killError(err);
    }
  }

  /** Kills every process of the container (the init died; no own pid namespace). */
  async killAll(): Promise<void> {
    await this.runc.kill(this.id, 9, true);
  }

  async pause(): Promise<void> {
    const p = this.init;
    p.check('pause');
    p.status = 'pausing';
    try {
      await this.runc.pause(this.id);
    } catch (err) {
      if (p.status === 'pausing') p.status = 'running';
      throw unknown(`OCI runtime pause failed: ${(err as Error).message}`, { cause: err });
    }
    if (p.status === 'pausing') p.status = 'paused';
  }

  async resume(): Promise<void> {
    const p = this.init;
    p.check('resume');
    try {
      await this.runc.resume(this.id);
    } catch (err) {
      throw unknown(`OCI runtime resume failed: ${(err as Error).message}`, { cause: err });
    }
    if (p.status === 'paused') p.status = 'running';
  }

  async update(resources: Uint8Array): Promise<void> {
    this.init.check('update');
    await this.runc.update(this.id, resources);
  }

  async checkpoint(opts: {
    path: string;
    exit: boolean;
    workPath: string;
    openTcp: boolean;
    externalUnixSockets: boolean;
    terminal: boolean;
    fileLocks: boolean;
    emptyNamespaces: string[];
  }): Promise<void> {
    this.init.check('checkpoint');
    const work = opts.workPath || join(this.bundle, 'work', 'criu-work');
    try {
      await this.runc.checkpoint(this.id, {
        imagePath: opts.path,
        workPath: work,
        leaveRunning: !opts.exit,
        allowOpenTcp: opts.openTcp,
        allowExternalUnixSockets: opts.externalUnixSockets,
        allowTerminal: opts.terminal,
        fileLocks: opts.fileLocks,
        emptyNamespaces: opts.emptyNamespaces,
      });
    } catch (err) {
      const first = (err as Error).message.split('\n')[0];
      throw unknown(`${first} path= ${join(this.bundle, 'criu-dump.log')}`, { cause: err });
    } finally {
      if (!opts.workPath) void rm(work, { recursive: true, force: true }).catch(() => {});
    }
  }

  /** Deletes a stopped (or never started) process; the init takes runc's state and the rootfs mount with it. */
  async delete(execId: string): Promise<Process> {
    const p = this.process(execId);
    p.check('delete');
    await drainConsole(p);
    // As the Go shim, give the output copies a moment to reach EOF before closing them.
    await p.io?.drain(PIPE_DRAIN_MS);
    if (!p.init) {
      p.closeIO();
      p.status = 'deleted';
      this.execs.delete(execId);
      void unlink(join(this.bundle, `${execId}.pid`)).catch(() => {});
      return p;
    }
    let error: Error | undefined;
    // A stopped init without poststop hooks: nothing of runc's delete is the client's to
    // wait for; the rootfs is unmounted first and runc deletes after the answer (deleteLater).
    // A created init (alive) is killed by runc's delete: that one waits, as before.
    const later = !this.poststopHooks && p.status === 'stopped';
    if (!later) {
      try {
        await this.runc.delete(this.id);
      } catch (err) {
        if (!(err as Error).message.includes('does not exist')) {
          error = unknown(`failed to delete task: ${(err as Error).message}`, { cause: err });
        }
      }
    }
    p.closeIO();
    if (this.rootfs) {
      try {
        unmountAll(this.rootfs);
      } catch (err) {
        this.log.warn({ err }, 'failed to cleanup rootfs mount');
        error ??= unknown(`failed rootfs umount: ${(err as Error).message}`);
      }
    }
    if (later) {
      // An unmount that failed leaves runc's delete for now: the error is the answer.
      if (error) await this.runc.delete(this.id).catch(() => {});
      else this.deleteLater();
    }
    if (error) throw error;
    p.status = 'deleted';
    return p;
  }

  /**
   * `runc delete` of the stopped init, after Delete answered (a stopped
   * container without poststop hooks: runc's delete then only removes its
   * cgroup and state, which nothing the client does next needs). A Create of
   * the same id waits for it ({@link pendingDeletes}), and so does the shim's
   * exit ({@link deletesDone}). runc's log is not the bundle's, which the
   * client removes once Delete answered.
   */
  private deleteLater(): void {
    const key = join(this.runc.config.root, this.id);
    const runc = new Runc({ ...this.runc.config, log: '/dev/null' });
    // After the answer is written: spawning runc forks this process, some ms of the loop.
    const done = new Promise<void>((r) => setImmediate(r))
      .then(() => runc.delete(this.id))
      .catch((err: Error) => {
        if (err.message.includes('does not exist')) return;
        this.log.warn({ err }, 'runc delete after Delete; forcing');
        return runc.delete(this.id, true).catch((e: Error) => {
          this.log.error({ err: e }, 'runc delete --force after Delete');
        });
      })
      .finally(() => {
        if (pendingDeletes.get(key) === done) pendingDeletes.delete(key);
      });
    pendingDeletes.set(key, done);
  }

  /** Waits (bounded) until no exec of this container runs. */
  execsDone(): Promise<void> {
    if (this.runningExecs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.execsDrained = resolve;
    });
  }

  execExited(): void {
    this.runningExecs--;
    if (this.runningExecs <= 0 && this.execsDrained) {
      const r = this.execsDrained;
      this.execsDrained = undefined;
      r();
    }
  }
}

/** Exec specs until the exec starts (kept off Process, which every process has). */
const execSpecs = new WeakMap<Process, Record<string, unknown>>();

/** Waits (at most 10 s) for a TTY's output to reach its FIFO. */
export async function drainConsole(p: Process): Promise<void> {
  if (!p.console) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p.console.done,
    new Promise<void>((r) => {
      timer = setTimeout(r, IO_DRAIN_MS);
    }),
  ]);
  clearTimeout(timer);
}
