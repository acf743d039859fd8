import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BerthCli, cliNetwork } from './berth-cli.js';
import type { PodNetwork } from './cri-net.js';
import { ctrAsync, ctrOkAsync } from './ctr.js';
import { cmdline, mountsUnder, shimPids, startDaemon, type TestDaemon } from './daemon.js';
import { buildAndPush, type ImageSpec } from './images.js';
import { Registry } from './registry.js';
import { type TempDir, tempDir } from './tmp.js';

/**
 * What berth's end-to-end tests run against: a real berthd on temporary
 * directories, a docker-registry on 127.0.0.1, a default `bridge` network
 * of the test's own (cliNetwork), and `berth` with a data root and Docker
 * config directory of the test's own. `cleanup()` removes every container
 * (through berth, so networks are released), stops berthd, kills what its
 * shims left (by pid), unmounts what is left under the test's directories,
 * removes the network, stops the registry; then it checks that nothing of
 * the test is left and throws, naming it, if something is.
 */
export class CliEnv {
  private constructor(
    readonly work: TempDir,
    readonly d: TestDaemon,
    readonly registry: Registry,
    readonly net: PodNetwork,
    readonly cli: BerthCli,
    readonly dataRoot: string,
  ) {}

  static async start(): Promise<CliEnv> {
    const work = tempDir('berth-cli-');
    let d: TestDaemon | undefined;
    let registry: Registry | undefined;
    let net: PodNetwork | undefined;
    try {
      registry = await Registry.start(work);
      net = cliNetwork(work.path);
      d = await startDaemon('berthd');
      const dataRoot = join(work.path, 'data-root');
      const dockerConfig = join(work.path, 'docker-config');
      mkdirSync(dataRoot);
      mkdirSync(dockerConfig);
      const cli = new BerthCli({
        socket: d.socket,
        dataRoot,
        cniConfDir: net.confDir,
        env: { DOCKER_CONFIG: dockerConfig, NO_COLOR: '1' },
      });
      return new CliEnv(work, d, registry, net, cli, dataRoot);
    } catch (err) {
      await d?.cleanup();
      net?.remove();
      await registry?.stop();
      work.remove();
      throw err;
    }
  }

  /** Builds an image offline and pushes it to the test's registry; answers its reference. */
  async push(spec: ImageSpec, name: string): Promise<string> {
    const img = await buildAndPush(this.work, this.registry, spec, name);
    return img.pushed.ref;
  }

  /** Pushes and pulls into berthd with ctr (setup that does not depend on `berth pull`). */
  async image(spec: ImageSpec, name: string): Promise<string> {
    const ref = await this.push(spec, name);
    await ctrOkAsync(this.d.socket, ['images', 'pull', '--plain-http', ref], {
      timeoutMs: 60_000,
    });
    return ref;
  }

  /** `<dataRoot>/containers/<namespace>/<id>`: berth's per-container state. */
  stateDir(id: string, namespace = 'default'): string {
    return join(this.dataRoot, 'containers', namespace, id);
  }

  /** Every container record berthd has, by namespace. */
  async containers(): Promise<{ namespace: string; id: string }[]> {
    const ns = await ctrAsync(this.d.socket, ['namespaces', 'ls', '-q'], { timeoutMs: 15_000 });
    if (ns.code !== 0) return [];
    const out: { namespace: string; id: string }[] = [];
    for (const namespace of ns.stdout.split('\n').filter((l) => l !== '')) {
      const r = await ctrAsync(this.d.socket, ['containers', 'ls', '-q'], {
        namespace,
        timeoutMs: 15_000,
      });
      for (const id of r.stdout.split('\n').filter((l) => l !== '')) out.push({ namespace, id });
    }
    return out;
  }

  /** What of this test is still there: processes, mounts, network state. */
  leftovers(): string[] {
    const left: string[] = [];
    for (const p of shimPids(this.d.socket)) left.push(`shim pid ${p}`);
    const dirs = [this.work.path, this.d.dir.path];
    for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      const pid = Number(name);
      if (pid === process.pid) continue;
      const argv = cmdline(pid);
      if (argv?.some((a) => dirs.some((dir) => a.includes(dir)))) {
        left.push(`pid ${pid}: ${argv.join(' ')}`);
      }
    }
    for (const dir of dirs) for (const m of mountsUnder(dir)) left.push(`mount ${m}`);
    for (const c of this.net.podChains()) left.push(`iptables chain ${c}`);
    return left;
  }

  async cleanup(): Promise<void> {
    if (this.d.running) {
      for (const { namespace, id } of await this.containers().catch(() => [])) {
        // The restart monitor must not start it again while it goes.
        await ctrAsync(
          this.d.socket,
          ['containers', 'label', id, 'containerd.io/restart.status=stopped'],
          { namespace, timeoutMs: 15_000 },
        ).catch(() => undefined);
        await this.cli
          .run(['-n', namespace, 'rm', '-f', id], { timeoutMs: 60_000 })
          .catch(() => {});
      }
    }
    // Whatever berth could not remove: killed through the daemon, then by pid.
    await this.d.cleanup();
    for (const m of mountsUnder(this.work.path).sort((a, b) => b.length - a.length)) {
      if (spawnSync('umount', [m], { stdio: 'ignore' }).status !== 0) {
        spawnSync('umount', ['-l', m], { stdio: 'ignore' });
      }
    }
    const errors: string[] = [];
    await this.registry.stop();
    if (this.registry.running) errors.push(`registry pid ${this.registry.pid} still runs`);
    const left = this.leftovers();
    try {
      this.net.remove();
    } catch (err) {
      errors.push((err as Error).message);
    }
    this.work.remove();
    for (const dir of [this.work.path, this.d.dir.path]) {
      if (existsSync(dir)) errors.push(`${dir} is still there`);
    }
    if (left.length > 0 || errors.length > 0) {
      throw new Error(`the test left things behind:\n${[...left, ...errors].join('\n')}`);
    }
  }
}

/** Polls `cond` every 100 ms until it holds; fails after `timeoutMs` naming `what` and the last value seen. */
export async function until<T>(
  what: string,
  probe: () => Promise<T>,
  cond: (v: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  for (;;) {
    try {
      last = await probe();
      if (cond(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last: ${
          lastErr !== undefined && last === undefined ? String(lastErr) : JSON.stringify(last)
        }`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
