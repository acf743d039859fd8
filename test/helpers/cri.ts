import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CNI_BIN_DIR, PodNetwork, removeNewShmSegments, shmSegments } from './cri-net.js';
import { bundles, descendants, mountsUnder, shimPids } from './daemon.js';
import { Registry } from './registry.js';
import { sharedToolsDir } from './shared-tools.js';
import { type TempDir, tempDir } from './tmp.js';

const REPO = resolve(import.meta.dirname, '../..');
const PREPARE = join(REPO, 'test/cri/prepare.sh');

/** The registries critest names that the tests mirror to their own local registry. */
export const MIRRORED_REGISTRIES = ['registry.k8s.io', 'gcr.io', '_default'];

/** The sandbox image, as containerd 1.6's default and the CRI config here. */
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.6';

export interface CriTools {
  crictl: string;
  critest: string;
  /** A docker-registry storage holding every image critest pulls, under the upstream paths. */
  registryStorage: string;
}

let prepared: CriTools | undefined;

/**
 * Why the CRI tests cannot run here, or undefined. Root, the shared tools (cri-tools' source and
 * scripts) and the CNI plugins are needed; the rest `prepareCriTools` builds.
 */
export function criMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'the CRI tests need root (pods, bridges, iptables)';
  const tools = sharedToolsDir();
  if (tools === undefined || !existsSync(join(tools, 'cri-tools/build.sh'))) {
    return 'no shared tools with cri-tools (../shared/tools/cri-tools, or BERTH_SHARED_TOOLS)';
  }
  for (const p of ['bridge', 'host-local', 'portmap', 'loopback']) {
    if (!existsSync(join(CNI_BIN_DIR, p))) {
      return `no CNI plugin ${join(CNI_BIN_DIR, p)} (apt-get install containernetworking-plugins)`;
    }
  }
  return undefined;
}

/**
 * Builds crictl and critest and the critest images into a registry storage, once per machine
 * (test/cri/prepare.sh: cached under /var/tmp, instant when done, serialised by a lock).
 */
export function prepareCriTools(): CriTools {
  if (prepared !== undefined) return prepared;
  const r = spawnSync('bash', [PREPARE], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) {
    throw new Error(`test/cri/prepare.sh exited ${r.status}:\n${r.stderr}`);
  }
  const vars = Object.fromEntries(
    r.stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const bin = vars.CRI_TOOLS_BIN;
  const storage = vars.CRI_REGISTRY_STORAGE;
  if (bin === undefined || storage === undefined) {
    throw new Error(`test/cri/prepare.sh printed no paths:\n${r.stdout}${r.stderr}`);
  }
  prepared = {
    crictl: join(bin, 'crictl'),
    critest: join(bin, 'critest'),
    registryStorage: storage,
  };
  return prepared;
}

export interface CriConfigOptions {
  /** The runc runtime's state root (`options.Root`); under the test's dir. */
  runcRoot: string;
  confDir: string;
  certsDir: string;
  /** A containerd-only `[ttrpc] address` (berthd ignores the table). */
  ttrpcAddress: string;
  /** containerd's opt plugin directory (else /opt/containerd). */
  optDir: string;
  sandboxImage?: string;
  logLevel?: string;
}

/**
 * The one config file both daemons read (root, state and socket come from their flags): the CRI
 * settings that score 79/79 with containerd 1.6 here (cri-tools' README), under containerd's
 * names, which berthd reads as well.
 */
export function criConfigToml(o: CriConfigOptions): string {
  const q = JSON.stringify;
  return `version = 2

[ttrpc]
  address = ${q(o.ttrpcAddress)}

[debug]
  level = ${q(o.logLevel ?? 'warn')}

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(o.optDir)}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(o.sandboxImage ?? PAUSE_IMAGE)}
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = ${q(o.runcRoot)}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${q(CNI_BIN_DIR)}
    conf_dir = ${q(o.confDir)}
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ${q(o.certsDir)}
`;
}

/** A hosts.toml sending every pull of `host` (path kept) to `registry`, with no fallback upstream. */
export function mirrorHostsToml(registry: string): string {
  return hostsTomlFor(`http://${registry}`);
}

function hostsTomlFor(url: string): string {
  return `server = "${url}"

[host."${url}"]
  capabilities = ["pull", "resolve"]
`;
}

/** `<certsDir>/<host>/hosts.toml` for each of `hosts`, mirroring them to `registryUrl` (`http://...`). */
export function writeMirrors(
  certsDir: string,
  hosts: readonly string[],
  registryUrl: string,
): void {
  for (const host of hosts) {
    mkdirSync(join(certsDir, host), { recursive: true });
    writeFileSync(join(certsDir, host, 'hosts.toml'), hostsTomlFor(registryUrl));
  }
}

export interface CriEnvOptions {
  /** Extra CNI plugins after bridge and portmap in the conflist. */
  extraPlugins?: object[];
  logLevel?: string;
}

/**
 * Everything a CRI runtime under test needs, on the test's own resources: a temp dir, a
 * docker-registry on a free port serving the prepared critest images, hosts.toml mirrors of
 * registry.k8s.io, gcr.io and `_default` to it, a pod network of its own (bridge, subnet,
 * conflist, IPAM dir) and the daemons' config file. `close()` undoes all of it, and removes the
 * SysV shm segments that appeared meanwhile unattached (critest's HostIpc specs leave some).
 */
export class CriEnv {
  private constructor(
    readonly tools: CriTools,
    readonly dir: TempDir,
    readonly registry: Registry,
    readonly network: PodNetwork,
    readonly config: string,
    readonly certsDir: string,
    readonly confDir: string,
    private readonly shmBefore: Map<string, unknown>,
  ) {}

  static async start(opts: CriEnvOptions = {}): Promise<CriEnv> {
    const tools = prepareCriTools();
    const dir = tempDir('berth-cri-');
    const p = (...s: string[]) => join(dir.path, ...s);
    const shmBefore = shmSegments();
    let registry: Registry | undefined;
    let network: PodNetwork | undefined;
    try {
      // the registry's config goes to <dir>/registry; it serves the prepared storage, read only
      mkdirSync(p('registry'));
      registry = await Registry.start(dir, { storage: tools.registryStorage });
      const certsDir = p('certs.d');
      writeMirrors(certsDir, MIRRORED_REGISTRIES, registry.url);
      const confDir = p('net.d');
      mkdirSync(confDir, { recursive: true });
      mkdirSync(p('ipam'), { recursive: true });
      network = PodNetwork.create({
        confDir,
        ipamDir: p('ipam'),
        ...(opts.extraPlugins && { extraPlugins: opts.extraPlugins }),
      });
      const config = p('config.toml');
      writeFileSync(
        config,
        criConfigToml({
          runcRoot: p('runc'),
          confDir,
          certsDir,
          ttrpcAddress: p('containerd.sock.ttrpc'),
          optDir: p('opt'),
          ...(opts.logLevel && { logLevel: opts.logLevel }),
        }),
      );
      mkdirSync(p('tmp'), { recursive: true });
      return new CriEnv(tools, dir, registry, network, config, certsDir, confDir, shmBefore);
    } catch (err) {
      network?.remove();
      await registry?.stop();
      dir.remove();
      throw err;
    }
  }

  /** runc's state root for the runc runtime (the config's `options.Root`). */
  get runcRoot(): string {
    return join(this.dir.path, 'runc');
  }

  /** A scratch directory under the env's temp dir (critest's TMPDIR, logs, ...). */
  scratch(name: string): string {
    const d = join(this.dir.path, 'tmp', name);
    mkdirSync(d, { recursive: true });
    return d;
  }

  /** Undoes everything `start` did; the daemons must be stopped first. */
  async close(): Promise<void> {
    const errors: unknown[] = [];
    try {
      this.network.remove();
    } catch (err) {
      errors.push(err);
    }
    removeNewShmSegments(this.shmBefore);
    await this.registry.stop();
    // critest's mount propagation specs bind-mount directories in its TMPDIR and leave them
    // when they fail; anything a daemon left mounted is under here too
    unmountUnder(this.dir.path);
    try {
      this.dir.remove();
    } catch (err) {
      errors.push(err);
    }
    if (errors.length > 0) {
      throw new AggregateError(
        errors,
        `CRI test environment teardown: ${errors.map((e) => (e as Error).message).join('; ')}`,
      );
    }
  }
}

export interface CrictlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment for crictl and critest: no proxies (they fetch pod IPs and 127.0.0.1 over HTTP). */
export function criEnvVars(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(https?|no|all)_proxy$/i.test(k)) env[k] = v;
  }
  delete env.CONTAINER_RUNTIME_ENDPOINT;
  delete env.IMAGE_SERVICE_ENDPOINT;
  delete env.CRI_CONFIG_FILE;
  return { ...env, ...extra };
}

/**
 * Runs crictl against `socket` for both services, with an explicit config file that does not exist
 * in the way (`/etc/crictl.yaml` is ignored) and a timeout.
 */
export function crictlArgs(socket: string, args: string[], timeoutS = 30): string[] {
  const ep = `unix://${socket}`;
  return ['--runtime-endpoint', ep, '--image-endpoint', ep, '--timeout', `${timeoutS}s`, ...args];
}

export function crictl(
  tools: CriTools,
  socket: string,
  args: string[],
  opts: { timeoutMs?: number; input?: string } = {},
): CrictlResult {
  const r = spawnSync(tools.crictl, crictlArgs(socket, args), {
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 60_000,
    env: criEnvVars(),
    ...(opts.input !== undefined && { input: opts.input }),
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Like {@link crictl}, but throws with crictl's output unless it exits 0; returns stdout trimmed. */
export function crictlOk(
  tools: CriTools,
  socket: string,
  args: string[],
  opts: { timeoutMs?: number; input?: string } = {},
): string {
  const r = crictl(tools, socket, args, opts);
  if (r.code !== 0) {
    throw new Error(`crictl ${args.join(' ')} exited ${r.code}:\n${r.stdout}${r.stderr}`);
  }
  return r.stdout.trim();
}

/** A crictl in the background (`logs -f`, `port-forward`): output accumulates; `kill()` by pid. */
export function crictlBackground(tools: CriTools, socket: string, args: string[]) {
  const proc = spawn(tools.crictl, crictlArgs(socket, args, 600), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: criEnvVars(),
  });
  const out = { stdout: '', stderr: '' };
  proc.stdout.on('data', (b: Buffer) => (out.stdout += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (out.stderr += b.toString()));
  const exited = new Promise<number | null>((res) => proc.once('exit', (c) => res(c)));
  return {
    proc,
    out,
    exited,
    async kill(): Promise<void> {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * Removes what a CRI runtime under test left: first, while it still answers, every pod through
 * crictl (`rmp --all --force`: stops and removes pods and their containers, as a user would);
 * then, once the caller has stopped it, `reapCriLeftovers`.
 */
export function removeAllPods(tools: CriTools, socket: string): void {
  crictl(tools, socket, ['rmp', '--all', '--force'], { timeoutMs: 120_000 });
}

/**
 * Without the daemon (it must be dead): runc force-deletes every container whose bundle is left
 * under `state` (runc state under `runcRoot/<namespace>`, the CRI config's `Root`), SIGKILLs the
 * shims serving `socket` and what runs below them, and unmounts everything under `dir` (pod
 * netns, shm, rootfs), deepest first, so the temp dir can go.
 */
export function reapCriLeftovers(o: {
  socket: string;
  state: string;
  runcRoot: string;
  dir: string;
}): void {
  for (const b of bundles(o.state)) {
    spawnSync('runc', ['--root', join(o.runcRoot, b.namespace), 'delete', '--force', b.id], {
      stdio: 'ignore',
      timeout: 10_000,
    });
  }
  for (const shim of shimPids(o.socket)) {
    for (const p of [...descendants(shim), shim]) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  unmountUnder(o.dir);
}

/** Unmounts everything mounted at or below `dir`, deepest first (lazily if busy). */
export function unmountUnder(dir: string): void {
  for (const m of mountsUnder(dir).sort((a, b) => b.length - a.length)) {
    if (spawnSync('umount', [m], { stdio: 'ignore' }).status !== 0) {
      spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    }
  }
}
