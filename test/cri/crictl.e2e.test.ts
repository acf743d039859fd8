/**
 * Issue 12's acceptance: crictl (cri-tools 1.26.1) as a user drives a CRI runtime, with a kill -9
 * of the runtime in the middle, and the bad input cases: a pod whose CNI ADD fails leaves nothing
 * behind; a missing image, a bad seccomp profile and a bad mount get clear errors.
 *
 *   BERTH_CRICTL_RUNTIME=containerd   run it against Debian's containerd 1.6.20 (its CRI plugin)
 *                                     to check the expectations; default berthd.
 *
 * Same set-up as critest.e2e.test.ts: test/cri/README.md.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CriEnv,
  crictl,
  crictlArgs,
  crictlBackground,
  crictlOk,
  criMissing,
} from '../helpers/cri.js';
import { CriRuntime, type CriRuntimeKind } from '../helpers/cri-runtime.js';
import { ctrOk } from '../helpers/ctr.js';
import { mountsUnder, shimPids, waitFor } from '../helpers/daemon.js';
import { freePort } from '../helpers/registry.js';

const NGINX = 'registry.k8s.io/e2e-test-images/nginx:1.14-2';
const BUSYBOX = 'registry.k8s.io/e2e-test-images/busybox:1.29-2';

function runtimeKind(): CriRuntimeKind {
  const v = process.env.BERTH_CRICTL_RUNTIME;
  if (v === undefined || v === '' || v === 'berthd') return 'berthd';
  if (v === 'containerd') return 'containerd';
  throw new Error(`BERTH_CRICTL_RUNTIME=${JSON.stringify(v)}: expected berthd or containerd`);
}
const kind = runtimeKind();

/** crictl's last stderr line: its fatal message, what a user reads. */
const lastLine = (s: string) => s.trim().split('\n').at(-1) ?? '';

const shQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

async function get(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: r.status, body: await r.text() };
}

/** GETs `url` until it answers 200 (a server in a fresh pod may still be starting). */
async function getWhenUp(url: string, timeoutMs = 20_000): Promise<string> {
  let last: unknown;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const r = await get(url);
      if (r.status === 200) return r.body;
      last = `status ${r.status}`;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`GET ${url} did not answer 200 within ${timeoutMs} ms: ${String(last)}`);
}

interface PodSpec {
  name: string;
  hostPort?: number;
  logDir: string;
}

function podConfig(p: PodSpec): object {
  return {
    metadata: { name: p.name, namespace: 'crictl-e2e', uid: `uid-${p.name}`, attempt: 0 },
    hostname: p.name,
    log_directory: p.logDir,
    labels: { test: 'crictl-e2e' },
    annotations: { 'berth.test/scenario': p.name },
    port_mappings: p.hostPort
      ? [{ protocol: 0, container_port: 80, host_port: p.hostPort, host_ip: '127.0.0.1' }]
      : [],
    linux: {},
  };
}

describe(`crictl as a user would, against ${kind}`, { skip: criMissing() }, () => {
  let env: CriEnv;
  let rt: CriRuntime;
  const background: ReturnType<typeof crictlBackground>[] = [];
  const files = new Map<string, string>();
  /** Writes a JSON config for crictl under the env's scratch dir and returns its path. */
  const json = (name: string, v: object) => {
    const f = join(env.scratch('configs'), `${name}.json`);
    writeFileSync(f, JSON.stringify(v, null, 2));
    files.set(name, f);
    return f;
  };
  const ok = (args: string[], timeoutMs?: number) =>
    crictlOk(env.tools, rt.socket, args, timeoutMs === undefined ? {} : { timeoutMs });
  const run = (args: string[]) => crictl(env.tools, rt.socket, args);

  before(async () => {
    env = await CriEnv.start();
    rt = await CriRuntime.start(kind, env);
  });

  after(async () => {
    for (const b of background) await b.kill();
    await rt?.close();
    await env?.close();
  });

  describe('a pod with nginx, through a kill -9 of the runtime', () => {
    let hostPort: number;
    let pod: string;
    let ctr: string;
    let podIp: string;
    let logDir: string;

    test('version and info answer', () => {
      const v = ok(['version']);
      assert.match(v, /RuntimeApiVersion:\s+v1/);
      const info = JSON.parse(ok(['info', '-o', 'json'])) as {
        status: { conditions: { type: string; status: boolean }[] };
      };
      const cond = Object.fromEntries(info.status.conditions.map((c) => [c.type, c.status]));
      assert.equal(cond.RuntimeReady, true, JSON.stringify(info.status));
      assert.equal(cond.NetworkReady, true, JSON.stringify(info.status));
    });

    test('pull', () => {
      ok(['pull', NGINX], 120_000);
      ok(['pull', BUSYBOX], 120_000);
      const images = JSON.parse(ok(['images', '-o', 'json'])) as {
        images: { repoTags: string[]; id: string }[];
      };
      const tags = images.images.flatMap((i) => i.repoTags);
      assert.ok(tags.includes(NGINX), tags.join(', '));
      assert.ok(tags.includes(BUSYBOX), tags.join(', '));
      const st = JSON.parse(ok(['inspecti', '-o', 'json', NGINX])) as {
        status: { id: string; repoTags: string[] };
      };
      assert.match(st.status.id, /^sha256:[0-9a-f]{64}$/);
    });

    test('runp with a hostPort, inspectp', async () => {
      hostPort = await freePort();
      logDir = env.scratch('pod-logs');
      pod = ok(['runp', json('pod', podConfig({ name: 'web', hostPort, logDir }))], 120_000);
      assert.match(pod, /^[0-9a-f]{64}$/);
      const st = JSON.parse(ok(['inspectp', '-o', 'json', pod])) as {
        status: {
          id: string;
          state: string;
          metadata: { name: string; namespace: string };
          network: { ip: string };
          labels: Record<string, string>;
        };
      };
      assert.equal(st.status.id, pod);
      assert.equal(st.status.state, 'SANDBOX_READY');
      assert.equal(st.status.metadata.name, 'web');
      assert.equal(st.status.labels.test, 'crictl-e2e');
      podIp = st.status.network.ip;
      assert.ok(
        podIp.startsWith(`${env.network.net24}.`),
        `pod IP ${podIp} not in ${env.network.subnet}`,
      );
      assert.deepEqual(env.network.allocatedIps(), [podIp]);
      const pods = ok(['pods', '-q', '--label', 'test=crictl-e2e']).split('\n');
      assert.deepEqual(pods, [pod]);
    });

    test('create and start nginx, ps', () => {
      const cfg = json('nginx', {
        metadata: { name: 'nginx' },
        image: { image: NGINX },
        log_path: 'nginx.log',
        labels: { app: 'nginx' },
      });
      ctr = ok(['create', pod, cfg, files.get('pod') as string], 60_000);
      assert.match(ctr, /^[0-9a-f]{64}$/);
      ok(['start', ctr]);
      const ps = JSON.parse(ok(['ps', '-o', 'json', '--pod', pod])) as {
        containers: {
          id: string;
          state: string;
          metadata: { name: string };
          labels: Record<string, string>;
        }[];
      };
      assert.equal(ps.containers.length, 1, JSON.stringify(ps));
      assert.equal(ps.containers[0]?.id, ctr);
      assert.equal(ps.containers[0]?.state, 'CONTAINER_RUNNING');
      assert.equal(ps.containers[0]?.labels.app, 'nginx');
    });

    test('nginx answers on the pod IP and on the host port', async () => {
      assert.match(await getWhenUp(`http://${podIp}/`), /Welcome to nginx!/);
      assert.match(await getWhenUp(`http://127.0.0.1:${hostPort}/`), /Welcome to nginx!/);
    });

    test('logs -f follows the container log (CRI format file under the log directory)', async () => {
      const f = crictlBackground(env.tools, rt.socket, ['logs', '-f', ctr]);
      background.push(f);
      await get(`http://${podIp}/?logs-follow-marker`);
      await waitFor(
        'the request in logs -f',
        () => f.out.stdout.includes('/?logs-follow-marker'),
        15_000,
      );
      const file = join(logDir, 'nginx.log');
      const lines = readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.includes('/?logs-follow-marker'));
      assert.equal(lines.length, 1, readFileSync(file, 'utf8'));
      assert.match(
        lines[0] as string,
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) stdout F .*GET \/\?logs-follow-marker HTTP\/1\.1" 200/,
      );
      await f.kill();
      // logs without -f, and --tail
      assert.match(ok(['logs', '--tail', '1', ctr]), /logs-follow-marker/);
    });

    test('exec -it in a pty: the shell reads stdin and its exit code comes back', async () => {
      const argv = [env.tools.crictl, ...crictlArgs(rt.socket, ['exec', '-it', ctr, 'sh'])];
      const p = spawn(
        'script',
        ['-qefc', argv.map(shQuote).join(' '), '-E', 'never', '/dev/null'],
        {
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      let out = '';
      p.stdout.on('data', (b: Buffer) => (out += b.toString()));
      p.stderr.on('data', (b: Buffer) => (out += b.toString()));
      const exited = new Promise<number | null>((res) => p.once('exit', (c) => res(c)));
      p.stdin.write('tty; echo "sum=$((40+2))"; exit 7\n');
      const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(t);
      // crictl exits 1 and names the command's exit code
      assert.equal(code, 1, out);
      assert.match(out, /command terminated with exit code 7/);
      assert.match(out, /\/dev\/pts\/\d+/);
      assert.match(out, /sum=42/);
    });

    test('exec without a tty, exit codes', () => {
      assert.equal(ok(['exec', ctr, 'cat', '/etc/hostname']), 'web');
      const r = run(['exec', ctr, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
      assert.equal(r.code, 1, `${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /command terminated with exit code 3/);
      assert.match(r.stdout, /out/);
      assert.match(r.stderr, /err/);
    });

    test('port-forward reaches the pod port 80 from 127.0.0.1', async () => {
      const local = await freePort();
      const pf = crictlBackground(env.tools, rt.socket, ['port-forward', pod, `${local}:80`]);
      background.push(pf);
      await waitFor(
        'port-forward to listen',
        () => /Forwarding from/.test(pf.out.stdout + pf.out.stderr),
        15_000,
      );
      for (let i = 0; i < 3; i++) {
        assert.match((await get(`http://127.0.0.1:${local}/`)).body, /Welcome to nginx!/);
      }
      await pf.kill();
    });

    test('stats', () => {
      const s = JSON.parse(ok(['stats', '-o', 'json', '--id', ctr])) as {
        stats: {
          attributes: { id: string };
          cpu: { usageCoreNanoSeconds?: { value: string } };
          memory: { workingSetBytes?: { value: string } };
        }[];
      };
      assert.equal(s.stats.length, 1, JSON.stringify(s));
      assert.equal(s.stats[0]?.attributes.id, ctr);
      assert.ok(Number(s.stats[0]?.memory.workingSetBytes?.value) > 0, JSON.stringify(s.stats[0]));
      assert.ok(
        Number(s.stats[0]?.cpu.usageCoreNanoSeconds?.value) > 0,
        JSON.stringify(s.stats[0]),
      );
    });

    test('kill -9 of the runtime: the pod keeps running and answers; after a restart, the same state', async () => {
      const pauseAndNginx = ok(['inspect', '-o', 'json', ctr]);
      const pid = (JSON.parse(pauseAndNginx) as { info: { pid: number } }).info.pid;
      assert.ok(pid > 0, pauseAndNginx.slice(0, 500));
      await rt.kill9();
      try {
        // while it is down: the container runs, nginx answers on the pod IP and the host port
        process.kill(pid, 0);
        assert.match(await getWhenUp(`http://${podIp}/?while-down`), /Welcome to nginx!/);
        assert.match(await getWhenUp(`http://127.0.0.1:${hostPort}/`), /Welcome to nginx!/);
      } finally {
        await rt.restart();
      }
      const st = JSON.parse(ok(['inspectp', '-o', 'json', pod])) as {
        status: { state: string; network: { ip: string } };
      };
      assert.equal(st.status.state, 'SANDBOX_READY');
      assert.equal(st.status.network.ip, podIp);
      const ps = JSON.parse(ok(['ps', '-o', 'json', '--pod', pod])) as {
        containers: { id: string; state: string }[];
      };
      assert.deepEqual(
        ps.containers.map((c) => [c.id, c.state]),
        [[ctr, 'CONTAINER_RUNNING']],
      );
      assert.equal(ok(['exec', ctr, 'cat', '/etc/hostname']), 'web');
      // the log kept what nginx wrote while the runtime was down, and keeps writing
      await get(`http://${podIp}/?after-restart`);
      await waitFor(
        'the requests in the log',
        () => {
          const log = ok(['logs', ctr]);
          return log.includes('/?while-down') && log.includes('/?after-restart');
        },
        15_000,
      );
    });

    test('stop, rm, stopp, rmp: nothing left', async () => {
      ok(['stop', '--timeout', '10', ctr], 60_000);
      const st = JSON.parse(ok(['inspect', '-o', 'json', ctr])) as {
        status: { state: string; exitCode: number; finishedAt: string };
      };
      assert.equal(st.status.state, 'CONTAINER_EXITED');
      ok(['rm', ctr]);
      assert.equal(ok(['ps', '-a', '-q', '--pod', pod]), '');
      ok(['stopp', pod], 60_000);
      const sp = JSON.parse(ok(['inspectp', '-o', 'json', pod])) as { status: { state: string } };
      assert.equal(sp.status.state, 'SANDBOX_NOTREADY');
      assert.deepEqual(env.network.allocatedIps(), [], 'stopp releases the pod IP');
      ok(['rmp', pod]);
      assert.equal(ok(['pods', '-q']), '');
      const again = run(['rmp', pod]);
      assert.notEqual(again.code, 0, 'rmp of a removed pod id is not found');
      assert.equal(env.network.podChains().length, 0, 'the pod host port chains are gone');
      await assert.rejects(get(`http://127.0.0.1:${hostPort}/`));
    });
  });

  describe('bad input', () => {
    let pod: string;
    let logDir: string;

    before(() => {
      logDir = env.scratch('bad-logs');
    });

    test('a pod whose CNI ADD fails leaves no netns, IP, pause container or record', async (t) => {
      // What exists before: the check is that the failed runp adds nothing, whatever an earlier
      // failed test left.
      const k8s = { namespace: 'k8s.io' };
      const lines = (text: string) =>
        text
          .split('\n')
          .filter((l) => l.trim() !== '')
          .sort();
      const netnsDir = join(rt.state, 'io.containerd.grpc.v1.cri', 'netns');
      const runcDir = join(env.runcRoot, 'k8s.io');
      const snapshot = () => ({
        pods: lines(ok(['pods', '-q'])),
        ips: env.network.allocatedIps().sort(),
        chains: env.network.podChains().sort(),
        netns: existsSync(netnsDir) ? readdirSync(netnsDir).sort() : [],
        records: lines(ctrOk(rt.socket, ['containers', 'ls', '-q'], k8s)),
        tasks: lines(ctrOk(rt.socket, ['tasks', 'ls', '-q'], k8s)),
        runc: existsSync(runcDir) ? readdirSync(runcDir).sort() : [],
        mounts: mountsUnder(rt.state).sort(),
      });
      const before = snapshot();
      const shimsBefore = shimPids(rt.socket).length;
      // tuning runs after bridge and portmap and fails on a sysctl that does not exist: the
      // bridge plugin has allocated an IP and portmap its chain by then
      env.network.writeConflist([
        { type: 'tuning', sysctl: { 'net.ipv4.conf.eth0.berth_no_such_sysctl': '1' } },
      ]);
      try {
        // containerd reloads the conf dir on change (fsnotify)
        await new Promise((r) => setTimeout(r, 500));
        const port = await freePort();
        const r = run([
          'runp',
          json('cni-fail', podConfig({ name: 'cni-fail', hostPort: port, logDir })),
        ]);
        t.diagnostic(lastLine(r.stderr));
        assert.notEqual(r.code, 0, r.stdout);
        assert.match(r.stderr, /berth_no_such_sysctl/, r.stderr);
        // no pod record, IP allocation, host port chain or netns; no pause container: no
        // container record, task, runc state, shim or mount
        await waitFor(
          'no new shim of the runtime',
          () => shimPids(rt.socket).length <= shimsBefore,
          10_000,
        );
        assert.deepEqual(snapshot(), before);
      } finally {
        env.network.writeConflist();
        await new Promise((r) => setTimeout(r, 500));
      }
    });

    test('a missing image: pull and create say which image is not found', (t) => {
      const missing = 'registry.k8s.io/e2e-test-images/berth-no-such-image:1.0';
      const p = run(['pull', missing]);
      t.diagnostic(lastLine(p.stderr));
      assert.notEqual(p.code, 0);
      assert.match(p.stderr, /berth-no-such-image/);
      assert.match(p.stderr, /not found/i);
      pod = ok(['runp', json('bad', podConfig({ name: 'bad', logDir }))], 120_000);
      const c = run([
        'create',
        pod,
        json('missing-image', { metadata: { name: 'missing' }, image: { image: missing } }),
        files.get('bad') as string,
      ]);
      t.diagnostic(lastLine(c.stderr));
      assert.notEqual(c.code, 0, c.stdout);
      assert.match(c.stderr, /berth-no-such-image/);
      assert.match(c.stderr, /not found/i);
      assert.equal(ok(['ps', '-a', '-q', '--pod', pod]), '');
    });

    test('a bad seccomp profile: missing file, and not a profile', (t) => {
      const profile = join(env.scratch('seccomp'), 'not-a-profile.json');
      writeFileSync(profile, '{ this is not json');
      for (const [name, ref, why] of [
        ['seccomp-missing', '/nonexistent/berth-profile.json', /berth-profile\.json/],
        ['seccomp-garbage', profile, /not-a-profile\.json/],
      ] as const) {
        const c = run([
          'create',
          pod,
          json(name, {
            metadata: { name },
            image: { image: BUSYBOX },
            command: ['sleep', '100'],
            linux: { security_context: { seccomp: { profile_type: 2, localhost_ref: ref } } },
          }),
          files.get('bad') as string,
        ]);
        t.diagnostic(lastLine(c.stderr));
        assert.notEqual(c.code, 0, `${name}: ${c.stdout}`);
        assert.match(c.stderr, why, c.stderr);
      }
      assert.equal(ok(['ps', '-a', '-q', '--pod', pod]), '');
    });

    test('a bad mount: a host path that cannot be a directory', (t) => {
      // containerd creates a missing host path (as kubelet expects); one below a regular file
      // cannot be created
      const file = join(env.scratch('mounts'), 'a-file');
      writeFileSync(file, '');
      const hostPath = join(file, 'berth-sub-dir');
      const c = run([
        'create',
        pod,
        json('bad-mount', {
          metadata: { name: 'bad-mount' },
          image: { image: BUSYBOX },
          command: ['sleep', '100'],
          mounts: [{ container_path: '/data', host_path: hostPath }],
        }),
        files.get('bad') as string,
      ]);
      t.diagnostic(lastLine(c.stderr));
      assert.notEqual(c.code, 0, c.stdout);
      assert.ok(c.stderr.includes(hostPath), c.stderr);
      assert.match(c.stderr, /not a directory/i);
      assert.equal(ok(['ps', '-a', '-q', '--pod', pod]), '');
      ok(['stopp', pod], 60_000);
      ok(['rmp', pod]);
      assert.ok(!ok(['pods', '-q']).split('\n').includes(pod), 'the pod is gone');
    });
  });
});
