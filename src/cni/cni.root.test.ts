import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { createNetns, removeNetns } from '../sys/netns.js';
import { CniNetworks, type PodNetworkRequest } from './networks.js';

const CNI_BIN = '/usr/lib/cni';
const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : !['bridge', 'host-local', 'portmap', 'loopback'].every((p) => existsSync(join(CNI_BIN, p)))
      ? `needs containernetworking-plugins in ${CNI_BIN}`
      : false;

const SHARED_CHAINS = ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-MASQ'];

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function tryRun(cmd: string, args: string[]): string | undefined {
  try {
    return run(cmd, args);
  } catch {
    return undefined;
  }
}
const sysctl = (key: string) => readFileSync(`/proc/sys/${key.replace(/\./g, '/')}`, 'utf8').trim();
const natRules = () => run('iptables', ['-w', '-t', 'nat', '-S']);
const chainExists = (c: string) => tryRun('iptables', ['-w', '-t', 'nat', '-S', c]) !== undefined;

/** A subnet 10.A.B.0/24 that no route on this host touches (never 10.88). */
function freeSubnet(): string {
  const routes = run('ip', ['-4', 'route', 'show', 'table', 'all']);
  for (;;) {
    const a = 100 + ((randomBytes(1)[0] as number) % 150);
    const b = randomBytes(1)[0] as number;
    const prefix = `10.${a}.${b}.`;
    if (!routes.includes(prefix)) return prefix;
  }
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Connects and reads until the peer closes: what the pod's server said. */
function fetchText(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, timeout: 3000 });
    let text = '';
    s.on('data', (b) => {
      text += b;
    });
    s.on('end', () => resolve(text));
    s.on('timeout', () => s.destroy(new Error(`${host}:${port}: timeout`)));
    s.on('error', reject);
  });
}

describe('CniNetworks with the real plugins', { skip }, () => {
  let tmp: TempDir;
  const tag = randomBytes(3).toString('hex');
  const bridge = `brt${tag}`;
  const netName = `berth-test-${tag}`;
  const net = freeSubnet();
  const gateway = `${net}1`;
  const forwardBefore = sysctl('net.ipv4.ip_forward');
  const sharedBefore = new Map(SHARED_CHAINS.map((c) => [c, chainExists(c)]));
  let bin: string;
  let confDir: string;
  let nsDir: string;
  let ipamDir: string;
  let cacheDir: string;
  let listener: ChildProcess | undefined;
  const netnses: string[] = [];
  const pods: PodNetworkRequest[] = [];

  const confList = (extra: unknown[] = []) => ({
    cniVersion: '1.0.0',
    name: netName,
    plugins: [
      {
        type: 'bridge',
        bridge,
        isGateway: false,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: `${net}0/24`, gateway }]],
          dataDir: ipamDir,
        },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ...extra,
    ],
  });
  const networks = () =>
    new CniNetworks({ binDirs: [CNI_BIN, bin], confDir, maxConfNum: 1, cacheDir });
  const allocations = () =>
    existsSync(join(ipamDir, netName))
      ? readdirSync(join(ipamDir, netName)).filter((f) => f.startsWith(net))
      : [];
  const request = (id: string, netnsPath: string, hostPort: number): PodNetworkRequest => ({
    id,
    netnsPath,
    args: {
      IgnoreUnknown: '1',
      K8S_POD_NAMESPACE: 'default',
      K8S_POD_NAME: `pod-${tag}`,
      K8S_POD_INFRA_CONTAINER_ID: id,
      K8S_POD_UID: `uid-${tag}`,
    },
    portMappings: [{ hostPort, containerPort: 8080, protocol: 'tcp', hostIP: '' }],
  });

  before(() => {
    tmp = tempDir();
    bin = join(tmp.path, 'bin');
    confDir = join(tmp.path, 'net.d');
    nsDir = join(tmp.path, 'netns');
    ipamDir = join(tmp.path, 'ipam');
    cacheDir = join(tmp.path, 'state', 'cni');
    for (const d of [bin, confDir]) mkdirSync(d);
    // The host's end: the bridge with the gateway address, so isGateway can stay false (and ip_forward off).
    run('ip', ['link', 'add', bridge, 'type', 'bridge']);
    run('ip', ['addr', 'add', `${gateway}/24`, 'dev', bridge]);
    run('ip', ['link', 'set', bridge, 'up']);
    writeFileSync(join(confDir, '10-test.conflist'), JSON.stringify(confList()));
  });

  after(async () => {
    listener?.kill('SIGKILL');
    // Whatever an assertion left half-done: DEL is idempotent.
    for (const p of pods)
      await networks()
        .remove(p)
        .catch((e) => console.error(`# cleanup: ${e}`));
    for (const p of netnses) await removeNetns(p, nsDir).catch(() => {});
    if (bridge.startsWith('brt') && tryRun('ip', ['link', 'show', bridge]) !== undefined) {
      run('ip', ['link', 'del', bridge]);
    }
    // portmap's shared chains: only if this test made them and no pod uses them any more.
    const dnat = tryRun('iptables', ['-w', '-t', 'nat', '-S', 'CNI-HOSTPORT-DNAT']) ?? '';
    const unused = !dnat.split('\n').some((l) => l.startsWith('-A CNI-HOSTPORT-DNAT'));
    if (unused && SHARED_CHAINS.every((c) => sharedBefore.get(c) === false)) {
      for (const base of ['PREROUTING', 'OUTPUT', 'POSTROUTING']) {
        for (const rule of run('iptables', ['-w', '-t', 'nat', '-S', base]).split('\n')) {
          const jump = SHARED_CHAINS.find(
            (c) => rule.startsWith(`-A ${base} `) && rule.includes(`-j ${c}`),
          );
          if (!jump) continue;
          // -S prints shell-quoted comments; split respecting the double quotes.
          const args = (rule.slice(3).match(/"[^"]*"|\S+/g) ?? []).map((a) =>
            a.replace(/^"(.*)"$/, '$1'),
          );
          run('iptables', ['-w', '-t', 'nat', '-D', ...args]);
        }
      }
      for (const c of SHARED_CHAINS) tryRun('iptables', ['-w', '-t', 'nat', '-F', c]);
      for (const c of SHARED_CHAINS) tryRun('iptables', ['-w', '-t', 'nat', '-X', c]);
    }
    tmp.remove();
  });

  it('sets up a pod: lo up, an IP reachable from the host, a hostPort on 127.0.0.1; removes it all', async () => {
    const id = `${tag}${randomBytes(29).toString('hex')}`;
    const ns = await createNetns(nsDir);
    netnses.push(ns);
    const hostPort = await freePort();
    const n = networks();
    pods.push(request(id, ns, hostPort));
    assert.deepEqual(n.status(), { ready: true, message: '' });
    const started = performance.now();
    const r = await n.setup(request(id, ns, hostPort));
    const setupMs = performance.now() - started;
    const ip = r.ips[0]?.address ?? '';
    assert.ok(ip.startsWith(net), `pod IP ${ip} in ${net}0/24`);
    assert.deepEqual(r.ips, [{ address: ip, gateway, interface: 'eth0' }]);
    assert.deepEqual(allocations(), [ip]);
    assert.match(run('nsenter', [`--net=${ns}`, 'ip', '-o', 'link', 'show', 'lo']), /[<,]UP[,>]/);
    assert.match(
      run('nsenter', [`--net=${ns}`, 'ip', '-o', '-4', 'addr', 'show', 'eth0']),
      new RegExp(`inet ${ip}/24`),
    );
    assert.equal(sysctl('net.ipv4.ip_forward'), forwardBefore, 'ip_forward untouched');
    // portmap enables route_localnet on the host interface towards the pod for 127.0.0.1 hostPorts (snat).
    assert.equal(sysctl(`net.ipv4.conf.${bridge}.route_localnet`), '1');
    assert.match(natRules(), new RegExp(`id: \\\\?"${id}\\\\?"`));

    listener = spawn(
      'nsenter',
      [
        `--net=${ns}`,
        process.execPath,
        '-e',
        `require('net').createServer((s) => s.end('hello from the pod\\n')).listen(8080, '0.0.0.0', () => console.log('ready'))`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      listener?.stdout?.once('data', () => resolve());
      listener?.once('exit', (c) => reject(new Error(`listener exited ${c}`)));
    });
    assert.equal(await fetchText(ip, 8080), 'hello from the pod\n');
    assert.equal(await fetchText('127.0.0.1', hostPort), 'hello from the pod\n');
    // No CHECK here: portmap 1.1.1's CHECK looks for an ip6tables DNAT chain even for an IPv4-only pod and fails.

    // A restart: a new instance, from the cache alone (the request carries no port mappings).
    const removeStarted = performance.now();
    await networks().remove({ ...request(id, ns, hostPort), portMappings: [] });
    const removeMs = performance.now() - removeStarted;
    assert.deepEqual(allocations(), []);
    assert.doesNotMatch(natRules(), new RegExp(id));
    assert.equal(readdirSync(join(cacheDir, 'results')).length, 0);
    await assert.rejects(fetchText('127.0.0.1', hostPort));
    listener.kill('SIGKILL');
    listener = undefined;
    await removeNetns(ns, nsDir);
    assert.equal(existsSync(ns), false);
    // Idempotent, with the netns gone.
    await networks().remove(request(id, ns, hostPort));
    assert.equal(sysctl('net.ipv4.ip_forward'), forwardBefore);
    console.log(
      `cni setup (loopback + bridge + portmap) ${setupMs.toFixed(0)} ms, remove ${removeMs.toFixed(0)} ms`,
    );
  });

  it('leaves nothing behind when a plugin of the chain fails', async () => {
    const bad = `brt-fail-${tag}`;
    writeFileSync(
      join(bin, bad),
      `#!/bin/sh\ncat >/dev/null\n[ "$CNI_COMMAND" = ADD ] || exit 0\necho '{"cniVersion":"1.0.0","code":100,"msg":"refusing on purpose"}'\nexit 1\n`,
    );
    chmodSync(join(bin, bad), 0o755);
    writeFileSync(join(confDir, '10-test.conflist'), JSON.stringify(confList([{ type: bad }])));
    const id = `${tag}${randomBytes(29).toString('hex')}`;
    const ns = await createNetns(nsDir);
    netnses.push(ns);
    pods.push(request(id, ns, 1));
    await assert.rejects(
      networks().setup(request(id, ns, await freePort())),
      new RegExp(
        `network "${netName}": plugin type="${bad}" failed \\(add\\): refusing on purpose`,
      ),
    );
    assert.deepEqual(allocations(), []);
    assert.doesNotMatch(natRules(), new RegExp(id));
    assert.equal(run('ip', ['-o', 'link', 'show', 'master', bridge]).trim(), '');
    assert.deepEqual(readdirSync(join(cacheDir, 'results')), []);
    assert.equal(sysctl('net.ipv4.ip_forward'), forwardBefore);
    writeFileSync(join(confDir, '10-test.conflist'), JSON.stringify(confList()));
  });
});
