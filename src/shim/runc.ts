import { type ChildProcess, spawn as nodeSpawn, type SpawnOptions } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { unknown } from '../core/errdefs/index.js';

/**
 * The runc command line, as containerd's go-runc drives it: global flags
 * `--root <root>/<namespace> --log <bundle>/log.json --log-format json
 * [--systemd-cgroup]`, one spawn per command (never a shell). A failed
 * command's error carries runc's own text: the last `error` entry of its
 * JSON log (as the Go shim's runtimeError), else its stderr.
 */

export type SpawnFn = (command: string, args: string[], opts: SpawnOptions) => ChildProcess;

/** A child's fd: an open fd number, or 'ignore' (/dev/null). */
export type StdioFd = number | 'ignore';

export interface RuncConfig {
  /** The runc binary (options' binary_name); default `runc`. */
  command: string;
  /** runc's state root for the namespace: `<root>/<ns>`. */
  root: string;
  /** runc's log file: `<bundle>/log.json`. */
  log: string;
  systemdCgroup: boolean;
  /** How to spawn runc (the reaper's spawn, so it never reaps runc itself). */
  spawn?: SpawnFn;
}

export interface CreateOpts {
  pidFile: string;
  consoleSocket?: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  /** The container's stdio (runc passes its own stdio to the container). */
  stdio?: readonly StdioFd[];
}

export interface ExecOpts {
  pidFile: string;
  /** A file holding the process spec JSON (`--process`). */
  processFile: string;
  consoleSocket?: string;
  stdio?: readonly StdioFd[];
}

export interface CheckpointOpts {
  imagePath: string;
  workPath?: string;
  parentPath?: string;
  leaveRunning?: boolean;
  allowOpenTcp?: boolean;
  allowExternalUnixSockets?: boolean;
  allowTerminal?: boolean;
  fileLocks?: boolean;
  emptyNamespaces?: readonly string[];
}

export interface RestoreOpts extends Omit<CheckpointOpts, 'leaveRunning'> {
  pidFile: string;
  consoleSocket?: string;
  noPivot?: boolean;
  stdio?: readonly StdioFd[];
}

/** `runc state` output, the fields the shim reads. */
export interface RuncState {
  id: string;
  pid: number;
  status: string;
  bundle: string;
}

export function globalArgs(c: RuncConfig): string[] {
  const a = ['--root', c.root, '--log', c.log, '--log-format', 'json'];
  if (c.systemdCgroup) a.push('--systemd-cgroup');
  return a;
}

export function createArgs(id: string, bundle: string, o: CreateOpts): string[] {
  const a = ['create', '--bundle', bundle, '--pid-file', o.pidFile];
  if (o.consoleSocket) a.push('--console-socket', o.consoleSocket);
  if (o.noPivot) a.push('--no-pivot');
  if (o.noNewKeyring) a.push('--no-new-keyring');
  a.push(id);
  return a;
}

export function execArgs(id: string, o: ExecOpts): string[] {
  const a = ['exec', '--detach', '--process', o.processFile, '--pid-file', o.pidFile];
  if (o.consoleSocket) a.push('--console-socket', o.consoleSocket);
  a.push(id);
  return a;
}

export function killArgs(id: string, signal: number, all: boolean): string[] {
  return all ? ['kill', '--all', id, String(signal)] : ['kill', id, String(signal)];
}

function criuArgs(o: Omit<CheckpointOpts, 'leaveRunning'>): string[] {
  const a = ['--image-path', o.imagePath];
  if (o.workPath) a.push('--work-path', o.workPath);
  if (o.parentPath) a.push('--parent-path', o.parentPath);
  if (o.allowOpenTcp) a.push('--tcp-established');
  if (o.allowExternalUnixSockets) a.push('--ext-unix-sk');
  if (o.allowTerminal) a.push('--shell-job');
  if (o.fileLocks) a.push('--file-locks');
  for (const ns of o.emptyNamespaces ?? []) a.push('--empty-ns', ns);
  return a;
}

export function checkpointArgs(id: string, o: CheckpointOpts): string[] {
  const a = ['checkpoint', ...criuArgs(o)];
  if (o.leaveRunning) a.push('--leave-running');
  a.push(id);
  return a;
}

export function restoreArgs(id: string, bundle: string, o: RestoreOpts): string[] {
  const a = ['restore', '--detach', '--no-subreaper', '--bundle', bundle, '--pid-file', o.pidFile];
  a.push(...criuArgs(o));
  if (o.consoleSocket) a.push('--console-socket', o.consoleSocket);
  if (o.noPivot) a.push('--no-pivot');
  a.push(id);
  return a;
}

/** The last `error` entry of runc's JSON log text ('' if none). */
export function lastRuncError(logText: string): string {
  let msg = '';
  for (const line of logText.split('\n')) {
    if (!line.includes('"error"')) continue;
    try {
      const e = JSON.parse(line) as { level?: string; msg?: string };
      if (e.level === 'error' && typeof e.msg === 'string') msg = e.msg.trim();
    } catch {
      // a partial line
    }
  }
  return msg;
}

const MAX_OUTPUT = 4 << 20;

export class Runc {
  private readonly spawnFn: SpawnFn;

  constructor(readonly config: RuncConfig) {
    this.spawnFn = config.spawn ?? nodeSpawn;
  }

  async create(id: string, bundle: string, o: CreateOpts): Promise<void> {
    await this.run(createArgs(id, bundle, o), { stdio: o.stdio });
  }

  async start(id: string): Promise<void> {
    await this.run(['start', id]);
  }

  async exec(id: string, o: ExecOpts): Promise<void> {
    await this.run(execArgs(id, o), { stdio: o.stdio });
  }

  async kill(id: string, signal: number, all = false): Promise<void> {
    await this.run(killArgs(id, signal, all));
  }

  async delete(id: string, force = false): Promise<void> {
    await this.run(force ? ['delete', '--force', id] : ['delete', id]);
  }

  async pause(id: string): Promise<void> {
    await this.run(['pause', id]);
  }

  async resume(id: string): Promise<void> {
    await this.run(['resume', id]);
  }

  /** `runc update --resources -` with the LinuxResources JSON on stdin. */
  async update(id: string, resourcesJson: string | Uint8Array): Promise<void> {
    await this.run(['update', '--resources', '-', id], { input: resourcesJson });
  }

  async ps(id: string): Promise<number[]> {
    const out = await this.run(['ps', '--format', 'json', id]);
    const pids = JSON.parse(out.toString('utf8') || '[]') as number[] | null;
    return pids ?? [];
  }

  async state(id: string): Promise<RuncState> {
    const out = await this.run(['state', id]);
    return JSON.parse(out.toString('utf8')) as RuncState;
  }

  async checkpoint(id: string, o: CheckpointOpts): Promise<void> {
    await this.run(checkpointArgs(id, o));
  }

  async restore(id: string, bundle: string, o: RestoreOpts): Promise<void> {
    await this.run(restoreArgs(id, bundle, o), { stdio: o.stdio });
  }

  /**
   * Runs one runc command; resolves its stdout. With `stdio` given, runc's
   * stdio are those fds (handed on to the container) and only its exit
   * status and log tell how it went.
   */
  private run(
    args: string[],
    opts: { stdio?: readonly StdioFd[] | undefined; input?: string | Uint8Array } = {},
  ): Promise<Buffer> {
    const full = [...globalArgs(this.config), ...args];
    const stdio = opts.stdio
      ? [...opts.stdio]
      : [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'];
    return new Promise((resolve, reject) => {
      let child: ChildProcess;
      try {
        child = this.spawnFn(this.config.command, full, {
          stdio: stdio as SpawnOptions['stdio'],
          cwd: '/',
        });
      } catch (err) {
        reject(unknown(`runc ${args[0]}: ${(err as Error).message}`, { cause: err }));
        return;
      }
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      let size = 0;
      child.stdout?.on('data', (b: Buffer) => {
        size += b.length;
        if (size <= MAX_OUTPUT) out.push(b);
      });
      child.stderr?.on('data', (b: Buffer) => {
        if (errOut.length < 64) errOut.push(b);
      });
      if (opts.input !== undefined && child.stdin) {
        child.stdin.on('error', () => {});
        child.stdin.end(opts.input);
      }
      let spawnError: Error | undefined;
      child.on('error', (err) => {
        spawnError = err;
      });
      child.on('close', (code, signal) => {
        if (code === 0) {
          resolve(Buffer.concat(out));
          return;
        }
        const stderr = Buffer.concat(errOut).toString('utf8').trim();
        void this.failure(args[0] ?? 'runc', code, signal, stderr, spawnError).then(reject);
      });
    });
  }

  private async failure(
    command: string,
    code: number | null,
    signal: NodeJS.Signals | null,
    stderr: string,
    spawnError: Error | undefined,
  ): Promise<Error> {
    let msg = '';
    try {
      msg = lastRuncError(await readFile(this.config.log, 'utf8'));
    } catch {
      // no log yet
    }
    if (!msg) msg = stderrMessage(stderr);
    if (!msg && spawnError) msg = spawnError.message;
    if (!msg) msg = signal ? `runc ${command} killed by ${signal}` : `exit status ${code}`;
    return unknown(msg);
  }
}

/** runc's stderr without its `time=… level=error msg="…"` wrapping, if it has that shape. */
function stderrMessage(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  const last = lines.at(-1) ?? '';
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(last);
  if (m?.[1] !== undefined) return m[1].replace(/\\(.)/g, '$1');
  return last.trim();
}
