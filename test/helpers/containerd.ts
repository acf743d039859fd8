import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthClient } from '../../src/client/index.js';
import type { TempDir } from './tmp.js';

/**
 * Debian's containerd on its own temporary root, state and sockets, with
 * the CRI plugin off (berth has none yet) and nothing under /run/containerd
 * or /var/lib/containerd.
 */
export class Containerd {
  output = '';
  private constructor(
    readonly proc: ChildProcess,
    readonly socket: string,
  ) {
    proc.stderr?.on('data', (b: Buffer) => {
      if (this.output.length < 1 << 20) this.output += b.toString();
    });
  }

  static async start(dir: TempDir): Promise<Containerd> {
    const socket = join(dir.path, 'containerd.sock');
    const config = join(dir.path, 'containerd.toml');
    writeFileSync(
      config,
      `version = 2
root = "${join(dir.path, 'root')}"
state = "${join(dir.path, 'state')}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[debug]
  level = "warn"
[plugins."io.containerd.internal.v1.opt"]
  path = "${join(dir.path, 'opt')}"
`,
    );
    const proc = spawn('containerd', ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    const c = new Containerd(proc, socket);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`containerd exited:\n${c.output}`);
      const client = new BerthClient(socket);
      try {
        if (await client.isServing()) return c;
      } catch {
        // not up yet
      } finally {
        client.close();
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    proc.kill('SIGKILL');
    throw new Error(`containerd did not serve:\n${c.output}`);
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
}
