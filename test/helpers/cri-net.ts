import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where Debian's containernetworking-plugins install the CNI plugins. */
export const CNI_BIN_DIR = '/usr/lib/cni';

/** Every test bridge starts with this; teardown refuses any other name. */
const BRIDGE_PREFIX = 'crit';

/** portmap's shared nat chains (with jumps from PREROUTING, OUTPUT and POSTROUTING). */
const HOSTPORT_CHAINS = ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK'];

/** libcni's result cache (containerd 1.6 cannot move it): `<dir>/<network>-<container>-<ifname>`. */
const LIBCNI_CACHE = '/var/lib/cni/results';

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function tryRun(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** The words of one `iptables -S` rule after `-A`, with its double-quoted comments unquoted. */
export function ruleSpec(line: string): string[] {
  const words: string[] = [];
  for (const m of line.slice(3).matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) {
    words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] as string));
  }
  return words;
}

function natChainExists(chain: string): boolean {
  return tryRun('iptables', ['-w', '-t', 'nat', '-S', chain]).ok;
}

/** 10.a.b.0/24 networks already on this host (addresses and routes), as "a.b". */
function usedNets(): Set<string> {
  const used = new Set<string>();
  const text = `${run('ip', ['-4', '-o', 'addr'])}\n${run('ip', ['-4', 'route'])}`;
  for (const m of text.matchAll(/\b10\.(\d+)\.(\d+)\.\d+(?:\/(\d+))?/g)) {
    const prefix = Number(m[3] ?? 32);
    // a wider network covers every /24 under it: keep the whole second octet away
    if (prefix < 24) for (let b = 0; b < 256; b++) used.add(`${m[1]}.${b}`);
    else used.add(`${m[1]}.${m[2]}`);
  }
  return used;
}

export interface PodNetworkOptions {
  /** The conflist's directory (written here as `10-<bridge>.conflist`). */
  confDir: string;
  /** host-local's `dataDir` (its IP allocations: `<dataDir>/<network>/<ip>`). */
  ipamDir: string;
  /** Extra plugins after `bridge` and `portmap` (e.g. one that fails, for the bad-input tests). */
  extraPlugins?: object[];
  /** The network's name in the conflist; default the bridge's (berth's CLI tests name theirs `bridge`). */
  name?: string;
}

/**
 * The test's own pod network, as cri-tools' README sets it up for containerd 1.6: a bridge of its
 * own (`crit<hex>`) carrying the gateway address of a /24 of its own (10.2xx.y.0/24, one not on
 * this host), so the host reaches pod IPs over the connected route while `ip_forward` stays off and
 * pods have no default route; one conflist (cniVersion 1.0.0): `bridge` with `isGateway: false`,
 * `ipMasq: false`, `hairpinMode: true`, `host-local` IPAM keeping its allocations under the test's
 * own `dataDir`, then `portmap` with `snat: true` (host ports on 127.0.0.1). No `loopback` in the
 * chain: the runtime brings `lo` up itself.
 *
 * `remove()` deletes the bridge, the per-pod portmap chains that name this subnet, libcni cache
 * entries of this network, and the shared CNI-HOSTPORT-* chains only when this network created
 * them and no pod of anyone still uses them.
 */
export class PodNetwork {
  private removed = false;

  private constructor(
    readonly bridge: string,
    /** "10.a.b" */
    readonly net24: string,
    readonly confDir: string,
    readonly ipamDir: string,
    readonly conflist: string,
    /** The CNI-HOSTPORT-* chains that did not exist before this network. */
    private readonly chainsBefore: Set<string>,
    private readonly networkName: string = bridge,
  ) {}

  get subnet(): string {
    return `${this.net24}.0/24`;
  }

  get gateway(): string {
    return `${this.net24}.1`;
  }

  /** The network's name in the conflist (the bridge's unless given). */
  get name(): string {
    return this.networkName;
  }

  static create(opts: PodNetworkOptions): PodNetwork {
    const bridge = `${BRIDGE_PREFIX}${randomBytes(3).toString('hex')}`;
    const used = usedNets();
    let net24: string | undefined;
    for (let i = 0; i < 200 && net24 === undefined; i++) {
      const cand = `${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
      if (!used.has(cand)) net24 = `10.${cand}`;
    }
    if (net24 === undefined) throw new Error('no free 10.2xx.y.0/24 for a test pod network');
    const chainsBefore = new Set(HOSTPORT_CHAINS.filter(natChainExists));
    run('ip', ['link', 'add', bridge, 'type', 'bridge']);
    const conflist = join(opts.confDir, `10-${bridge}.conflist`);
    const net = new PodNetwork(
      bridge,
      net24,
      opts.confDir,
      opts.ipamDir,
      conflist,
      chainsBefore,
      opts.name ?? bridge,
    );
    try {
      run('ip', ['addr', 'add', `${net24}.1/24`, 'dev', bridge]);
      run('ip', ['link', 'set', bridge, 'up']);
      writeFileSync(
        conflist,
        `${JSON.stringify(net.conflistJson(opts.extraPlugins ?? []), null, 2)}\n`,
      );
    } catch (err) {
      net.remove();
      throw err;
    }
    return net;
  }

  conflistJson(extraPlugins: object[] = []): object {
    return {
      cniVersion: '1.0.0',
      name: this.name,
      plugins: [
        {
          type: 'bridge',
          bridge: this.bridge,
          isGateway: false,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: this.subnet, gateway: this.gateway }]],
            dataDir: this.ipamDir,
          },
        },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
        ...extraPlugins,
      ],
    };
  }

  /** Rewrites the conflist (e.g. with a failing plugin appended). */
  writeConflist(extraPlugins: object[] = []): void {
    writeFileSync(this.conflist, `${JSON.stringify(this.conflistJson(extraPlugins), null, 2)}\n`);
  }

  /** IPs host-local holds for this network (its files under `<dataDir>/<network>/`). */
  allocatedIps(): string[] {
    const dir = join(this.ipamDir, this.name);
    if (!existsSync(dir)) return [];
    return readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
  }

  /** The per-pod portmap chains (`CNI-DN-*`) whose rules name an address of this subnet. */
  podChains(): string[] {
    const r = tryRun('iptables', ['-w', '-t', 'nat', '-S']);
    if (!r.ok) return [];
    const chains = new Set<string>();
    const escaped = this.net24.replaceAll('.', '\\.');
    const re = new RegExp(`^-A (CNI-DN-[0-9a-f]+) .*\\b${escaped}\\.\\d+`, 'gm');
    for (const m of r.out.matchAll(re)) if (m[1] !== undefined) chains.add(m[1]);
    return [...chains];
  }

  remove(): void {
    if (this.removed) return;
    this.removed = true;
    const errors: string[] = [];
    if (!this.bridge.startsWith(BRIDGE_PREFIX))
      throw new Error(`refusing to remove ${this.bridge}`);
    // per-pod portmap chains of this subnet a daemon left behind: the jumps to them, then them
    for (const chain of this.podChains()) {
      const all = tryRun('iptables', ['-w', '-t', 'nat', '-S']).out;
      for (const line of all.split('\n')) {
        if (line.startsWith('-A ') && line.includes(` -j ${chain}`)) {
          const spec = ruleSpec(line);
          const r = tryRun('iptables', ['-w', '-t', 'nat', '-D', ...spec]);
          if (!r.ok) errors.push(`iptables -D ${line.slice(3)}: ${r.out}`);
        }
      }
      tryRun('iptables', ['-w', '-t', 'nat', '-F', chain]);
      const r = tryRun('iptables', ['-w', '-t', 'nat', '-X', chain]);
      if (!r.ok) errors.push(`iptables -X ${chain}: ${r.out}`);
    }
    if (tryRun('ip', ['link', 'show', this.bridge]).ok) {
      const r = tryRun('ip', ['link', 'del', this.bridge]);
      if (!r.ok) errors.push(`ip link del ${this.bridge}: ${r.out}`);
    }
    this.removeHostportChains(errors);
    // libcni's cache entries of this network (containerd 1.6 keeps them in /var/lib/cni/results);
    // only for a network named after its own bridge: another name may be anyone's.
    if (this.name === this.bridge && existsSync(LIBCNI_CACHE)) {
      for (const f of readdirSync(LIBCNI_CACHE)) {
        if (f.startsWith(`${this.name}-`)) rmSync(join(LIBCNI_CACHE, f), { force: true });
      }
    }
    rmSync(this.conflist, { force: true });
    if (errors.length > 0) throw new Error(`pod network ${this.bridge}: ${errors.join('; ')}`);
  }

  /**
   * The shared CNI-HOSTPORT-* chains, only those this network saw appear, and only when
   * CNI-HOSTPORT-DNAT holds no pod's jump any more (another test's pods may be using them).
   */
  private removeHostportChains(errors: string[]): void {
    const created = HOSTPORT_CHAINS.filter((c) => !this.chainsBefore.has(c) && natChainExists(c));
    if (created.length === 0) return;
    const dnat = tryRun('iptables', ['-w', '-t', 'nat', '-S', 'CNI-HOSTPORT-DNAT']);
    if (dnat.ok && dnat.out.split('\n').some((l) => l.startsWith('-A '))) return;
    const all = tryRun('iptables', ['-w', '-t', 'nat', '-S']).out;
    for (const line of all.split('\n')) {
      const target = / -j (CNI-HOSTPORT-[A-Z]+)\b/.exec(line)?.[1];
      if (!line.startsWith('-A ') || target === undefined || !created.includes(target)) continue;
      const spec = ruleSpec(line);
      // a rule inside one of the chains goes with the chain's flush
      if (created.includes(spec[0] ?? '')) continue;
      const r = tryRun('iptables', ['-w', '-t', 'nat', '-D', ...spec]);
      if (!r.ok) errors.push(`iptables -D ${line.slice(3)}: ${r.out}`);
    }
    for (const c of created) tryRun('iptables', ['-w', '-t', 'nat', '-F', c]);
    for (const c of created) {
      const r = tryRun('iptables', ['-w', '-t', 'nat', '-X', c]);
      if (!r.ok) errors.push(`iptables -X ${c}: ${r.out}`);
    }
  }
}

/** SysV shm segment ids (`ipcs -m`), to remove those a run leaves (critest's HostIpc specs). */
export function shmSegments(): Map<string, { bytes: number; nattch: number }> {
  const out = run('ipcs', ['-m']);
  const segs = new Map<string, { bytes: number; nattch: number }>();
  for (const line of out.split('\n')) {
    const f = line.trim().split(/\s+/);
    // key shmid owner perms bytes nattch [status]
    if (f.length >= 6 && /^0x[0-9a-f]+$/.test(f[0] ?? '') && /^\d+$/.test(f[1] ?? '')) {
      segs.set(f[1] as string, { bytes: Number(f[4]), nattch: Number(f[5]) });
    }
  }
  return segs;
}

/**
 * Removes the SysV shm segments that appeared since `before` and that nobody has attached, of
 * the 1 MiB `ipcmk` makes: what critest's HostIpc specs leave. Returns the ids removed.
 */
export function removeNewShmSegments(before: Map<string, unknown>): string[] {
  const removed: string[] = [];
  for (const [id, s] of shmSegments()) {
    if (before.has(id) || s.nattch !== 0 || s.bytes !== 1 << 20) continue;
    if (tryRun('ipcrm', ['-m', id]).ok) removed.push(id);
  }
  return removed;
}
