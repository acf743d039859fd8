import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '../../src/client/index.js';
import { daemonEnv } from './runtime.js';
import type { TempDir } from './tmp.js';

/** Where scripts/install-deps.sh builds containerd 1.7.13 (`BERTH_CONTAINERD17` overrides). */
export const CONTAINERD17_DIR = process.env.BERTH_CONTAINERD17 ?? '/var/tmp/containerd-1.7.13';
/** containerd 1.7.13's `ctr`, `containerd` and `containerd-shim-runc-v2`. */
export const CONTAINERD17_BIN = join(CONTAINERD17_DIR, 'bin');
export const CTR17 = join(CONTAINERD17_BIN, 'ctr');

/** Why containerd 1.7.13 cannot be used here, or undefined when it is built. */
export function containerd17Missing(): string | undefined {
  for (const b of ['ctr', 'containerd', 'containerd-shim-runc-v2']) {
    if (!existsSync(join(CONTAINERD17_BIN, b))) {
      return `containerd 1.7.13 is not built in ${CONTAINERD17_BIN} (scripts/install-deps.sh builds it from ../shared/tools/containerd-1.7)`;
    }
  }
  return undefined;
}

export interface ContainerdOptions {
  /**
   * A directory holding another build's `containerd` and
   * `containerd-shim-runc-v2` (e.g. {@link CONTAINERD17_BIN}); it goes first
   * on the daemon's PATH so its own shim runs. Default: Debian's, on PATH.
   * This checkout's `bin/` (the berth shim) is on the PATH either way.
   */
  binDir?: string;
  /**
   * Start with this config file instead of the generated one (CRI off): root, state and the
   * socket still come from flags on the temp dir; the file must name its own `[ttrpc] address`.
   */
  configFile?: string;
}

/**
 * Debian's containerd (or another build, `binDir`) on its own temporary root, state and sockets, with
 * the CRI plugin off (berth has none yet) and nothing under /run/containerd
 * or /var/lib/containerd (apart from what the stock shim and ctr create
 * there: ttrpc sockets in /run/containerd/s, fifos in /run/containerd/fifo).
 *
 * `kill9()` kills it hard (its shims survive, as they would a crash) and
 * `restart()` starts a new one on the same directories and config.
 */
export class Containerd {
  output = '';
  private readonly exited: Promise<void>;
  private done = false;

  private constructor(
    readonly dir: TempDir,
    readonly proc: ChildProcess,
    readonly socket: string,
    readonly opts: ContainerdOptions,
  ) {
    proc.stderr?.on('data', (b: Buffer) => {
      if (this.output.length < 1 << 20) this.output += b.toString();
    });
    this.exited = new Promise((res) =>
      proc.once('exit', () => {
        this.done = true;
        res();
      }),
    );
  }

  static paths(dir: TempDir) {
    return {
      root: join(dir.path, 'root'),
      state: join(dir.path, 'state'),
      socket: join(dir.path, 'containerd.sock'),
      config: join(dir.path, 'containerd.toml'),
    };
  }

  static async start(dir: TempDir, opts: ContainerdOptions = {}): Promise<Containerd> {
    const p = Containerd.paths(dir);
    if (opts.configFile === undefined) {
      writeFileSync(
        p.config,
        `version = 2
root = "${p.root}"
state = "${p.state}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "${p.socket}"
[ttrpc]
  address = "${p.socket}.ttrpc"
[debug]
  level = "warn"
[plugins."io.containerd.internal.v1.opt"]
  path = "${join(dir.path, 'opt')}"
`,
      );
    }
    const bin = opts.binDir === undefined ? 'containerd' : join(opts.binDir, 'containerd');
    // The checkout's bin/ (the berth shim) on PATH, after binDir's own shim.
    const env = opts.binDir === undefined ? daemonEnv() : daemonEnv(opts.binDir);
    const args =
      opts.configFile === undefined
        ? ['--config', p.config]
        : [
            '--config',
            opts.configFile,
            '--root',
            p.root,
            '--state',
            p.state,
            '--address',
            p.socket,
          ];
    const proc = spawn(bin, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env,
    });
    const c = new Containerd(dir, proc, p.socket, opts);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (!c.running) throw new Error(`containerd exited:\n${c.output}`);
      const client = new Client(p.socket);
      try {
        if (await client.isServing()) return c;
      } catch {
        // not up yet
      } finally {
        client.close();
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await c.kill9();
    throw new Error(`containerd did not serve:\n${c.output}`);
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get root(): string {
    return Containerd.paths(this.dir).root;
  }

  get state(): string {
    return Containerd.paths(this.dir).state;
  }

  get running(): boolean {
    return !this.done && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(t);
  }

  /** SIGKILL and wait for the exit; shims and their containers keep running. */
  async kill9(): Promise<void> {
    if (this.running) this.proc.kill('SIGKILL');
    await this.exited;
  }

  /**
   * Stops this containerd if it still runs (SIGTERM) and starts a new one on
   * the same directories; it reconnects to the shims still alive.
   */
  async restart(): Promise<Containerd> {
    await this.stop();
    return Containerd.start(this.dir, this.opts);
  }
}
