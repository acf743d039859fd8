import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { e2eRuntime, withRuntimeFlag } from './runtime.js';

export interface CtrResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CtrOptions {
  namespace?: string;
  /** Default 30 s; the process is killed (SIGKILL) after it. */
  timeoutMs?: number;
  /** Another ctr binary (containerd 1.7's, `CTR17` in containerd.ts); default Debian's `ctr`. */
  bin?: string;
}

function ctrEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.CONTAINERD_NAMESPACE;
  delete env.CONTAINERD_ADDRESS;
  return env;
}

/**
 * ctr's argv: the daemon's socket and namespace, then `args`, with
 * `--runtime $BERTH_E2E_RUNTIME` added to `run` and `containers create`
 * (test/helpers/runtime.ts) when that is set.
 */
function ctrArgs(socket: string, args: string[], opts: CtrOptions): string[] {
  const ns = opts.namespace === undefined ? [] : ['--namespace', opts.namespace];
  return ['--address', socket, ...ns, ...withRuntimeFlag(args, e2eRuntime())];
}

function failed(args: string[], r: CtrResult): Error {
  return new Error(`ctr ${args.join(' ')} exited ${r.code}:\n${r.stdout}${r.stderr}`);
}

/** Runs Debian's real `ctr` against `socket`. */
export function ctr(socket: string, args: string[], opts: CtrOptions = {}): CtrResult {
  const r = spawnSync(opts.bin ?? 'ctr', ctrArgs(socket, args, opts), {
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 30_000,
    env: ctrEnv(),
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Like {@link ctr}, but throws with ctr's output unless it exits 0. */
export function ctrOk(socket: string, args: string[], opts: CtrOptions = {}): string {
  const r = ctr(socket, args, opts);
  if (r.code !== 0) throw failed(args, r);
  return r.stdout;
}

/**
 * A `ctr` running in the background (`ctr events`, `ctr task attach`, …):
 * its output accumulates in `stdout`/`stderr`; `kill()` signals it by pid.
 */
export class CtrProcess {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  /** Resolves with the exit code (null if killed by a signal). */
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  constructor(cmd: string, argv: string[], opts: { stdin?: 'pipe' | 'ignore' } = {}) {
    this.proc = spawn(cmd, argv, {
      stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
      env: ctrEnv(),
    });
    this.proc.stdout?.on('data', (b: Buffer) => (this.stdout += b.toString()));
    this.proc.stderr?.on('data', (b: Buffer) => (this.stderr += b.toString()));
    this.exited = new Promise((res, rej) => {
      this.proc.once('error', rej);
      this.proc.once('close', (code) => {
        this.exitCode = code;
        res(code);
      });
    });
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  write(data: string): void {
    this.proc.stdin?.write(data);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.proc.kill(signal);
  }

  /** Waits until `stdout` satisfies `test`; throws with the output on timeout or exit. */
  async waitOutput(
    what: string,
    test: (out: string) => boolean,
    timeoutMs = 20_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!test(this.stdout)) {
      if (!this.running || Date.now() > deadline) {
        throw new Error(
          `${!this.running ? 'exited' : `timed out after ${timeoutMs} ms`} waiting for ${what}; stdout:\n${this.stdout}\nstderr:\n${this.stderr}`,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** Starts `ctr` in the background. */
export function ctrSpawn(
  socket: string,
  args: string[],
  opts: CtrOptions & { stdin?: 'pipe' | 'ignore' } = {},
): CtrProcess {
  return new CtrProcess(opts.bin ?? 'ctr', ctrArgs(socket, args, opts), opts);
}

/**
 * Like {@link ctr} without blocking the event loop, which matters when the
 * daemon is this process's child and must have its log pipe drained.
 */
export async function ctrAsync(
  socket: string,
  args: string[],
  opts: CtrOptions = {},
): Promise<CtrResult> {
  const p = ctrSpawn(socket, args, opts);
  const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  try {
    const code = await p.exited;
    return { code, stdout: p.stdout, stderr: p.stderr };
  } finally {
    clearTimeout(t);
  }
}

/** Like {@link ctrOk} without blocking the event loop. */
export async function ctrOkAsync(
  socket: string,
  args: string[],
  opts: CtrOptions = {},
): Promise<string> {
  const r = await ctrAsync(socket, args, opts);
  if (r.code !== 0) throw failed(args, r);
  return r.stdout;
}

/** Quotes one word for sh. */
export function shQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface TtyOptions extends CtrOptions {
  /** The terminal's size, set with stty on the pty before ctr starts. Default 24×80. */
  rows?: number;
  cols?: number;
}

/**
 * Runs `ctr` with a terminal: util-linux `script` gives it a pty whose size
 * is set with `stty rows R cols C` first (the size ctr reads from its stdin
 * and passes to the task). What is written with `write()` reaches ctr as
 * typed input; `stdout` is the terminal's output (CRLF line ends).
 */
export function ctrTty(socket: string, args: string[], opts: TtyOptions = {}): CtrProcess {
  const argv = ['ctr', ...ctrArgs(socket, args, opts)].map(shQuote).join(' ');
  const inner = `stty rows ${opts.rows ?? 24} cols ${opts.cols ?? 80} && exec ${argv}`;
  // -e: script exits with ctr's status; -E never: script's own stdin is a pipe.
  return new CtrProcess('script', ['-qefc', inner, '-E', 'never', '/dev/null'], { stdin: 'pipe' });
}

/** Splits ctr's tabwriter output into rows of whitespace-separated cells. */
export function table(out: string): string[][] {
  return out
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.trim().split(/\s+/));
}

export interface TaskRow {
  id: string;
  pid: number;
  status: string;
}

/** `ctr task ls`: TASK PID STATUS. */
export async function taskList(socket: string, opts: CtrOptions = {}): Promise<TaskRow[]> {
  const out = await ctrOkAsync(socket, ['tasks', 'ls'], opts);
  const rows = table(out);
  if (rows[0]?.join(' ') !== 'TASK PID STATUS') throw new Error(`ctr tasks ls header:\n${out}`);
  return rows.slice(1).map((r) => {
    if (r.length !== 3) throw new Error(`ctr tasks ls row ${JSON.stringify(r)}:\n${out}`);
    return { id: r[0] ?? '', pid: Number(r[1]), status: r[2] ?? '' };
  });
}
