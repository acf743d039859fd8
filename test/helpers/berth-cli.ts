import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './berthd.js';
import { PodNetwork } from './cri-net.js';

/** The `berth` executable (runs the bundle `npm run build` makes). */
export const BERTH = join(REPO, 'bin/berth');

export interface BerthResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface BerthRunOptions {
  /** Written to berth's stdin, then closed (default: stdin closed at once). */
  input?: string | Buffer;
  env?: Record<string, string>;
  /** Killed (SIGKILL, by pid) after this long; default 120 s. */
  timeoutMs?: number;
}

export interface BerthCliOptions {
  socket: string;
  /** berth's --data-root: a temporary directory of the test's own. */
  dataRoot: string;
  /** berth's --cni-netconfpath: the test's own conf dir (its own bridge and subnet). */
  cniConfDir?: string;
  namespace?: string;
  env?: Record<string, string>;
}

/**
 * `berth` against a test daemon, with the test's own data root and CNI conf
 * dir, and none of the caller's CONTAINERD_* variables: exit code, stdout and
 * stderr of each run.
 */
export class BerthCli {
  constructor(readonly opts: BerthCliOptions) {}

  /** The global flags every run gets. */
  globalArgs(): string[] {
    return [
      '--address',
      this.opts.socket,
      '--namespace',
      this.opts.namespace ?? 'default',
      '--data-root',
      this.opts.dataRoot,
      ...(this.opts.cniConfDir !== undefined ? ['--cni-netconfpath', this.opts.cniConfDir] : []),
    ];
  }

  run(args: string[], o: BerthRunOptions = {}): Promise<BerthResult> {
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.opts.env, ...o.env };
    delete env.CONTAINERD_ADDRESS;
    delete env.CONTAINERD_NAMESPACE;
    return new Promise((resolve, reject) => {
      const p = spawn(BERTH, [...this.globalArgs(), ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env,
      });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const t = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 120_000);
      p.on('error', reject);
      p.on('close', (code, signal) => {
        clearTimeout(t);
        resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : -1), stdout, stderr });
      });
      p.stdin.on('error', () => {});
      p.stdin.end(o.input);
    });
  }

  /** Runs and requires exit 0; answers stdout. */
  async ok(args: string[], o: BerthRunOptions = {}): Promise<string> {
    const r = await this.run(args, o);
    if (r.code !== 0) {
      throw new Error(`berth ${args.join(' ')}: exit ${r.code}\n${r.stderr}${r.stdout}`);
    }
    return r.stdout;
  }
}

/**
 * A network for berth's CLI tests: a conflist named `bridge` (so it is the
 * default network `berth run` uses) in the test's own conf dir, on a bridge
 * (`crit…`) and 10.2xx.y.0/24 of the test's own, masquerading off.
 * `remove()` deletes the bridge, its iptables chains and the conflist.
 */
export function cliNetwork(dir: string): PodNetwork {
  const confDir = join(dir, 'net.d');
  const ipamDir = join(dir, 'ipam');
  mkdirSync(confDir, { recursive: true });
  mkdirSync(ipamDir, { recursive: true });
  return PodNetwork.create({ confDir, ipamDir, name: 'bridge' });
}
