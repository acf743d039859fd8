import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import { removeNetns } from '../../sys/netns.js';
import { Labels } from '../labels.js';
import { containerNetworkInfo, pinnedNetnsPath, releaseNetwork } from './attach.js';
import { defaultNetworkConflist } from './conflist.js';
import { writeContainerFiles } from './files.js';
import type { HookFlags } from './flags.js';
import { ociHookMain, runOciHook } from './hook.js';
import { allocateHostPorts, parsePublish } from './ports.js';

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
const natRules = () => run('iptables', ['-w', '-t', 'nat', '-S']);
const chainExists = (c: string) => tryRun('iptables', ['-w', '-t', 'nat', '-S', c]) !== undefined;
const sysctl = (key: string) => readFileSync(`/proc/sys/${key.replace(/\./g, '/')}`, 'utf8').trim();

/** A subnet prefix 10.A.B. (A in 200..250) that no route on this host touches. */
function freeSubnet(): string {
  const routes = run('ip', ['-4', 'route', 'show', 'table', 'all']);
  for (;;) {
    const a = 200 + ((randomBytes(1)[0] as number) % 51);
    const b = randomBytes(1)[0] as number;
    const prefix = `10.${a}.${b}.`;
    if (!routes.includes(prefix)) return prefix;
  }
}

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

describe('berth oci-hook with the real CNI plugins', { skip }, () => {
  let tmp: TempDir;
  const tag = randomBytes(3).toString('hex');
  const bridge = `brt${tag}`;
  const netName = `berth-hook-test-${tag}`;
  const net = freeSubnet();
  const gateway = `${net}1`;
  const forwardBefore = sysctl('net.ipv4.ip_forward');
  const sharedBefore = new Map(SHARED_CHAINS.map((c) => [c, chainExists(c)]));
  let flags: HookFlags;
  let ipamDir: string;
  const procs: ChildProcess[] = [];
  const ids: string[] = [];

  const conflist = (extra: unknown[] = []) => {
    const c = defaultNetworkConflist({
      name: netName,
      bridge,
      subnet: `${net}0/24`,
      ipMasq: false,
      ipamDataDir: ipamDir,
    }) as { plugins: Record<string, unknown>[] };
    // The bridge and its gateway address are the test's own (below): isGateway off keeps ip_forward as it is.
    const [br, portmap] = c.plugins as [Record<string, unknown>, Record<string, unknown>];
    br.isGateway = false;
    (br.ipam as { ranges: unknown }).ranges = [[{ subnet: `${net}0/24`, gateway }]];
    // The firewall plugin would add chains to the host's FORWARD: not in this test.
    c.plugins = [br, { ...portmap, snat: true }, ...(extra as Record<string, unknown>[])];
    return c;
  };
  const writeConf = (extra: unknown[] = []) =>
    writeFileSync(join(flags.cniConfDir, '10-test.conflist'), JSON.stringify(conflist(extra)));
  const allocations = () =>
    existsSync(join(ipamDir, netName))
      ? readdirSync(join(ipamDir, netName)).filter((f) => f.startsWith(net))
      : [];
  const cacheFiles = () => {
    const d = join(flags.dataRoot, 'cni', 'results');
    return existsSync(d) ? readdirSync(d) : [];
  };

  /** A process in a netns of its own, as runc's container init at createRuntime. */
  async function container(): Promise<number> {
    const p = spawn('unshare', ['-n', 'sleep', '60'], { stdio: 'ignore' });
    procs.push(p);
    const pid = p.pid as number;
    const own = readlinkSync('/proc/self/ns/net');
    for (let i = 0; i < 200; i++) {
      try {
        if (readlinkSync(`/proc/${pid}/ns/net`) !== own) return pid;
      } catch {
        // Not there yet.
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('unshare -n did not make a netns');
  }

  function state(id: string, pid: number, annotations: Record<string, string>): Readable {
    return Readable.from([
      JSON.stringify({
        ociVersion: '1.0.2',
        id,
        status: 'creating',
        pid,
        bundle: tmp.path,
        annotations,
      }),
    ]);
  }

  before(() => {
    tmp = tempDir();
    ipamDir = join(tmp.path, 'ipam');
    flags = {
      dataRoot: join(tmp.path, 'data'),
      cniPath: CNI_BIN,
      cniConfDir: join(tmp.path, 'net.d'),
      namespace: `test-${tag}`,
    };
    mkdirSync(flags.cniConfDir);
    run('ip', ['link', 'add', bridge, 'type', 'bridge']);
    run('ip', ['addr', 'add', `${gateway}/24`, 'dev', bridge]);
    run('ip', ['link', 'set', bridge, 'up']);
    writeConf();
  });

  after(async () => {
    for (const id of ids) {
      await releaseNetwork(flags, flags.namespace, id).catch((e) =>
        console.error(`# cleanup: ${e}`),
      );
    }
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    for (const id of ids) {
      await removeNetns(
        pinnedNetnsPath(flags, flags.namespace, id),
        join(flags.dataRoot, 'netns'),
      ).catch((e) => console.error(`# cleanup: ${e}`));
    }
    if (bridge.startsWith('brt') && tryRun('ip', ['link', 'show', bridge]) !== undefined) {
      run('ip', ['link', 'del', bridge]);
    }
    const dnat = tryRun('iptables', ['-w', '-t', 'nat', '-S', 'CNI-HOSTPORT-DNAT']) ?? '';
    const unused = !dnat.split('\n').some((l) => l.startsWith('-A CNI-HOSTPORT-DNAT'));
    if (unused && SHARED_CHAINS.every((c) => sharedBefore.get(c) === false)) {
      for (const base of ['PREROUTING', 'OUTPUT', 'POSTROUTING']) {
        for (const rule of run('iptables', ['-w', '-t', 'nat', '-S', base]).split('\n')) {
          const jump = SHARED_CHAINS.find(
            (c) => rule.startsWith(`-A ${base} `) && rule.includes(`-j ${c}`),
          );
          if (!jump) continue;
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

  it('createRuntime: eth0 with an address, lo up, /etc/hosts, a DNAT rule; postStop releases it all, twice', async () => {
    const id = `web${tag}${randomBytes(8).toString('hex')}`;
    ids.push(id);
    const stateDir = join(tmp.path, 'containers', id);
    writeContainerFiles(stateDir, { hostNetwork: false, hostname: 'webhost' });
    const [ports] = [await allocateHostPorts(parsePublish('127.0.0.1::80'))];
    const hostPort = ports[0]?.hostPort as number;
    assert.ok(hostPort > 0);
    const pid = await container();
    await runOciHook(
      'createRuntime',
      flags,
      state(id, pid, {
        [Labels.network]: netName,
        [Labels.ports]: JSON.stringify(ports),
        [Labels.hostname]: 'webhost',
        [Labels.name]: 'web',
        [Labels.stateDir]: stateDir,
      }),
    );
    const addr = run('nsenter', [
      '-t',
      String(pid),
      '-n',
      'ip',
      '-o',
      '-4',
      'addr',
      'show',
      'eth0',
    ]);
    const ip = new RegExp(`inet (${net.replace(/\./g, '\\.')}\\d+)/24`).exec(addr)?.[1];
    assert.ok(ip, `eth0 has an address in ${net}0/24: ${addr}`);
    assert.match(
      run('nsenter', ['-t', String(pid), '-n', 'ip', '-o', 'link', 'show', 'lo']),
      /[<,]UP[,>]/,
    );
    assert.deepEqual(allocations(), [ip]);
    assert.match(
      readFileSync(join(stateDir, 'hosts'), 'utf8'),
      new RegExp(`^${ip}\\twebhost web$`, 'm'),
    );
    const dnat = natRules()
      .split('\n')
      .filter((l) => l.includes(`--dport ${hostPort}`) && l.includes(`--to-destination ${ip}:80`));
    assert.equal(dnat.length, 1, `one DNAT rule for 127.0.0.1:${hostPort} → ${ip}:80`);
    assert.match(dnat[0] as string, /-d 127\.0\.0\.1\/32/);
    assert.equal(sysctl('net.ipv4.ip_forward'), forwardBefore);

    const info = await containerNetworkInfo(flags, flags.namespace, id);
    const mac = /link\/ether (\S+)/.exec(
      run('nsenter', ['-t', String(pid), '-n', 'ip', '-o', 'link', 'show', 'eth0']),
    )?.[1];
    assert.deepEqual(
      { ip: info?.ipAddress, gw: info?.gateway, mac: info?.macAddress, network: info?.network },
      { ip, gw: gateway, mac, network: netName },
    );

    // Traffic: a server in the netns, reached by its address and through the published port.
    const server = spawn(
      'nsenter',
      [
        '-t',
        String(pid),
        '-n',
        process.execPath,
        '-e',
        `require('net').createServer((s) => s.end('hello\\n')).listen(80, '0.0.0.0', () => console.log('ready'))`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    procs.push(server);
    await new Promise<void>((resolve, reject) => {
      server.stdout?.once('data', () => resolve());
      server.once('exit', (c) => reject(new Error(`server exited ${c}`)));
    });
    assert.equal(await fetchText(ip, 80), 'hello\n');
    assert.equal(await fetchText('127.0.0.1', hostPort), 'hello\n');
    server.kill('SIGKILL');

    const pinned = pinnedNetnsPath(flags, flags.namespace, id);
    assert.ok(existsSync(pinned));
    // postStop comes once the container's processes are gone (pid 0 in the state).
    const init = procs.find((p) => p.pid === pid) as ChildProcess;
    init.kill('SIGKILL');
    await new Promise((r) =>
      init.exitCode === null && init.signalCode === null ? init.once('exit', r) : r(0),
    );
    for (let i = 0; i < 2; i++) {
      await runOciHook('postStop', flags, state(id, 0, {}));
      assert.deepEqual(allocations(), []);
      assert.deepEqual(cacheFiles(), []);
      assert.doesNotMatch(natRules(), new RegExp(`--dport ${hostPort} `));
      assert.doesNotMatch(natRules(), new RegExp(`${flags.namespace}-${id}`));
      assert.equal(existsSync(pinned), false);
      assert.equal(run('ip', ['-o', 'link', 'show', 'master', bridge]).trim(), '');
    }
    assert.equal(await containerNetworkInfo(flags, flags.namespace, id), undefined);
    await assert.rejects(fetchText('127.0.0.1', hostPort));
  });

  it('none: lo up and no eth0; postStop leaves nothing', async () => {
    const id = `none${tag}`;
    ids.push(id);
    const pid = await container();
    await runOciHook('createRuntime', flags, state(id, pid, { [Labels.network]: 'none' }));
    assert.match(
      run('nsenter', ['-t', String(pid), '-n', 'ip', '-o', 'link', 'show', 'lo']),
      /[<,]UP[,>]/,
    );
    assert.equal(
      tryRun('nsenter', ['-t', String(pid), '-n', 'ip', 'link', 'show', 'eth0']),
      undefined,
    );
    assert.equal(await containerNetworkInfo(flags, flags.namespace, id), undefined);
    await runOciHook('postStop', flags, state(id, 0, {}));
    assert.deepEqual(cacheFiles(), []);
    assert.equal(existsSync(pinnedNetnsPath(flags, flags.namespace, id)), false);
  });

  it('a missing plugin binary fails createRuntime (exit 1, message on stderr) and leaves nothing behind', async () => {
    const missing = `brt-missing-${tag}`;
    writeConf([{ type: missing }]);
    try {
      const id = `fail${tag}`;
      ids.push(id);
      const pid = await container();
      const ports = await allocateHostPorts(parsePublish('127.0.0.1::80'));
      const hostPort = ports[0]?.hostPort as number;
      let stderr = '';
      const code = await ociHookMain(
        [
          'createRuntime',
          '--data-root',
          flags.dataRoot,
          '--cni-path',
          flags.cniPath,
          '--cni-netconfpath',
          flags.cniConfDir,
          `--namespace=${flags.namespace}`,
        ],
        state(id, pid, { [Labels.network]: netName, [Labels.ports]: JSON.stringify(ports) }),
        {
          write: (s: string) => {
            stderr += s;
            return true;
          },
        } as unknown as NodeJS.WritableStream as never,
      );
      assert.equal(code, 1);
      assert.match(
        stderr,
        new RegExp(`plugin type="${missing}" failed \\(add\\): failed to find plugin`),
      );
      assert.deepEqual(allocations(), []);
      assert.deepEqual(cacheFiles(), []);
      assert.doesNotMatch(natRules(), new RegExp(`--dport ${hostPort} `));
      assert.equal(existsSync(pinnedNetnsPath(flags, flags.namespace, id)), false);
      assert.equal(run('ip', ['-o', 'link', 'show', 'master', bridge]).trim(), '');
      assert.equal(
        tryRun('nsenter', ['-t', String(pid), '-n', 'ip', 'link', 'show', 'eth0']),
        undefined,
      );
      // And releasing again (berth rm after the failed create) is a no-op.
      await releaseNetwork(flags, flags.namespace, id);
    } finally {
      writeConf();
    }
  });
});
