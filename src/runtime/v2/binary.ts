import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { DeleteResponse } from '../../api/containerd/task/v2/shim.js';
import { Any } from '../../api/google/protobuf/any.js';
import { deadlineExceeded, internal, invalidArgument, notFound } from '../../core/errdefs/index.js';
import { type AnyValue, anyBuffer, type Exit } from '../../core/tasks/index.js';
import { daemonArgs, type Outcome, readyAnswer, recordGroupShim } from '../../shim/start.js';
import { type SpawnedChild, spawnDetached } from '../../sys/spawn.js';
import { fromTimestamp } from '../../wire/timestamp.js';

/** How a shim binary is found and what every invocation is told about the daemon. */
export interface ShimBinaryConfig {
  /** The daemon's gRPC socket (`-address`). */
  address: string;
  /** Where the shim forwards events (TTRPC_ADDRESS). */
  ttrpcAddress: string;
  /** The daemon's own executable (`-publish-binary`; unused by v2 shims that publish over ttrpc). */
  publishBinary: string;
  /** Absolute paths that override the lookup, by runtime name. */
  paths: Readonly<Record<string, string>>;
  /**
   * Directories searched after PATH: berthd's own `bin/`, where berth's
   * shim (`containerd-shim-berth-v1`) is installed beside `berthd`.
   */
  searchDirs?: readonly string[];
  debug: boolean;
  /** How long `start` and `delete` may take. */
  timeoutMs: number;
}

/**
 * The shim binary of a runtime: an absolute path as is, else
 * `io.containerd.<name>.<version>` → `containerd-shim-<name>-<version>` on
 * PATH, as containerd resolves it, then in `searchDirs`.
 */
export function resolveShimBinary(
  runtime: string,
  cfg: Pick<ShimBinaryConfig, 'paths' | 'searchDirs'>,
): string {
  if (runtime === '') throw invalidArgument('no runtime name');
  const configured = cfg.paths[runtime];
  const explicit = configured ?? (isAbsolute(runtime) ? runtime : undefined);
  if (explicit !== undefined) {
    if (!isExecutable(explicit)) {
      throw notFound(
        `runtime ${JSON.stringify(runtime)}: shim binary ${explicit} is not an executable file`,
      );
    }
    return explicit;
  }
  const parts = runtime.split('.');
  if (parts.length < 2 || parts.some((p) => p === '' || p.includes('/'))) {
    throw invalidArgument(
      `invalid runtime name ${runtime}: expected a name like io.containerd.runc.v2 or an absolute path to a shim`,
    );
  }
  const name = `containerd-shim-${parts[parts.length - 2]}-${parts[parts.length - 1]}`;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...(cfg.searchDirs ?? [])];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  throw notFound(`runtime ${JSON.stringify(runtime)} binary not installed ${JSON.stringify(name)}`);
}

function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface ShimInvocation {
  binary: string;
  namespace: string;
  id: string;
  bundle: string;
}

/** `-namespace <ns> -address <sock> -publish-binary <self>`, then the command's own flags. */
function shimArgs(cfg: ShimBinaryConfig, inv: ShimInvocation, rest: string[]): string[] {
  return [
    '-namespace',
    inv.namespace,
    '-address',
    cfg.address,
    '-publish-binary',
    cfg.publishBinary,
    ...rest,
  ];
}

/** The environment of every shim command: the daemon's addresses, the namespace. */
export function shimEnv(cfg: ShimBinaryConfig, namespace: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GOMAXPROCS: '2',
    TTRPC_ADDRESS: cfg.ttrpcAddress,
    // Read by newer shims (containerd 1.7+); the 1.6 shim ignores them.
    GRPC_ADDRESS: cfg.address,
    NAMESPACE: namespace,
    MAX_SHIM_VERSION: '2',
  };
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
}

/**
 * Runs a shim command in its own session (so a signal to the daemon's group
 * never reaches it, and what it leaves running outlives the daemon) and
 * answers once it has exited and closed its stdout and stderr.
 */
function run(
  cfg: ShimBinaryConfig,
  inv: ShimInvocation,
  args: string[],
  stdin: Uint8Array | undefined,
): Promise<RunResult> {
  let child: SpawnedChild;
  try {
    child = spawnDetached(inv.binary, args, {
      cwd: inv.bundle,
      env: shimEnv(cfg, inv.namespace),
    });
  } catch (e) {
    return Promise.reject(internal(`shim ${inv.binary}: ${(e as Error).message}`, { cause: e }));
  }
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let errBytes = 0;
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => {
    // Warnings only; keep the head if a shim gets chatty.
    if (errBytes < 1 << 16) err.push(b);
    errBytes += b.length;
  });
  const ended = (s: NodeJS.ReadableStream & NodeJS.EventEmitter) =>
    new Promise<void>((resolve) => {
      s.on('error', () => {});
      s.on('close', () => resolve());
    });
  const closed = Promise.all([child.exited, ended(child.stdout), ended(child.stderr)]);
  child.stdin.on('error', () => {
    // A shim that does not read its options closes stdin early.
  });
  if (stdin === undefined) child.stdin.end();
  else child.stdin.end(Buffer.from(stdin));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      child.stdout.destroy();
      child.stderr.destroy();
      reject(
        deadlineExceeded(`shim ${args.at(-1)} ${inv.id}: no answer within ${cfg.timeoutMs} ms`),
      );
    }, cfg.timeoutMs);
    void closed.then(([{ code, signal }]) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
    });
  });
}

function failure(what: string, r: RunResult): Error {
  const how = r.signal ? `signal ${r.signal}` : `exit status ${r.code}`;
  const text = Buffer.concat([r.stdout, r.stderr]).toString('utf8').trim();
  return internal(`${what}: ${how}${text ? `: ${text}` : ''}`);
}

/**
 * `shim start`: the shim daemonises and answers the ttrpc address it serves
 * on (a plain `unix://…` line, or 1.7+'s JSON `{"version","address","protocol"}`).
 * The runtime options go to its stdin as a marshalled Any.
 */
export async function startShim(
  cfg: ShimBinaryConfig,
  inv: ShimInvocation,
  options: AnyValue | undefined,
): Promise<string> {
  const args = shimArgs(cfg, inv, ['-id', inv.id, ...(cfg.debug ? ['-debug'] : []), 'start']);
  const stdin = options === undefined ? undefined : Any.encode(anyBuffer(options)).finish();
  const r = await run(cfg, inv, args, stdin && Buffer.from(stdin));
  if (r.code !== 0) throw failure(`start shim for ${inv.id}`, r);
  return parseShimAddress(r.stdout.toString('utf8'));
}

export function parseShimAddress(out: string): string {
  const text = out.trim();
  if (text.startsWith('{')) {
    let parsed: { version?: number; address?: string; protocol?: string };
    try {
      parsed = JSON.parse(text);
    } catch {
      throw internal(`shim answered malformed bootstrap JSON: ${text}`);
    }
    if (parsed.protocol !== undefined && parsed.protocol !== 'ttrpc') {
      throw invalidArgument(`shim speaks ${parsed.protocol}; berth supports ttrpc shims`);
    }
    if (!parsed.address) throw internal(`shim bootstrap JSON has no address: ${text}`);
    return parsed.address;
  }
  if (!text.startsWith('unix://') && !text.startsWith('/')) {
    throw internal(`shim answered no address: ${JSON.stringify(text.slice(0, 200))}`);
  }
  return text;
}

/**
 * `shim delete`: cleans up after a shim that is gone (the runc shim runs
 * `runc delete --force`) and answers the exit it knows of.
 */
export async function deleteShim(cfg: ShimBinaryConfig, inv: ShimInvocation): Promise<Exit> {
  const args = shimArgs(cfg, inv, ['-id', inv.id, '-bundle', inv.bundle, 'delete']);
  const r = await run(cfg, inv, args, undefined);
  if (r.code !== 0) throw failure(`shim delete ${inv.id}`, r);
  const resp = DeleteResponse.decode(r.stdout);
  return { pid: resp.pid, status: resp.exitStatus, exitedAt: fromTimestamp(resp.exitedAt) };
}

/**
 * Runs the group daemon of berth's shim at `socket` directly, as the
 * shim's `start` would (src/shim/start.ts: the same flags, ready pipe and
 * bundle files), without `start`'s own node process in between. `/bin/sh`
 * puts it in the background with fd 3 the ready pipe, stderr the bundle's
 * `log` FIFO, stdin and stdout /dev/null, and exits at once (so the daemon
 * is nobody's child here, as after `start`), printing its pid. Answers the
 * daemon's pid (0 if another daemon already served the group).
 */
export async function startGroupDaemon(
  cfg: ShimBinaryConfig,
  inv: ShimInvocation,
  socket: string,
): Promise<number> {
  const log = join(inv.bundle, 'log');
  const args = [
    '-c',
    'log=$1; shift; "$@" 3>&1 >/dev/null 2>"$log" </dev/null & echo $! >&2',
    'sh',
    existsSync(log) ? log : '/dev/null',
    inv.binary,
    ...daemonArgs(
      {
        namespace: inv.namespace,
        id: inv.id,
        address: cfg.address,
        publishBinary: cfg.publishBinary,
        debug: cfg.debug,
      },
      socket,
    ),
  ];
  let bg: Backgrounded;
  try {
    bg = background(args, shimEnv(cfg, inv.namespace));
  } catch (e) {
    throw internal(`shim ${inv.binary}: ${(e as Error).message}`, { cause: e });
  }
  const { child, shellDone, daemonPid } = bg;
  child.stdin.end();
  let outcome: Outcome;
  try {
    outcome = await readyAnswer(
      child.stdout,
      () => 0,
      () =>
        void daemonPid().then((pid) => {
          if (pid > 0) process.kill(pid, 'SIGKILL');
        }),
    );
  } catch (err) {
    // The shell's own complaint (a binary it could not run), if it made one.
    await Promise.race([shellDone, new Promise((r) => setTimeout(r, 1000))]);
    const said = /^\d+$/.test(bg.said().trim()) ? '' : `: ${bg.said().trim()}`;
    throw internal(`start shim for ${inv.id}: ${(err as Error).message}${said}`, { cause: err });
  }
  return recordGroupShim(inv.bundle, socket, outcome, daemonPid);
}

/** A daemon put in the background by `/bin/sh -c` ({@link background}). */
export interface Backgrounded {
  /** The shell: its stdin, stdout and stderr pipes are what the script left the daemon. */
  child: SpawnedChild;
  /** Settles once the shell exited and closed its stderr. */
  shellDone: Promise<unknown>;
  /** The daemon's pid, which the script prints (`echo $! >&2`); 0 if it printed none. */
  daemonPid(): Promise<number>;
  /** What the shell wrote on its stderr (the pid, or its complaint). */
  said(): string;
}

/**
 * Runs `sh <args>` in its own session, from `/`: a script that starts a
 * daemon in the background and prints its pid on stderr, so the daemon is
 * nobody's child here (as after a shim's `start`) and outlives berthd.
 */
export function background(args: readonly string[], env: NodeJS.ProcessEnv): Backgrounded {
  const child = spawnDetached('/bin/sh', args, { cwd: '/', env });
  let text = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (text.length < 1 << 16) text += d;
  });
  const shellDone = Promise.all([
    child.exited,
    new Promise((resolve) => child.stderr.once('close', resolve)),
  ]);
  return {
    child,
    shellDone,
    async daemonPid() {
      await shellDone;
      return Number.parseInt(text.trim(), 10) || 0;
    },
    said: () => text,
  };
}
