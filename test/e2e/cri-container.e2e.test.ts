/**
 * Containers in a pod through the real crictl against berthd's CRI: pull,
 * create, start, ps, logs, exec (streaming and sync), inspect, stop, rm;
 * the exit code and reason of a failing container; a kill -9 of berthd with
 * a container running (still RUNNING afterwards, its log goes on, exec
 * works). The pod uses the host's network, so no CNI set-up is needed. The
 * pause image is pause.c (cri-tools' test sources) built static and the
 * container image Debian's static busybox, served by a local
 * docker-registry that a hosts.toml mirrors registry.k8s.io to.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Berthd } from '../helpers/berthd.js';
import { writeMirrors } from '../helpers/cri.js';
import {
  processAlive as alive,
  buildPauseImage,
  crictlE2eSkip,
  crictlFor,
  e2eCriConfigToml,
  runTeardown,
} from '../helpers/cri-e2e.js';
import { ctr } from '../helpers/ctr.js';
import { waitFor } from '../helpers/daemon.js';
import { buildImage, busyboxImage, pushImage } from '../helpers/images.js';
import { Registry } from '../helpers/registry.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const BUSYBOX_REF = 'registry.k8s.io/e2e-test-images/busybox:berth-test';
const skip = crictlE2eSkip();

describe('CRI containers (crictl)', { skip, concurrency: false }, () => {
  let dir: TempDir;
  let registry: Registry;
  let berthd: Berthd;
  let configToml: string;
  let podId = '';
  let podJson = '';
  let logDir = '';

  const { crictl, crictlOk } = crictlFor(() => berthd);
  const containerJson = (name: string, command: string[], extra: Record<string, unknown> = {}) => {
    const path = join(dir.path, `ctr-${name}.json`);
    writeFileSync(
      path,
      JSON.stringify({
        metadata: { name },
        image: { image: BUSYBOX_REF },
        command,
        log_path: `${name}.log`,
        labels: { app: name, suite: 'cri-container' },
        annotations: { note: `container ${name}` },
        linux: {},
        ...extra,
      }),
    );
    return path;
  };
  const create = (name: string, command: string[], extra?: Record<string, unknown>) =>
    crictlOk(['create', podId, containerJson(name, command, extra), podJson]);
  const inspect = (id: string) =>
    JSON.parse(crictlOk(['inspect', '-o', 'json', id])) as {
      status: {
        id: string;
        state: string;
        exitCode: number;
        reason: string;
        logPath: string;
        startedAt: string;
        finishedAt: string;
        labels: Record<string, string>;
        image: { image: string };
        imageRef: string;
      };
      info: { pid: number; sandboxID: string; runtimeSpec: { process: { args: string[] } } };
    };
  const ps = (args: string[] = []) =>
    crictlOk(['ps', '-a', '-q', '--no-trunc', ...args])
      .split('\n')
      .filter((l) => l !== '');

  before(async () => {
    dir = tempDir('berth-cri-ctr-');
    logDir = join(dir.path, 'logs');
    // The pause image: cri-tools' pause.c, static; the container image: static busybox.
    const pause = await buildPauseImage(dir);
    const busybox = await buildImage(join(dir.path, 'bb'), busyboxImage());
    registry = await Registry.start(dir);
    await pushImage(registry, pause.layout, pause.tag, 'pause:3.6');
    await pushImage(registry, busybox.layout, busybox.tag, 'e2e-test-images/busybox:berth-test');
    const certs = join(dir.path, 'certs.d');
    writeMirrors(certs, ['registry.k8s.io'], registry.url);
    const confDir = join(dir.path, 'net.d');
    mkdirSync(confDir);
    configToml = e2eCriConfigToml({ cniBinDir: '/usr/lib/cni', confDir, certsDir: certs });
    berthd = await Berthd.start({ dir: tempDir('berth-cri-ctr-d-'), configToml });
    podJson = join(dir.path, 'pod.json');
    writeFileSync(
      podJson,
      JSON.stringify({
        // No hostname: kubelet sets none for a pod on the host's network (runc refuses one without a UTS namespace).
        metadata: { name: 'box', namespace: 'cri-ctr-test', uid: 'uid-box', attempt: 1 },
        log_directory: logDir,
        linux: { security_context: { namespace_options: { network: 2 } } },
      }),
    );
    podId = crictlOk(['runp', podJson]);
    crictlOk(['pull', BUSYBOX_REF]);
  });

  after(async () => {
    await runTeardown([
      [
        'pods',
        () => {
          if (berthd?.running) {
            for (const id of ps()) crictl(['rm', '-f', id]);
            if (podId) crictl(['rmp', '-f', podId]);
          }
        },
      ],
      ['berthd', () => berthd?.cleanup()],
      ['registry', () => registry?.stop()],
      ['dir', () => dir?.remove()],
    ]);
  });

  let tickerId = '';

  test('create, start, ps, logs, exec: a container runs in the pod', async () => {
    tickerId = create('ticker', [
      'sh',
      '-c',
      'echo started; echo warn >&2; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done',
    ]);
    assert.match(tickerId, /^[0-9a-f]{64}$/);
    let st = inspect(tickerId);
    assert.equal(st.status.state, 'CONTAINER_CREATED');
    assert.equal(st.status.image.image, BUSYBOX_REF);
    assert.equal(st.info.sandboxID, podId);
    assert.equal(st.status.logPath, join(logDir, 'ticker.log'));
    crictlOk(['start', tickerId.slice(0, 12)]);
    st = inspect(tickerId);
    assert.equal(st.status.state, 'CONTAINER_RUNNING');
    assert.ok(alive(st.info.pid));
    assert.deepEqual(ps(['--state', 'running', '--label', 'app=ticker']), [tickerId]);
    assert.deepEqual(ps(['--pod', podId.slice(0, 10), '--name', 'ticker']), [tickerId]);

    await waitFor('the log', () => crictl(['logs', tickerId]).stdout.includes('tick 2'), 10_000);
    const logs = crictl(['logs', tickerId]);
    assert.match(logs.stdout, /^started\n/);
    assert.match(logs.stderr, /warn/);
    const raw = readFileSync(join(logDir, 'ticker.log'), 'utf8');
    assert.match(raw, /^\S+ stdout F started$/m, 'the CRI log format');
    assert.match(raw, /^\S+ stderr F warn$/m);

    // Streaming exec (SPDY through the streaming server) and ExecSync.
    const ex = crictl(['exec', tickerId, 'sh', '-c', 'echo from-exec; echo to-err >&2; exit 3']);
    // crictl 1.26 exits 1 and names the exec's code.
    assert.equal(ex.code, 1, ex.stderr);
    assert.match(ex.stderr, /command terminated with exit code 3/);
    assert.equal(ex.stdout, 'from-exec\n');
    assert.match(ex.stderr, /to-err/);
    assert.equal(crictlOk(['exec', '-s', tickerId, 'cat', '/etc/hostname']), hostname());
    // Stats: CPU and memory from the task's cgroup, the writable layer from the snapshot.
    const stats = JSON.parse(crictlOk(['stats', '-o', 'json', '--id', tickerId])) as {
      stats: {
        attributes: { id: string };
        cpu: { usageCoreNanoSeconds: { value: string } };
        memory: { workingSetBytes: { value: string } };
      }[];
    };
    assert.equal(stats.stats.length, 1);
    assert.equal(stats.stats[0]?.attributes.id, tickerId);
    assert.ok(Number(stats.stats[0]?.cpu.usageCoreNanoSeconds.value) > 0);
    assert.ok(Number(stats.stats[0]?.memory.workingSetBytes.value) > 0);
    // The container record and task as ctr shows them.
    const ls = ctr(berthd.socket, ['-n', 'k8s.io', 'containers', 'info', tickerId]).stdout;
    assert.match(ls, /"io.cri-containerd.kind": "container"/);
    assert.match(
      ctr(berthd.socket, ['-n', 'k8s.io', 'tasks', 'ls']).stdout,
      new RegExp(`${tickerId}\\s+\\d+\\s+RUNNING`),
    );
  });

  test('a failing container reports its exit code and reason', async () => {
    const id = create('fails', ['sh', '-c', 'echo bye; exit 3']);
    crictlOk(['start', id]);
    await waitFor(
      'the container to exit',
      () => inspect(id).status.state === 'CONTAINER_EXITED',
      10_000,
    );
    const st = inspect(id).status;
    assert.equal(st.exitCode, 3);
    assert.equal(st.reason, 'Error');
    assert.equal(crictlOk(['logs', id]), 'bye');
    assert.equal(
      crictl(['exec', '-s', id, 'true']).code === 0,
      false,
      'no exec in an exited container',
    );
    crictlOk(['rm', id]);
    assert.ok(!ps().includes(id));
    const completed = create('completes', ['true']);
    crictlOk(['start', completed]);
    await waitFor(
      'true to exit',
      () => inspect(completed).status.state === 'CONTAINER_EXITED',
      10_000,
    );
    assert.equal(inspect(completed).status.reason, 'Completed');
    crictlOk(['rm', completed]);
  });

  test('a container killed by the OOM killer is OOMKilled', async () => {
    // busybox tail keeps the last line of /dev/zero, which never ends: memory grows to the limit.
    const id = create('hog', ['busybox', 'tail', '/dev/zero'], {
      linux: { resources: { memory_limit_in_bytes: 16 * 1024 * 1024 } },
    });
    crictlOk(['start', id]);
    await waitFor(
      'the hog to be killed',
      () => inspect(id).status.state === 'CONTAINER_EXITED',
      30_000,
    );
    const st = inspect(id).status;
    assert.equal(st.exitCode, 137);
    assert.equal(st.reason, 'OOMKilled');
    crictlOk(['rm', id]);
  });

  test('kill -9 of berthd: the container keeps running and logging, exec works after the restart', async () => {
    const before = inspect(tickerId);
    const pid = before.info.pid;
    const log = join(logDir, 'ticker.log');
    await berthd.kill9();
    assert.ok(alive(pid), 'the container survives berthd');
    await new Promise((r) => setTimeout(r, 1000));
    const linesAtRestart = readFileSync(log, 'utf8').split('\n').length;
    berthd = await Berthd.start({ dir: berthd.dir, configToml });
    const st = inspect(tickerId);
    assert.equal(st.status.state, 'CONTAINER_RUNNING');
    assert.equal(st.info.pid, pid);
    await waitFor(
      'the log to go on after the restart',
      () => readFileSync(log, 'utf8').split('\n').length > linesAtRestart + 5,
      10_000,
    );
    assert.equal(crictlOk(['exec', '-s', tickerId, 'echo', 'still here']), 'still here');
    const ex = crictl(['exec', tickerId, 'echo', 'streamed']);
    assert.equal(ex.stdout, 'streamed\n', ex.stderr);
  });

  test('SIGTERM of berthd: the same after a clean stop and start', async () => {
    const { pid } = inspect(tickerId).info;
    const log = join(logDir, 'ticker.log');
    assert.equal(await berthd.stop(), 0);
    assert.ok(alive(pid), 'the container survives a clean stop');
    const lines = readFileSync(log, 'utf8').split('\n').length;
    berthd = await Berthd.start({ dir: berthd.dir, configToml });
    assert.equal(inspect(tickerId).status.state, 'CONTAINER_RUNNING');
    await waitFor(
      'the log to go on',
      () => readFileSync(log, 'utf8').split('\n').length > lines + 5,
      10_000,
    );
  });

  test('stop (SIGTERM, then SIGKILL at the timeout) and rm; the log stays', () => {
    const t0 = Date.now();
    crictlOk(['stop', '--timeout', '2', tickerId]);
    // The ticker's shell is not the pod's pid 1 (the pause is): SIGTERM ends it, 143.
    const st = inspect(tickerId).status;
    assert.equal(st.state, 'CONTAINER_EXITED');
    assert.equal(st.exitCode, 143);
    assert.ok(Date.now() - t0 < 20_000);
    crictlOk(['stop', tickerId]);
    crictlOk(['rm', tickerId]);
    assert.deepEqual(ps(), []);
    assert.ok(existsSync(join(logDir, 'ticker.log')), "the log is kubelet's");
    assert.equal(
      ctr(berthd.socket, ['-n', 'k8s.io', 'tasks', 'ls', '-q']).stdout.includes(tickerId),
      false,
    );
    const snaps = ctr(berthd.socket, ['-n', 'k8s.io', 'snapshots', 'ls']).stdout;
    assert.ok(!snaps.includes(tickerId), 'the snapshot is gone');
    assert.equal(
      existsSync(join(berthd.root, 'io.containerd.grpc.v1.cri', 'containers', tickerId)),
      false,
    );
  });

  test("stopp kills the pod's containers; rmp removes them", () => {
    const id = create('in-pod', ['sleep', '1000']);
    crictlOk(['start', id]);
    crictlOk(['stopp', podId]);
    assert.equal(inspect(id).status.state, 'CONTAINER_EXITED');
    const r = crictl(['create', podId, containerJson('late', ['true']), podJson]);
    assert.notEqual(r.code, 0, 'no new container in a stopped pod');
    crictlOk(['rmp', podId]);
    assert.deepEqual(ps(), []);
    assert.equal(ctr(berthd.socket, ['-n', 'k8s.io', 'containers', 'ls', '-q']).stdout.trim(), '');
    podId = '';
  });
});
