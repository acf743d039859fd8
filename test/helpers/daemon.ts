import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { Berthd } from './berthd.js';
import { Containerd } from './containerd.js';
import { type CtrProcess, ctrAsync, ctrOkAsync, ctrSpawn } from './ctr.js';
import { buildAndPush, busyboxImage, type ImageSpec } from './images.js';
import { Registry } from './registry.js';
import { type TempDir, tempDir } from './tmp.js';

/** Which daemon the e2e tests written against {@link TestDaemon} drive. */
export type DaemonKind = 'berthd' | 'containerd';

/** `BERTH_E2E_DAEMON=containerd` runs those tests against Debian's containerd; default berthd. */
export const DAEMON_ENV = 'BERTH_E2E_DAEMON';

/** Where both daemons' runtime v2 keeps one bundle directory per task: `<state>/<this>/<ns>/<id>`. */
export const TASKS_DIR = 'io.containerd.runtime.v2.task';

/** Where the stock shim has runc keep its state for containerd: one directory per namespace. */
const CONTAINERD_RUNC_ROOT = '/run/containerd/runc';

/**
 * runc's state root for a daemon's tasks (runc keeps a task under `<this>/<ns>/<id>`): the stock
 * shim's default for containerd; berthd gives its runc shims `<state>/runc`.
 */
export function runcRoot(d: Pick<TestDaemon, 'kind' | 'state'>): string {
  return d.kind === 'berthd' ? join(d.state, 'runc') : CONTAINERD_RUNC_ROOT;
}

export function daemonKind(): DaemonKind {
  const v = process.env[DAEMON_ENV];
  if (v === undefined || v === '' || v === 'berthd') return 'berthd';
  if (v === 'containerd') return 'containerd';
  throw new Error(`${DAEMON_ENV}=${JSON.stringify(v)}: expected "berthd" or "containerd"`);
}

/**
 * A daemon under test, berthd or containerd, on its own temporary directories.
 * `restart()` starts it again on the same directories (after `kill9()` or
 * `stop()`, or stopping it first if it still runs). `cleanup()` kills what
 * its tasks left (see {@link reapTasks}), the daemon, and removes the dir.
 */
export interface TestDaemon {
  readonly kind: DaemonKind;
  readonly dir: TempDir;
  readonly socket: string;
  readonly root: string;
  readonly state: string;
  /** The current process; changes on restart. */
  readonly pid: number;
  readonly running: boolean;
  /** The daemon's log (stderr, and stdout for berthd) since its last start. */
  readonly output: string;
  stop(): Promise<void>;
  kill9(): Promise<void>;
  restart(): Promise<void>;
  cleanup(): Promise<void>;
}

/** What the two process handles (Berthd, Containerd) have in common. */
interface DaemonProcess {
  readonly dir: TempDir;
  readonly socket: string;
  readonly root: string;
  readonly state: string;
  readonly pid: number;
  readonly running: boolean;
  readonly output: string;
  stop(): Promise<unknown>;
  kill9(): Promise<void>;
}

/**
 * A {@link TestDaemon} over either process handle: `again` starts the
 * daemon anew on the same directories, `afterCleanup` removes what that
 * daemon leaves outside them.
 */
class ManagedDaemon<P extends DaemonProcess> implements TestDaemon {
  constructor(
    readonly kind: DaemonKind,
    private d: P,
    private readonly again: (d: P) => Promise<P>,
    private readonly afterCleanup: () => void = () => {},
  ) {}
  get dir() {
    return this.d.dir;
  }
  get socket() {
    return this.d.socket;
  }
  get root() {
    return this.d.root;
  }
  get state() {
    return this.d.state;
  }
  get pid() {
    return this.d.pid;
  }
  get running() {
    return this.d.running;
  }
  get output() {
    return this.d.output;
  }
  async stop() {
    await this.d.stop();
  }
  kill9() {
    return this.d.kill9();
  }
  async restart() {
    this.d = await this.again(this.d);
  }
  async cleanup() {
    await reapTasks(this);
    await this.d.kill9();
    reapLeftovers(this);
    this.d.dir.remove();
    this.afterCleanup();
  }
}

/** The names in `dir`, or none when it does not exist (yet). */
export function entriesOf(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * runc leaves its namespace directories behind, empty once the containers
 * are gone: removes those not in `before`, with rmdir only (never a
 * non-empty one).
 */
function removeNewRuncDirs(before: ReadonlySet<string>): void {
  for (const ns of entriesOf(CONTAINERD_RUNC_ROOT)) {
    if (before.has(ns)) continue;
    try {
      rmdirSync(join(CONTAINERD_RUNC_ROOT, ns));
    } catch {
      // not empty: something else uses it
    }
  }
}

/** Starts the daemon {@link daemonKind} names on a fresh temp dir. */
export async function startDaemon(kind: DaemonKind = daemonKind()): Promise<TestDaemon> {
  if (kind === 'berthd') {
    return new ManagedDaemon('berthd', await Berthd.start(), async (d) => {
      if (d.running) await d.stop();
      return Berthd.start({ dir: d.dir });
    });
  }
  const dir = tempDir();
  try {
    const runcBefore = new Set(entriesOf(CONTAINERD_RUNC_ROOT));
    return new ManagedDaemon(
      'containerd',
      await Containerd.start(dir),
      (d) => d.restart(),
      () => removeNewRuncDirs(runcBefore),
    );
  } catch (err) {
    dir.remove();
    throw err;
  }
}

/**
 * Starts the daemon and pulls into its `default` namespace an image built
 * offline (default: busyboxImage()) from a throwaway local registry. The
 * returned ref stays valid in the daemon after the registry is gone.
 */
export async function startDaemonWithImage(
  spec: ImageSpec = busyboxImage(),
  kind: DaemonKind = daemonKind(),
): Promise<{ d: TestDaemon; image: string }> {
  const work = tempDir();
  let reg: Registry | undefined;
  let d: TestDaemon | undefined;
  try {
    reg = await Registry.start(work);
    const img = await buildAndPush(work, reg, spec, 'berth/tasks:v1');
    d = await startDaemon(kind);
    await ctrOkAsync(d.socket, ['images', 'pull', '--plain-http', img.pushed.ref], {
      timeoutMs: 60_000,
    });
    return { d, image: img.pushed.ref };
  } catch (err) {
    await d?.cleanup();
    throw err;
  } finally {
    await reg?.stop();
    work.remove();
  }
}

/**
 * A container id unique to this test process: the stock shim keeps runc's
 * state in /run/containerd/runc/<ns>/<id> whatever the daemon, so two test
 * runs (or a system containerd) must not share ids.
 */
export function uniqueId(name: string): string {
  return `berth-${process.pid}-${name}`;
}

// ---------------------------------------------------------------------------
// Processes, mounts and bundles a daemon's tasks leave behind

function procPids(): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined; // gone meanwhile
  }
}

/** argv of a live process, or undefined once it is gone (or a zombie). */
export function cmdline(pid: number): string[] | undefined {
  const raw = readProc(pid, 'cmdline');
  if (raw === undefined || raw === '') return undefined;
  return raw.replace(/\0$/, '').split('\0');
}

/** True while `pid` exists and is not a zombie. */
export function alive(pid: number): boolean {
  const stat = readProc(pid, 'stat');
  if (stat === undefined) return false;
  // The state follows the parenthesised comm, which may itself hold spaces.
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/** The parent pid of a live process (undefined once it is gone). */
export function parentOf(pid: number): number | undefined {
  const stat = readProc(pid, 'stat');
  if (stat === undefined) return undefined;
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Every live process below `pid` (children, their children, …). */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const p of procPids()) {
    const pp = parentOf(p);
    if (pp !== undefined) parents.set(p, pp);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parents) {
      if (pp === p) {
        out.push(c);
        walk(c);
      }
    }
  };
  walk(pid);
  return out;
}

/**
 * Shim processes serving the daemon on `socket`: those whose argv has
 * `-address <socket>` (the stock shim's flag; ctr's is `--address`), but
 * not berthd's idle spare of berth's shim ({@link isIdleSpare}), which
 * serves nothing; `{ spares: true }` includes it.
 */
export function shimPids(socket: string, opts: { spares?: boolean } = {}): number[] {
  return procPids().filter((p) => {
    const argv = cmdline(p);
    if (argv === undefined) return false;
    const i = argv.indexOf('-address');
    if (i < 0 || argv[i + 1] !== socket) return false;
    return opts.spares === true || !isIdleSpare(p, argv);
  });
}

/**
 * berthd's spare daemon of berth's shim (argv `-spare`) while it has no
 * group: it has no child but the `runc --version` it asks once. Once handed
 * a group its argv stays the same, and the group's containers are its children.
 */
export function isIdleSpare(pid: number, argv = cmdline(pid)): boolean {
  if (argv?.includes('-spare') !== true) return false;
  return descendants(pid).every((c) => cmdline(c)?.[1] === '--version');
}

/** berthd's idle spare shims (at most one while it runs; none once it stopped). */
export function spareShimPids(socket: string): number[] {
  return shimPids(socket, { spares: true }).filter((p) => isIdleSpare(p));
}

/** Mount points at or below `dir`, from this process's mountinfo. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)));
}

/** Open file descriptors of `pid`. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** What each fd of `pid` points at (for messages when the count grew). */
export function fdTargets(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).map((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      return '(closed)';
    }
  });
}

/** `{ namespace, id }` of every bundle directory under `<state>/io.containerd.runtime.v2.task`. */
export function bundles(state: string): { namespace: string; id: string; path: string }[] {
  const base = join(state, TASKS_DIR);
  if (!existsSync(base)) return [];
  return readdirSync(base).flatMap((namespace) =>
    readdirSync(join(base, namespace)).map((id) => ({
      namespace,
      id,
      path: join(base, namespace, id),
    })),
  );
}

export async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Through the daemon, if it answers: in every namespace, SIGKILL every
 * process of every task, delete the tasks and the containers. Never throws;
 * what it could not do is left to {@link reapLeftovers}.
 */
export async function reapTasks(d: TestDaemon): Promise<void> {
  if (!d.running) return;
  const ns = await ctrAsync(d.socket, ['namespaces', 'ls', '-q'], { timeoutMs: 10_000 }).catch(
    () => undefined,
  );
  if (ns?.code !== 0) return;
  for (const namespace of ns.stdout.split('\n').filter((l) => l !== '')) {
    const run = (args: string[]) =>
      ctrAsync(d.socket, args, { namespace, timeoutMs: 15_000 }).catch(() => undefined);
    const tasks = (await run(['tasks', 'ls', '-q']))?.stdout.split('\n').filter((l) => l !== '');
    for (const id of tasks ?? []) await run(['tasks', 'kill', '-a', '-s', 'SIGKILL', id]);
    for (const id of tasks ?? []) await run(['tasks', 'rm', '-f', id]);
    const containers = (await run(['containers', 'ls', '-q']))?.stdout
      .split('\n')
      .filter((l) => l !== '');
    if (containers?.length) await run(['containers', 'rm', ...containers]);
  }
}

/**
 * Without the daemon (call it once the daemon is dead): force-deletes with
 * runc every container a bundle is left for (this kills its processes and
 * removes its cgroups and runc state), SIGKILLs the daemon's shims and
 * anything still below them, and unmounts whatever is mounted under the
 * daemon's directories, so the temp dir can go.
 */
export function reapLeftovers(d: TestDaemon): void {
  for (const b of bundles(d.state)) {
    spawnSync('runc', ['--root', join(runcRoot(d), b.namespace), 'delete', '--force', b.id], {
      stdio: 'ignore',
      timeout: 10_000,
    });
  }
  for (const shim of shimPids(d.socket, { spares: true })) {
    for (const p of [...descendants(shim), shim]) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  // Deepest first: a rootfs may hold mounts of its own.
  for (const m of mountsUnder(d.dir.path).sort((a, b) => b.length - a.length)) {
    if (spawnSync('umount', [m], { stdio: 'ignore' }).status !== 0) {
      spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    }
  }
  for (const b of bundles(d.state)) {
    // runc left nothing to do if the container was already gone; its cgroup
    // may still be there, empty, if the shim died first.
    removeEmptyCgroups(b.path);
  }
}

function removeEmptyCgroups(bundle: string): void {
  let path: string | undefined;
  try {
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as {
      linux?: { cgroupsPath?: string };
    };
    path = spec.linux?.cgroupsPath;
  } catch {
    return;
  }
  if (path === undefined || !path.startsWith('/') || path.includes('..')) return;
  for (const controller of readdirSync('/sys/fs/cgroup')) {
    const dir = join('/sys/fs/cgroup', controller, path);
    try {
      rmdirSync(dir);
    } catch {
      // not there, or not empty
    }
  }
}

/**
 * `ctr events` on `socket`, once its subscription is live: it has shown a
 * namespace created after it started. The caller kills it.
 */
export async function ctrEvents(socket: string): Promise<CtrProcess> {
  const events = ctrSpawn(socket, ['events']);
  const probe = uniqueId('probe');
  try {
    await waitFor(
      'ctr events to subscribe',
      async () => {
        await ctrOkAsync(socket, ['namespaces', 'create', probe]);
        await ctrOkAsync(socket, ['namespaces', 'rm', probe]);
        return events.stdout.includes(`/namespaces/create {"name":"${probe}"}`);
      },
      10_000,
    );
  } catch (err) {
    events.kill('SIGKILL');
    throw err;
  }
  return events;
}
