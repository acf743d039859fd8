/**
 * Pod sandboxes through the real crictl against berthd's CRI: runp on a
 * bridge and subnet of the test's own (ipMasq off, host-local under the
 * test's dir), the pod IP reachable from the host, inspectp, pods filters,
 * a kill -9 of berthd with the pod still running and READY afterwards,
 * stopp and rmp (idempotent), and a CNI ADD failure that leaves nothing
 * behind. The pause image is pause.c (cri-tools' test sources) built
 * static, served by a local docker-registry that a hosts.toml mirrors
 * registry.k8s.io to.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { RuntimeServiceClient } from '../../src/api/k8s/cri/runtime/v1/api.js';
import { Berthd } from '../helpers/berthd.js';
import { writeMirrors } from '../helpers/cri.js';
import {
  processAlive as alive,
  buildPauseImage,
  CRICTL,
  crictlE2eSkip,
  crictlFor,
  e2eCriConfigToml,
  runTeardown,
} from '../helpers/cri-e2e.js';
import { ctr } from '../helpers/ctr.js';
import {
  BUSYBOX_APPLETS,
  buildImage,
  busyboxImage,
  busyboxLayer,
  pushImage,
} from '../helpers/images.js';
import { freePort, Registry } from '../helpers/registry.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const CNI_BIN = '/usr/lib/cni';
const skip = crictlE2eSkip([
  [!existsSync(join(CNI_BIN, 'bridge')), 'CNI plugins are not installed'],
]);

/** A bridge and /24 of this test's own, named from its pid. */
const tag = (process.pid % 0xffff).toString(16);
const BRIDGE = `bpod${tag}`;
function freeSubnet(): string {
  const routes = execFileSync('ip', ['-4', 'route', 'show'], { encoding: 'utf8' });
  for (let i = 0; i < 250; i++) {
    const third = (process.pid + i) % 250;
    const net = `10.231.${third}`;
    if (!routes.includes(`${net}.`)) return net;
  }
  throw new Error('no free 10.231.x.0/24');
}

describe('CRI pod sandboxes (crictl)', { skip, concurrency: false }, () => {
  let dir: TempDir;
  let registry: Registry;
  let berthd: Berthd;
  let net: string;
  let confDir: string;
  let ipamDir: string;
  let configToml: string;
  let bridgeMade = false;

  const { crictl, crictlOk } = crictlFor(() => berthd);
  const podConfig = (name: string, extra: Record<string, unknown> = {}) => {
    const path = join(dir.path, `pod-${name}.json`);
    writeFileSync(
      path,
      JSON.stringify({
        metadata: { name, namespace: 'cri-pod-test', uid: `uid-${name}`, attempt: 1 },
        hostname: name,
        log_directory: join(dir.path, 'logs', name),
        dns_config: { servers: ['10.0.0.10'], searches: ['svc.local'], options: ['ndots:5'] },
        labels: { app: name, suite: 'cri-pod' },
        annotations: { note: `pod ${name}` },
        linux: {},
        ...extra,
      }),
    );
    return path;
  };
  const writeConflist = (plugins: unknown[]) => {
    writeFileSync(
      join(confDir, '10-test.conflist'),
      JSON.stringify({ cniVersion: '1.0.0', name: `crip-${tag}`, plugins }),
    );
  };
  const bridgePlugin = () => ({
    type: 'bridge',
    bridge: BRIDGE,
    isGateway: false,
    ipMasq: false,
    hairpinMode: true,
    ipam: {
      type: 'host-local',
      dataDir: ipamDir,
      ranges: [[{ subnet: `${net}.0/24`, gateway: `${net}.1` }]],
    },
  });
  /** IP allocation files host-local holds for the test network. */
  const allocations = () => {
    const d = join(ipamDir, `crip-${tag}`);
    if (!existsSync(d)) return [];
    return readdirSync(d).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
  };
  const netnsFiles = () => {
    const d = join(berthd.state, 'io.containerd.grpc.v1.cri', 'netns');
    return existsSync(d) ? readdirSync(d) : [];
  };
  const inspectp = (id: string) =>
    JSON.parse(crictlOk(['inspectp', '-o', 'json', id])) as {
      status: {
        id: string;
        state: string;
        network: { ip: string };
        labels: Record<string, string>;
        metadata: { name: string };
      };
      info: {
        pid: number;
        config: unknown;
        runtimeSpec: { linux: { namespaces: { type: string; path?: string }[] } };
      };
    };
  const podIds = (args: string[] = []) =>
    crictlOk(['pods', '-q', '--no-trunc', ...args])
      .split('\n')
      .filter((l) => l !== '');
  /** The pause pid of a pod from the shim's runc state, with berthd down: `runc state`. */
  const inspectpOffline = (id: string) => {
    const runcRoot = join(berthd.state, 'runc', 'k8s.io');
    const st = JSON.parse(
      execFileSync('runc', ['--root', runcRoot, 'state', id], { encoding: 'utf8' }),
    );
    return st.pid as number;
  };
  /** RemovePodSandbox straight over gRPC (crictl rmp checks the status first). */
  const removeMissing = async (id: string) => {
    const client = new RuntimeServiceClient(
      `unix://${berthd.socket}`,
      credentials.createInsecure(),
    );
    try {
      await new Promise<void>((resolve, reject) =>
        client.removePodSandbox({ podSandboxId: id }, (err) => (err ? reject(err) : resolve())),
      );
    } finally {
      client.close();
    }
  };

  before(async () => {
    dir = tempDir('berth-cri-pod-');
    net = freeSubnet();
    confDir = join(dir.path, 'net.d');
    ipamDir = join(dir.path, 'ipam');
    mkdirSync(confDir);
    execFileSync('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
    bridgeMade = true;
    execFileSync('ip', ['addr', 'add', `${net}.1/24`, 'dev', BRIDGE]);
    execFileSync('ip', ['link', 'set', BRIDGE, 'up']);
    writeConflist([bridgePlugin()]);

    // The pause image: cri-tools' pause.c, static.
    const built = await buildPauseImage(dir);
    registry = await Registry.start(dir);
    await pushImage(registry, built.layout, built.tag, 'pause:3.6');
    // A busybox with httpd for the port-forward test.
    const web = await buildImage(
      dir,
      busyboxImage({ layers: [busyboxLayer([...BUSYBOX_APPLETS, 'mkdir', 'httpd'])] }),
    );
    await pushImage(registry, web.layout, web.tag, 'busybox:web');
    const certs = join(dir.path, 'certs.d');
    writeMirrors(certs, ['registry.k8s.io'], registry.url);

    configToml = e2eCriConfigToml({
      cniBinDir: join(dir.path, 'cni-bin'),
      confDir,
      certsDir: certs,
      maxConfNum: 1,
    });
    // bin_dir: the stock plugins plus one that fails ADD (for the failure test).
    const bin = join(dir.path, 'cni-bin');
    mkdirSync(bin);
    for (const p of ['bridge', 'host-local', 'loopback', 'portmap'])
      symlinkSync(join(CNI_BIN, p), join(bin, p));
    writeFileSync(
      join(bin, 'fail-add'),
      `#!/bin/sh
cat >/dev/null
case "$CNI_COMMAND" in
ADD) echo '{"cniVersion":"1.0.0","code":100,"msg":"fail-add refuses every pod"}'; exit 1;;
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}';;
esac
exit 0
`,
      { mode: 0o755 },
    );
    const bd = tempDir('berth-cri-pod-d-');
    berthd = await Berthd.start({ dir: bd, configToml });
  });

  after(async () => {
    // Every step runs, whatever failed before it.
    await runTeardown([
      [
        'pods',
        () => {
          // Leave no pod running: remove what the test made, then stop berthd.
          if (berthd?.running) for (const id of podIds()) crictl(['rmp', '-f', id]);
        },
      ],
      ['berthd', () => berthd?.cleanup()],
      ['registry', () => registry?.stop()],
      ['bridge', () => bridgeMade && spawnSync('ip', ['link', 'del', BRIDGE])],
      ['dir', () => dir?.remove()],
    ]);
  });

  let podId = '';
  let podIp = '';
  let pausePid = 0;

  test('runp starts a pause container with a pod IP reachable from the host', async () => {
    podId = crictlOk(['runp', podConfig('web')]);
    assert.match(podId, /^[0-9a-f]{64}$/);
    const st = inspectp(podId);
    assert.equal(st.status.state, 'SANDBOX_READY');
    podIp = st.status.network.ip;
    assert.ok(podIp.startsWith(`${net}.`), `pod IP ${podIp} in ${net}.0/24`);
    pausePid = st.info.pid;
    assert.ok(pausePid > 0 && alive(pausePid), 'the pause process runs');
    const netns = st.info.runtimeSpec.linux.namespaces.find((n) => n.type === 'network');
    assert.ok(netns?.path !== undefined && existsSync(netns.path), 'the pinned netns exists');
    assert.ok(netns.path.startsWith(join(berthd.state, 'io.containerd.grpc.v1.cri', 'netns')));
    assert.deepEqual(allocations(), [podIp]);
    // Reachable: a closed port answers with a reset (ECONNREFUSED), not a timeout.
    const code = await new Promise<string>((resolve) => {
      const s = connect({ host: podIp, port: 9, timeout: 3000 });
      s.on('connect', () => resolve('connected'));
      s.on('timeout', () => resolve('timeout'));
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    assert.equal(code, 'ECONNREFUSED');
    // The record as containerd keeps it.
    const ls = ctr(berthd.socket, ['-n', 'k8s.io', 'containers', 'ls']);
    assert.match(
      ls.stdout,
      new RegExp(`${podId}\\s+registry.k8s.io/pause:3.6\\s+io.containerd.runc.v2`),
    );
    const info = ctr(berthd.socket, ['-n', 'k8s.io', 'containers', 'info', podId]).stdout;
    assert.match(info, /"io.cri-containerd.kind": "sandbox"/);
    // The files its containers share.
    const sbDir = join(berthd.root, 'io.containerd.grpc.v1.cri', 'sandboxes', podId);
    assert.equal(
      execFileSync('cat', [join(sbDir, 'resolv.conf')], { encoding: 'utf8' }),
      'search svc.local\nnameserver 10.0.0.10\noptions ndots:5\n',
    );
    assert.equal(execFileSync('cat', [join(sbDir, 'hostname')], { encoding: 'utf8' }), 'web\n');
  });

  test('a second runp of the same pod is refused, naming the first', () => {
    const r = crictl(['runp', podConfig('web')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`is reserved for \\\\?"${podId}`));
    assert.deepEqual(podIds(), [podId]);
  });

  test('pods filters by id prefix, state and label; inspectp takes a prefix', () => {
    const other = crictlOk(['runp', podConfig('db')]);
    try {
      assert.deepEqual(podIds(['--id', podId.slice(0, 10)]), [podId]);
      assert.deepEqual(podIds(['--label', 'app=db']), [other]);
      assert.deepEqual(podIds(['--label', 'suite=cri-pod']).sort(), [podId, other].sort());
      assert.deepEqual(podIds(['--label', 'app=none']), []);
      assert.deepEqual(podIds(['--state', 'notready']), []);
      crictlOk(['stopp', other]);
      assert.deepEqual(podIds(['--state', 'notready']), [other]);
      assert.deepEqual(podIds(['--state', 'ready']), [podId]);
      assert.equal(inspectp(podId.slice(0, 12)).status.id, podId);
      assert.equal(inspectp(other).status.labels.app, 'db');
    } finally {
      crictlOk(['rmp', other]);
    }
    assert.deepEqual(podIds(), [podId]);
  });

  test('kill -9 of berthd leaves the pod running; after a restart it is READY', async () => {
    await berthd.kill9();
    assert.ok(alive(pausePid), 'the pause survives berthd');
    berthd = await Berthd.start({ dir: berthd.dir, configToml });
    assert.deepEqual(podIds(['--state', 'ready']), [podId]);
    const st = inspectp(podId);
    assert.equal(st.status.network.ip, podIp);
    assert.equal(st.info.pid, pausePid);
    // SIGTERM too: berthd stops, the pod stays.
    await berthd.stop();
    assert.ok(alive(pausePid), 'the pause survives a clean stop');
    berthd = await Berthd.start({ dir: berthd.dir, configToml });
    assert.deepEqual(podIds(['--state', 'ready']), [podId]);
  });

  test('a pause that exits makes its pod NOTREADY, while berthd runs or while it is away', async () => {
    const a = crictlOk(['runp', podConfig('exit-live')]);
    const b = crictlOk(['runp', podConfig('exit-away')]);
    try {
      process.kill(inspectp(a).info.pid, 'SIGKILL');
      for (let i = 0; i < 100 && inspectp(a).status.state !== 'SANDBOX_NOTREADY'; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(inspectp(a).status.state, 'SANDBOX_NOTREADY');
      await berthd.kill9();
      const pid = inspectpOffline(b);
      process.kill(pid, 'SIGKILL');
      berthd = await Berthd.start({ dir: berthd.dir, configToml });
      assert.equal(inspectp(b).status.state, 'SANDBOX_NOTREADY');
      assert.equal(inspectp(podId).status.state, 'SANDBOX_READY');
    } finally {
      crictlOk(['rmp', a]);
      crictlOk(['rmp', b]);
    }
    assert.deepEqual(allocations(), [podIp], 'the exited pods released their IPs at rmp');
  });

  test('stopp tears the pod down (after the restart too) and is idempotent; rmp removes it', async () => {
    crictlOk(['stopp', podId]);
    assert.equal(inspectp(podId).status.state, 'SANDBOX_NOTREADY');
    assert.equal(alive(pausePid), false, 'the pause is gone');
    assert.deepEqual(netnsFiles(), []);
    assert.deepEqual(allocations(), [], 'CNI DEL released the IP');
    crictlOk(['stopp', podId]);
    crictlOk(['rmp', podId]);
    assert.deepEqual(podIds(), []);
    // crictl asks for the status first; the RPC itself answers OK for a missing pod.
    await removeMissing(podId);
    const ls = ctr(berthd.socket, ['-n', 'k8s.io', 'containers', 'ls', '-q']);
    assert.equal(ls.stdout.trim(), '');
    const snaps = ctr(berthd.socket, ['-n', 'k8s.io', 'snapshots', 'ls']).stdout;
    assert.ok(!snaps.includes(podId), 'the pause snapshot is gone');
    assert.equal(
      existsSync(join(berthd.root, 'io.containerd.grpc.v1.cri', 'sandboxes', podId)),
      false,
    );
  });

  test('port-forward reaches a server listening on localhost inside the pod only', async () => {
    const pod = crictlOk(['runp', podConfig('pf')]);
    try {
      const ctrConfig = join(dir.path, 'ctr-pf.json');
      writeFileSync(
        ctrConfig,
        JSON.stringify({
          metadata: { name: 'httpd' },
          image: { image: `${registry.host}/busybox:web` },
          command: [
            'sh',
            '-c',
            'mkdir -p /www && echo hello-from-pod > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www',
          ],
          log_path: 'httpd.log',
          linux: {},
        }),
      );
      crictlOk(['pull', `${registry.host}/busybox:web`]);
      const ctrId = crictlOk(['create', pod, ctrConfig, podConfig('pf')]);
      crictlOk(['start', ctrId]);
      const local = await freePort();
      const pf = spawn(
        CRICTL,
        ['--runtime-endpoint', `unix://${berthd.socket}`, 'port-forward', pod, `${local}:8080`],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      try {
        await new Promise<void>((resolve, reject) => {
          let out = '';
          const t = setTimeout(() => reject(new Error(`crictl port-forward: ${out}`)), 20_000);
          const onData = (b: Buffer) => {
            out += b.toString();
            if (out.includes('Forwarding from')) {
              clearTimeout(t);
              resolve();
            }
          };
          pf.stdout.on('data', onData);
          pf.stderr.on('data', onData);
        });
        // httpd listens on the pod's 127.0.0.1 only: the port forward is the one way in.
        let body = '';
        for (let i = 0; i < 50 && body === ''; i++) {
          body = await fetch(`http://127.0.0.1:${local}/`).then(
            (r) => r.text(),
            () => new Promise<string>((r) => setTimeout(() => r(''), 100)),
          );
        }
        assert.equal(body, 'hello-from-pod\n');
      } finally {
        pf.kill('SIGKILL');
      }
    } finally {
      crictlOk(['rmp', '-f', pod]);
    }
    assert.deepEqual(podIds(), []);
  });

  test('statsp: a pod under a cgroup parent reports CPU, memory, eth0 traffic and processes', async () => {
    const parent = `/berth-cri-pod-${tag}`;
    const pod = crictlOk(['runp', podConfig('stats', { linux: { cgroup_parent: parent } })]);
    try {
      const ctrConfig = join(dir.path, 'ctr-stats.json');
      writeFileSync(
        ctrConfig,
        JSON.stringify({
          metadata: { name: 'busy' },
          image: { image: `${registry.host}/busybox:web` },
          command: ['sh', '-c', 'while :; do :; done'],
          linux: {},
        }),
      );
      crictlOk(['pull', `${registry.host}/busybox:web`]);
      const ctrId = crictlOk([
        'create',
        pod,
        ctrConfig,
        podConfig('stats', { linux: { cgroup_parent: parent } }),
      ]);
      crictlOk(['start', ctrId]);
      // Some traffic to the pod: a refused connection is a SYN in and a RST out.
      const ip = inspectp(pod).status.network.ip;
      await new Promise<void>((resolve) => {
        const c = connect({ host: ip, port: 9 });
        c.on('error', () => resolve());
        c.on('connect', () => resolve());
      });
      // The CPU rate needs an earlier sample: the first answer has none (containerd's too).
      crictlOk(['statsp', '-o', 'json', pod]);
      await new Promise((r) => setTimeout(r, 500));
      const out = JSON.parse(crictlOk(['statsp', '-o', 'json', pod])) as {
        stats: {
          attributes: { id: string };
          linux: {
            cpu: { usageCoreNanoSeconds: { value: string }; usageNanoCores: { value: string } };
            memory: { workingSetBytes: { value: string } };
            network: { defaultInterface: { name: string; rxBytes: { value: string } } };
            process: { processCount: { value: string } };
            containers: { attributes: { id: string } }[];
          };
        }[];
      };
      const st = out.stats[0];
      assert.equal(st?.attributes.id, pod);
      assert.ok(Number(st.linux.cpu.usageCoreNanoSeconds.value) > 0);
      assert.ok(Number(st.linux.cpu.usageNanoCores.value) > 100_000_000, 'the busy loop shows');
      assert.ok(Number(st.linux.memory.workingSetBytes.value) > 0);
      assert.equal(st.linux.network.defaultInterface.name, 'eth0');
      assert.ok(Number(st.linux.network.defaultInterface.rxBytes.value) > 0);
      assert.ok(Number(st.linux.process.processCount.value) >= 1);
      assert.deepEqual(
        st.linux.containers.map((c) => c.attributes.id),
        [ctrId],
      );
    } finally {
      crictlOk(['rmp', '-f', pod]);
      // runc removed the pods' cgroups; the parent is the test's own.
      for (const ctl of readdirSync('/sys/fs/cgroup')) {
        spawnSync('rmdir', [join('/sys/fs/cgroup', ctl, parent)]);
      }
    }
  });

  test('concurrent runp: distinct pods all run; one pod twice at once runs once', async () => {
    const runp = (cfg: string) =>
      new Promise<{ code: number; out: string; err: string }>((resolve) => {
        const p = spawn(CRICTL, [
          '--runtime-endpoint',
          `unix://${berthd.socket}`,
          '--timeout',
          '60s',
          'runp',
          cfg,
        ]);
        let out = '';
        let err = '';
        p.stdout.on('data', (b: Buffer) => (out += b.toString()));
        p.stderr.on('data', (b: Buffer) => (err += b.toString()));
        p.on('close', (code) => resolve({ code: code ?? -1, out: out.trim(), err }));
      });
    const before = allocations().length;
    const distinct = await Promise.all([1, 2, 3, 4, 5].map((i) => runp(podConfig(`many-${i}`))));
    const twice = await Promise.all([runp(podConfig('twice')), runp(podConfig('twice'))]);
    const ids: string[] = [];
    try {
      for (const r of distinct) {
        assert.equal(r.code, 0, r.err);
        ids.push(r.out);
      }
      const ok = twice.filter((r) => r.code === 0);
      for (const r of ok) ids.push(r.out);
      assert.equal(ok.length, 1, twice.map((r) => r.err).join('\n'));
      assert.match(twice.find((r) => r.code !== 0)?.err ?? '', /is reserved for/);
      assert.equal(
        new Set(ids.map((id) => inspectp(id).status.network.ip)).size,
        6,
        'six pods, six IPs',
      );
      assert.equal(allocations().length, before + 6);
    } finally {
      await Promise.all(ids.map((id) => Promise.resolve(crictl(['rmp', '-f', id]))));
    }
    assert.equal(allocations().length, before);
  });

  test('disabled_plugins = ["io.containerd.grpc.v1.cri"] turns the CRI off', async () => {
    const off = await Berthd.start({
      configToml: `disabled_plugins = ["io.containerd.grpc.v1.cri"]\n${configToml}`,
    });
    try {
      const rows = ctr(off.socket, ['plugins', 'ls']).stdout.split('\n');
      assert.ok(
        rows.some((r) => /^io\.containerd\.grpc\.v1\s+cri\s.*\sskip\s*$/.test(r)),
        rows.join('\n'),
      );
      const r = spawnSync(CRICTL, ['--runtime-endpoint', `unix://${off.socket}`, 'version'], {
        encoding: 'utf8',
      });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /Unimplemented/);
    } finally {
      await off.cleanup();
    }
    // And on, it is listed ok.
    const rows = ctr(berthd.socket, ['plugins', 'ls']).stdout.split('\n');
    assert.ok(
      rows.some((r) => /^io\.containerd\.grpc\.v1\s+cri\s.*\sok\s*$/.test(r)),
      rows.join('\n'),
    );
    assert.match(crictlOk(['version']), /RuntimeApiVersion:\s+v1/);
    const info = JSON.parse(crictlOk(['info'])) as {
      status: { conditions: { type: string; status: boolean }[] };
    };
    assert.deepEqual(
      info.status.conditions.map((c) => [c.type, c.status]),
      [
        ['RuntimeReady', true],
        ['NetworkReady', true],
      ],
    );
  });

  test('a CNI ADD failure leaves no netns, IP, pause task or record behind', () => {
    writeConflist([bridgePlugin(), { type: 'fail-add' }]);
    try {
      const r = crictl(['runp', podConfig('broken')]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /failed to setup network for sandbox/);
      assert.match(r.stderr, /fail-add refuses every pod/);
      assert.deepEqual(podIds(), []);
      assert.deepEqual(netnsFiles(), []);
      assert.deepEqual(allocations(), []);
      assert.equal(
        ctr(berthd.socket, ['-n', 'k8s.io', 'containers', 'ls', '-q']).stdout.trim(),
        '',
      );
      assert.equal(ctr(berthd.socket, ['-n', 'k8s.io', 'tasks', 'ls', '-q']).stdout.trim(), '');
      // The name is free again once the network works.
      writeConflist([bridgePlugin()]);
      const id = crictlOk(['runp', podConfig('broken')]);
      crictlOk(['rmp', '-f', id]);
    } finally {
      writeConflist([bridgePlugin()]);
    }
  });
});
