import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import {
  isCanceled,
  isDeadlineExceeded,
  isFailedPrecondition,
  isInvalidArgument,
  isNotFound,
} from '../core/errdefs/index.js';
import { CniNetworks, type PodNetworkRequest } from './networks.js';

interface Call {
  type: string;
  command: string;
  env: Record<string, string>;
  stdin: Record<string, unknown>;
}

interface FakeOptions {
  result?: unknown;
  /** A CNI error object printed on stdout with exit status 1. */
  error?: { code: number; msg: string; details?: string };
  /** Only fail on this command. */
  failOn?: string;
  /** Raw text on stderr, exit status 2. */
  crash?: string;
  hang?: boolean;
  stdout?: string;
}

const ID = 'a1b2c3d4e5f6';

function result(address: string, version = '1.0.0') {
  return {
    cniVersion: version,
    interfaces: [
      { name: 'br0', mac: '00:00:00:00:00:01' },
      { name: 'eth0', mac: '00:00:00:00:00:02', sandbox: '/x' },
    ],
    ips: [
      { address: 'fd00::9/64', interface: 1, ...(version === '1.0.0' ? {} : { version: '6' }) },
      {
        address,
        gateway: '10.99.0.1',
        interface: 1,
        ...(version === '1.0.0' ? {} : { version: '4' }),
      },
    ],
  };
}

describe('CniNetworks with fake plugins', () => {
  let tmp: TempDir;
  let bin: string;
  let confDir: string;
  let log: string;
  let cacheDir: string;

  const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

  function plugin(type: string, o: FakeOptions = {}): void {
    const lines = [
      '#!/bin/sh',
      `log=${sh(log)}`,
      // Start time in ns orders the calls; networks are set up concurrently, plugins of one chain in order.
      `f="$log/$(date +%s%N)-${type}-$CNI_COMMAND"`,
      'cat > "$f.stdin"',
      `env | grep '^CNI_' | sort > "$f.env"`,
    ];
    const when = o.failOn ? `[ "$CNI_COMMAND" = ${o.failOn} ]` : 'true';
    if (o.hang) lines.push(`if ${when}; then exec sleep 30; fi`);
    if (o.error) lines.push(`if ${when}; then echo ${sh(JSON.stringify(o.error))}; exit 1; fi`);
    if (o.crash) lines.push(`if ${when}; then echo ${sh(o.crash)} >&2; exit 2; fi`);
    if (o.stdout !== undefined) lines.push(`echo ${sh(o.stdout)}`);
    else if (o.result)
      lines.push(`[ "$CNI_COMMAND" = ADD ] && echo ${sh(JSON.stringify(o.result))}`);
    lines.push('exit 0');
    writeFileSync(join(bin, type), `${lines.join('\n')}\n`);
    chmodSync(join(bin, type), 0o755);
  }

  function calls(): Call[] {
    return readdirSync(log)
      .filter((f) => f.endsWith('.stdin'))
      .sort()
      .map((f) => {
        const base = f.slice(0, -'.stdin'.length);
        const [, type, command] = /^\d+-(.+)-([A-Z]+)$/.exec(base) ?? [];
        const env = Object.fromEntries(
          readFileSync(join(log, `${base}.env`), 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
        );
        return {
          type: type ?? '',
          command: command ?? '',
          env,
          stdin: JSON.parse(readFileSync(join(log, f), 'utf8')),
        };
      });
  }
  const summary = () => calls().map((c) => `${c.command} ${c.type} ${c.env.CNI_IFNAME}`);
  const resetCalls = () => {
    rmSync(log, { recursive: true });
    mkdirSync(log);
  };

  function conflist(
    name: string,
    plugins: unknown[],
    cniVersion = '1.0.0',
    file = `10-${name}.conflist`,
  ) {
    writeFileSync(join(confDir, file), JSON.stringify({ cniVersion, name, plugins }));
  }

  function networks(timeoutMs?: number) {
    return new CniNetworks({
      binDirs: [join(tmp.path, 'nothing-here'), bin],
      confDir,
      maxConfNum: 1,
      cacheDir,
      ...(timeoutMs ? { pluginTimeoutMs: timeoutMs } : {}),
    });
  }

  const req = (over: Partial<PodNetworkRequest> = {}): PodNetworkRequest => ({
    id: ID,
    netnsPath: join(tmp.path, 'netns'),
    args: {
      IgnoreUnknown: '1',
      K8S_POD_NAMESPACE: 'default',
      K8S_POD_NAME: 'web',
      K8S_POD_UID: 'u-1',
    },
    portMappings: [
      { hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '' },
      { hostPort: 0, containerPort: 81, protocol: 'tcp', hostIP: '' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
    ],
    dns: { servers: ['10.96.0.10'], searches: ['svc.local'], options: ['ndots:5'] },
    ...over,
  });

  const cacheFiles = () =>
    existsSync(join(cacheDir, 'results')) ? readdirSync(join(cacheDir, 'results')) : [];

  beforeEach(() => {
    tmp = tempDir();
    bin = join(tmp.path, 'bin');
    confDir = join(tmp.path, 'net.d');
    log = join(tmp.path, 'log');
    cacheDir = join(tmp.path, 'state', 'cni');
    for (const d of [bin, confDir, log]) mkdirSync(d);
    writeFileSync(join(tmp.path, 'netns'), '');
    plugin('loopback', { result: { cniVersion: '0.3.1', interfaces: [{ name: 'lo' }], ips: [] } });
    plugin('bridge', { result: result('10.99.0.5/16') });
    plugin('portmap', { result: result('10.99.0.5/16') });
  });
  afterEach(() => tmp.remove());

  it('is not ready until a config is in the conf dir, then ready without a restart', () => {
    const n = networks();
    assert.deepEqual(n.status(), {
      ready: false,
      message: `cni config load failed: no network config found in ${confDir}: cni plugin not initialized`,
    });
    writeFileSync(join(confDir, '10-bad.conflist'), '{"name":"x"}');
    const bad = n.status();
    assert.equal(bad.ready, false);
    assert.match(
      bad.message,
      /^cni config load failed: cni config .*10-bad\.conflist: missing "cniVersion": invalid cni config$/,
    );
    rmSync(join(confDir, '10-bad.conflist'));
    conflist('pods', [{ type: 'bridge' }]);
    assert.deepEqual(n.status(), { ready: true, message: '' });
  });

  it('describes its networks as go-cni GetConfig does, loopback first', () => {
    conflist('pods', [
      { type: 'bridge', ipam: { type: 'host-local', subnet: '10.1.0.0/16' } },
      { type: 'portmap', capabilities: { portMappings: true } },
    ]);
    const info = networks().configInfo();
    assert.equal(info.PluginConfDir, confDir);
    assert.equal(info.PluginMaxConfNum, 1);
    assert.deepEqual(
      info.Networks.map((n) => [n.Config.Name, n.IFName, n.Config.CNIVersion]),
      [
        ['cni-loopback', 'lo', '0.3.1'],
        ['pods', 'eth0', '1.0.0'],
      ],
    );
    assert.deepEqual(info.Networks[1]?.Config.Plugins[0]?.Network, {
      cniVersion: '1.0.0',
      name: 'pods',
      type: 'bridge',
      ipam: { type: 'host-local' },
      dns: {},
    });
    assert.deepEqual(JSON.parse(info.Networks[1]?.Config.Plugins[1]?.Source ?? ''), {
      type: 'portmap',
      capabilities: { portMappings: true },
    });
  });

  it('refuses setup while not ready', async () => {
    await assert.rejects(
      networks().setup(req()),
      (e: Error) => isFailedPrecondition(e) && /cni plugin not initialized/.test(e.message),
    );
  });

  it('sets up loopback on lo, then the default network chain on eth0, with the CNI protocol', async () => {
    conflist('pods', [
      { type: 'bridge', bridge: 'br0', ipam: { type: 'host-local' } },
      { type: 'portmap', capabilities: { portMappings: true, bandwidth: false }, snat: true },
    ]);
    const r = await networks().setup(req({ capabilityArgs: { bandwidth: { ingressRate: 1 } } }));
    assert.deepEqual(r.ips, [
      { address: '10.99.0.5', gateway: '10.99.0.1', interface: 'eth0' },
      { address: 'fd00::9', interface: 'eth0' },
    ]);
    assert.deepEqual(
      r.raw.map((a) => [a.network, a.ifName]),
      [
        ['cni-loopback', 'lo'],
        ['pods', 'eth0'],
      ],
    );
    assert.deepEqual(
      summary().filter((c) => c.endsWith('eth0')),
      ['ADD bridge eth0', 'ADD portmap eth0'],
    );
    assert.deepEqual(
      summary().filter((c) => c.endsWith(' lo')),
      ['ADD loopback lo'],
    );
    const byType = (t: string) => calls().find((c) => c.type === t);
    const [lo, br, pm] = [byType('loopback'), byType('bridge'), byType('portmap')];
    assert.deepEqual(br?.env, {
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_UID=u-1',
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: ID,
      CNI_IFNAME: 'eth0',
      CNI_NETNS: join(tmp.path, 'netns'),
      CNI_PATH: `${join(tmp.path, 'nothing-here')}:${bin}`,
    });
    assert.deepEqual(lo?.stdin, { type: 'loopback', name: 'cni-loopback', cniVersion: '0.3.1' });
    // The first plugin: its own config with the network's name and version, no prevResult, no runtimeConfig.
    assert.deepEqual(br?.stdin, {
      type: 'bridge',
      bridge: 'br0',
      ipam: { type: 'host-local' },
      name: 'pods',
      cniVersion: '1.0.0',
    });
    // The chained plugin: the previous result, and only the capabilities it declares.
    assert.deepEqual(pm?.stdin.prevResult, result('10.99.0.5/16'));
    assert.deepEqual(pm?.stdin.runtimeConfig, {
      portMappings: [
        { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
        { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
      ],
    });
    assert.deepEqual(cacheFiles().sort(), [`cni-loopback-${ID}-lo`, `pods-${ID}-eth0`]);
    const cached = JSON.parse(readFileSync(join(cacheDir, 'results', `pods-${ID}-eth0`), 'utf8'));
    assert.equal(cached.kind, 'cniCacheV1');
    assert.equal(JSON.parse(Buffer.from(cached.config, 'base64').toString()).name, 'pods');
    assert.deepEqual(cached.capabilityArgs.dns, {
      servers: ['10.96.0.10'],
      searches: ['svc.local'],
      options: ['ndots:5'],
    });
    assert.equal(cached.result.ips[1].address, '10.99.0.5/16');
  });

  it('passes runtimeConfig.dns to a plugin that declares it, and prevResult in a 0.4.0 list shape', async () => {
    plugin('bridge', { result: result('10.99.0.6/16', '0.4.0') });
    conflist(
      'pods',
      [{ type: 'bridge' }, { type: 'portmap', capabilities: { dns: true } }],
      '0.4.0',
    );
    await networks().setup(req());
    const pm = calls().find((c) => c.type === 'portmap');
    assert.deepEqual(pm?.stdin.runtimeConfig, {
      dns: { servers: ['10.96.0.10'], searches: ['svc.local'], options: ['ndots:5'] },
    });
    assert.deepEqual(pm?.stdin.prevResult, result('10.99.0.6/16', '0.4.0'));
  });

  it('removes in reverse order with the cached result, also after a restart and a changed conf dir', async () => {
    conflist('pods', [
      { type: 'bridge' },
      { type: 'portmap', capabilities: { portMappings: true } },
    ]);
    await networks().setup(req());
    resetCalls();
    // The admin replaces the network meanwhile; berthd restarts (a new instance).
    rmSync(join(confDir, '10-pods.conflist'));
    plugin('ptp', { result: result('10.77.0.5/16') });
    conflist('other', [{ type: 'ptp' }]);
    await networks().remove(req({ portMappings: [] }));
    // lo's DEL runs alongside; the eth0 ones one by one, last added first.
    assert.deepEqual(
      summary().filter((c) => !c.endsWith(' lo')),
      ['DEL portmap eth0', 'DEL bridge eth0', 'DEL ptp eth0'],
    );
    assert.deepEqual(
      summary().filter((c) => c.endsWith(' lo')),
      ['DEL loopback lo'],
    );
    const byType = (t: string) => calls().find((c) => c.type === t);
    const [pm, br, lo] = [byType('portmap'), byType('bridge'), byType('loopback')];
    // What ADD used: the cached port mappings and result.
    assert.deepEqual(pm?.stdin.runtimeConfig, {
      portMappings: [
        { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
        { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
      ],
    });
    assert.deepEqual(br?.stdin.prevResult, result('10.99.0.5/16'));
    // Loopback's 0.3.1 predates prevResult on DEL.
    assert.equal(lo?.stdin.prevResult, undefined);
    assert.deepEqual(cacheFiles(), []);
    // Again: nothing cached, the current networks are still deleted, and it succeeds.
    resetCalls();
    await networks().remove(req());
    assert.deepEqual(summary().sort(), ['DEL loopback lo', 'DEL ptp eth0']);
  });

  it('passes an empty CNI_NETNS on DEL when the netns is gone', async () => {
    conflist('pods', [{ type: 'bridge' }]);
    const n = networks();
    await n.setup(req());
    rmSync(join(tmp.path, 'netns'));
    resetCalls();
    await n.remove(req());
    assert.deepEqual(
      calls().map((c) => c.env.CNI_NETNS),
      ['', ''],
    );
  });

  it('undoes what it added when a plugin of the chain fails, and names plugin and network', async () => {
    plugin('portmap', {
      error: { code: 100, msg: 'cannot bind', details: 'port 8080 busy' },
      failOn: 'ADD',
    });
    conflist('pods', [
      { type: 'bridge' },
      { type: 'portmap', capabilities: { portMappings: true } },
    ]);
    await assert.rejects(
      networks().setup(req()),
      (e: Error) =>
        e.message ===
        'network "pods": plugin type="portmap" failed (add): cannot bind; port 8080 busy',
    );
    assert.deepEqual(summary().slice(0, 3).sort(), [
      'ADD bridge eth0',
      'ADD loopback lo',
      'ADD portmap eth0',
    ]);
    assert.deepEqual(summary().slice(3), [
      'DEL portmap eth0',
      'DEL bridge eth0',
      'DEL loopback lo',
    ]);
    assert.deepEqual(cacheFiles(), []);
  });

  it('undoes with an empty CNI_NETNS when the netns is missing', async () => {
    plugin('bridge', {
      result: result('10.99.0.5/16'),
      error: { code: 5, msg: 'no netns' },
      failOn: 'ADD',
    });
    conflist('pods', [{ type: 'bridge' }]);
    rmSync(join(tmp.path, 'netns'));
    await assert.rejects(networks().setup(req()), (e: Error) =>
      e.message.endsWith('failed (add): no netns'),
    );
    assert.deepEqual(
      calls()
        .filter((c) => c.command === 'DEL')
        .map((c) => c.env.CNI_NETNS),
      ['', ''],
    );
    assert.deepEqual(cacheFiles(), []);
  });

  it('keeps the cache entry for remove when undoing fails too', async () => {
    plugin('bridge', { error: { code: 11, msg: 'busy' } });
    conflist('pods', [{ type: 'bridge' }]);
    const n = networks();
    await assert.rejects(
      n.setup(req()),
      /failed \(add\): busy \(and undoing it failed: .*failed \(delete\): busy\)/,
    );
    assert.deepEqual(cacheFiles(), [`pods-${ID}-eth0`]);
    plugin('bridge', { result: result('10.99.0.5/16') });
    await n.remove(req());
    assert.deepEqual(cacheFiles(), []);
  });

  it('reports a plugin that is missing, crashes, hangs or answers garbage', async () => {
    conflist('pods', [{ type: 'nosuch' }]);
    await assert.rejects(
      networks().setup(req()),
      (e: Error) =>
        isNotFound(e) &&
        /plugin type="nosuch" failed \(add\): failed to find plugin "nosuch" in path/.test(
          e.message,
        ),
    );
    plugin('bridge', { crash: 'panic: boom' });
    conflist('pods', [{ type: 'bridge' }]);
    await assert.rejects(
      networks().setup(req()),
      /plugin type="bridge" failed \(add\): exit status 2: "panic: boom"/,
    );
    plugin('bridge', { stdout: 'hello' });
    await assert.rejects(
      networks().setup(req()),
      (e: Error) => isInvalidArgument(e) && /result is not JSON: "hello/.test(e.message),
    );
    plugin('bridge', { error: { code: 7, msg: 'bad config' } });
    await assert.rejects(networks().setup(req()), isInvalidArgument);
    plugin('bridge', { hang: true });
    const started = Date.now();
    await assert.rejects(
      networks(300).setup(req()),
      (e: Error) =>
        isDeadlineExceeded(e) && /no answer within 300 ms \(killed pid \d+\)/.test(e.message),
    );
    assert.ok(Date.now() - started < 5000);
  });

  it('kills the plugins and undoes when the call is canceled', async () => {
    plugin('portmap', { hang: true, failOn: 'ADD' });
    conflist('pods', [{ type: 'bridge' }, { type: 'portmap' }]);
    const ac = new AbortController();
    const setup = networks().setup(req(), { signal: ac.signal });
    // Once portmap runs (the bridge ADD is done), cancel.
    while (!readdirSync(log).some((f) => f.endsWith('-portmap-ADD.env'))) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const started = Date.now();
    ac.abort();
    await assert.rejects(
      setup,
      (e: Error) => isCanceled(e) && /failed \(add\): canceled \(killed pid \d+\)/.test(e.message),
    );
    assert.ok(Date.now() - started < 5000);
    assert.deepEqual(
      summary().filter((c) => c.startsWith('DEL')),
      ['DEL portmap eth0', 'DEL bridge eth0', 'DEL loopback lo'],
    );
    assert.deepEqual(cacheFiles(), []);
  });

  it('treats "not found" on DEL as deleted, as go-cni', async () => {
    conflist('pods', [{ type: 'bridge' }]);
    const n = networks();
    await n.setup(req());
    const ok = result('10.99.0.5/16');
    plugin('bridge', { result: ok, error: { code: 3, msg: 'container not found' }, failOn: 'DEL' });
    await n.remove(req());
    assert.deepEqual(cacheFiles(), []);
    plugin('bridge', { result: ok, error: { code: 100, msg: 'iptables locked' }, failOn: 'DEL' });
    await n.setup(req());
    await assert.rejects(n.remove(req()), /failed \(delete\): iptables locked/);
    assert.deepEqual(cacheFiles(), [`pods-${ID}-eth0`]);
  });

  it('checks with the cached result; not_found without one', async () => {
    conflist('pods', [{ type: 'bridge' }]);
    const n = networks();
    await assert.rejects(n.check(req()), isNotFound);
    await n.setup(req());
    resetCalls();
    await n.check(req());
    assert.deepEqual(summary(), ['CHECK bridge eth0']);
    assert.deepEqual(calls()[0]?.stdin.prevResult, result('10.99.0.5/16'));
  });

  it('rejects bad ids and CNI_ARGS before running anything', async () => {
    conflist('pods', [{ type: 'bridge' }]);
    await assert.rejects(networks().setup(req({ id: '../x' })), isInvalidArgument);
    await assert.rejects(networks().setup(req({ args: { 'A;B': '1' } })), isInvalidArgument);
    await assert.rejects(
      networks().setup(req({ ifName: 'a-very-long-ifname0' })),
      isInvalidArgument,
    );
    assert.deepEqual(summary(), []);
  });
});
