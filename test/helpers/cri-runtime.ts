import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeTree } from '../../src/sys/remove-tree.js';
import { Berthd } from './berthd.js';
import { Containerd } from './containerd.js';
import { type CriEnv, reapCriLeftovers, removeAllPods } from './cri.js';
import type { TempDir } from './tmp.js';

export type CriRuntimeKind = 'containerd' | 'berthd';

/** `BERTH_CRI_RUNTIMES=containerd` (or `berthd`) runs only that side of the CRI tests; default both. */
export const CRI_RUNTIMES_ENV = 'BERTH_CRI_RUNTIMES';

export function criRuntimeKinds(): CriRuntimeKind[] {
  const v = process.env[CRI_RUNTIMES_ENV];
  if (v === undefined || v === '' || v === 'both') return ['containerd', 'berthd'];
  const kinds = v.split(',').map((s) => s.trim());
  for (const k of kinds) {
    if (k !== 'containerd' && k !== 'berthd') {
      throw new Error(
        `${CRI_RUNTIMES_ENV}=${JSON.stringify(v)}: expected containerd, berthd or both`,
      );
    }
  }
  return kinds as CriRuntimeKind[];
}

/** A directory under the env's temp dir, removable only inside it. */
function subDir(env: CriEnv, name: string): TempDir {
  const path = join(env.dir.path, name);
  mkdirSync(path, { recursive: true });
  return { path, remove: () => removeTree(path, env.dir.path) };
}

/**
 * A CRI runtime under test on the env's config file and its own directories under the env's temp
 * dir: Debian's containerd 1.6.20 (its CRI plugin) or berthd. `close()` removes its pods through
 * the CRI while it answers, stops it, and reaps what is left (runc containers, shims, mounts).
 */
export class CriRuntime {
  private constructor(
    readonly kind: CriRuntimeKind,
    readonly env: CriEnv,
    private daemon: Containerd | Berthd,
    private readonly dir: TempDir,
  ) {}

  static async start(kind: CriRuntimeKind, env: CriEnv, name: string = kind): Promise<CriRuntime> {
    const dir = subDir(env, name);
    const daemon =
      kind === 'containerd'
        ? await Containerd.start(dir, { configFile: env.config })
        : await Berthd.start({ dir, args: ['--config', env.config] });
    return new CriRuntime(kind, env, daemon, dir);
  }

  get socket(): string {
    return this.daemon.socket;
  }

  get state(): string {
    return this.daemon instanceof Containerd ? this.daemon.state : this.daemon.state;
  }

  get root(): string {
    return this.daemon.root;
  }

  get pid(): number {
    return this.daemon.pid;
  }

  get running(): boolean {
    return this.daemon.running;
  }

  /** The daemon's log since its last start. */
  get output(): string {
    return this.daemon.output;
  }

  async kill9(): Promise<void> {
    await this.daemon.kill9();
  }

  /** Starts the daemon again on the same directories and config (after kill9 or stop). */
  async restart(): Promise<void> {
    if (this.daemon instanceof Containerd) {
      this.daemon = await this.daemon.restart();
    } else {
      await this.daemon.stop();
      this.daemon = await Berthd.start({ dir: this.dir, args: ['--config', this.env.config] });
    }
  }

  async close(): Promise<void> {
    if (this.daemon.running) {
      try {
        removeAllPods(this.env.tools, this.socket);
      } catch {
        // reaped below
      }
    }
    if (this.daemon instanceof Containerd) await this.daemon.stop();
    else await this.daemon.stop();
    reapCriLeftovers({
      socket: this.socket,
      state: this.state,
      runcRoot: this.env.runcRoot,
      dir: this.dir.path,
    });
    this.dir.remove();
  }
}
