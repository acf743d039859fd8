import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from '../../src/client/index.js';
import { daemonEnv } from './runtime.js';
import { type TempDir, tempDir } from './tmp.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const BERTHD = join(REPO, 'bin/berthd');

export interface BerthdOptions {
  /** Reuse the directories of an earlier run (restart tests). */
  dir?: TempDir;
  args?: string[];
  /** Write this TOML and pass it with --config. */
  configToml?: string;
}

/**
 * A berthd on temporary root, state and socket. `stop()` sends SIGTERM and
 * waits; `kill9()` kills it hard. `cleanup()` stops it if needed and removes
 * the temp dir; tests call it in `after`.
 */
export class Berthd {
  readonly root: string;
  readonly state: string;
  readonly socket: string;
  output = '';
  private exited: Promise<number | null>;
  private code: number | null | undefined;

  private constructor(
    readonly dir: TempDir,
    readonly proc: ChildProcess,
  ) {
    this.root = join(dir.path, 'root');
    this.state = join(dir.path, 'state');
    this.socket = join(this.state, 'berth.sock');
    proc.stdout?.on('data', (b: Buffer) => (this.output += b.toString()));
    proc.stderr?.on('data', (b: Buffer) => (this.output += b.toString()));
    this.exited = new Promise((res) =>
      proc.on('exit', (code, signal) => {
        this.code = code ?? (signal ? -1 : null);
        res(code);
      }),
    );
  }

  static paths(dir: TempDir) {
    return {
      root: join(dir.path, 'root'),
      state: join(dir.path, 'state'),
      socket: join(dir.path, 'state', 'berth.sock'),
    };
  }

  /** Starts berthd and waits until its health service answers SERVING. */
  static async start(opts: BerthdOptions = {}): Promise<Berthd> {
    const dir = opts.dir ?? tempDir();
    const p = Berthd.paths(dir);
    const args = [
      '--root',
      p.root,
      '--state',
      p.state,
      '--address',
      p.socket,
      ...(opts.args ?? []),
    ];
    if (opts.configToml !== undefined) {
      const cfg = join(dir.path, 'config.toml');
      mkdirSync(dir.path, { recursive: true });
      writeFileSync(cfg, opts.configToml);
      args.push('--config', cfg);
    }
    // The checkout's bin/ first on PATH: the berth shim berthd starts is this checkout's.
    const proc = spawn(BERTHD, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: false,
      env: daemonEnv(),
    });
    const d = new Berthd(dir, proc);
    try {
      await d.waitServing();
    } catch (err) {
      // Stop it by handle; a directory this call made goes with it.
      await d.kill9();
      if (opts.dir === undefined) dir.remove();
      throw err;
    }
    return d;
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get running(): boolean {
    return this.code === undefined;
  }

  client(namespace?: string): Client {
    return new Client(this.socket, namespace === undefined ? {} : { namespace });
  }

  async waitServing(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new Error(`berthd exited (${this.code}) before serving:\n${this.output}`);
      }
      const c = this.client();
      try {
        if (await c.isServing()) return;
      } catch (err) {
        last = err;
      } finally {
        c.close();
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`berthd did not serve within ${timeoutMs} ms: ${String(last)}\n${this.output}`);
  }

  /** SIGTERM, then wait for exit; returns the exit code. */
  async stop(): Promise<number | null> {
    if (this.running) this.proc.kill('SIGTERM');
    return this.exited;
  }

  async kill9(): Promise<void> {
    if (this.running) this.proc.kill('SIGKILL');
    await this.exited;
  }

  waitExit(): Promise<number | null> {
    return this.exited;
  }

  readPidFile(): number {
    return Number(readFileSync(join(this.state, 'berthd.pid'), 'utf8').trim());
  }

  async cleanup(): Promise<void> {
    await this.kill9();
    this.dir.remove();
  }
}
