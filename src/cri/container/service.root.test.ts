import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mountsUnder, waitFor } from '../../../test/helpers/daemon.js';
import { imageStores, type TestStores } from '../../../test/helpers/image-stores.js';
import {
  ContainerConfig,
  ContainerState,
  PodSandboxConfig,
} from '../../api/k8s/cri/runtime/v1/api.js';
import {
  isAlreadyExists,
  isFailedPrecondition,
  isInvalidArgument,
  isNotFound,
  notFound,
} from '../../core/errdefs/index.js';
import { nullLogger } from '../../core/log/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import { SqliteContainerStore } from '../../metadata/index.js';
import type { ShimManager } from '../../runtime/v2/manager.js';
import {
  listenForwardedEvents,
  cgroupMemoryLimit as memoryLimit,
  realShimSkip,
  removeShimTestDir,
  shimManagerIn,
  stopShims,
} from '../../runtime/v2/testing/real-shim.js';
import type { TtrpcServer } from '../../ttrpc/index.js';
import { hostSpecFacts, realSpecHost } from '../opts/index.js';
import type { ResolvedImage, SandboxInfo } from './deps.js';
import { CONTAINER_KIND_LABEL, CONTAINER_METADATA_EXTENSION } from './metadata.js';
import { ContainerService, K8S_NAMESPACE } from './service.js';

/**
 * ContainerService against berth's real TaskManager (the runc shim and
 * runc), overlayfs snapshots, the SQLite container records, the CRI spec
 * builder and the CRI container IO; sandboxes and images are the test's
 * (a "pod" whose namespaces are this process's). Root only.
 */
const CHAIN = 'sha256:chain-busybox';
const DIGEST_REF = `localhost/busybox@sha256:${'0'.repeat(64)}`;

describe('ContainerService with the real runc shim', {
  skip: realShimSkip(),
}, () => {
  let dir: string;
  let stores: TestStores;
  let records: SqliteContainerStore;
  let events: TtrpcServer;
  const managers: ShimManager[] = [];
  const services: ContainerService[] = [];
  const ctx: OpContext = {
    namespace: K8S_NAMESPACE,
    signal: new AbortController().signal,
    log: nullLogger,
  };
  const sandboxes = new Map<string, SandboxInfo>();
  const images = new Map<string, ResolvedImage>();

  const sandbox = async (
    id: string,
    state: 'ready' | 'notready' = 'ready',
  ): Promise<SandboxInfo> => {
    const sbDir = join(dir, 'sandboxes', id);
    const sb: SandboxInfo = {
      id,
      config: PodSandboxConfig.fromPartial({
        metadata: { name: `pod-${id}`, namespace: 'default', uid: `uid-${id}`, attempt: 0 },
        hostname: `pod-${id}`,
        logDirectory: join(dir, 'logs', id),
      }),
      state,
      pid: process.pid,
      netnsPath: '',
      ip: '',
      dir: sbDir,
      shmPath: join(sbDir, 'shm'),
      runtimeHandler: '',
    };
    mkdirSync(sb.config.logDirectory, { recursive: true });
    mkdirSync(join(sbDir, 'shm'), { recursive: true });
    writeFileSync(join(sbDir, 'hostname'), `pod-${id}\n`);
    writeFileSync(join(sbDir, 'hosts'), '127.0.0.1 localhost\n');
    writeFileSync(join(sbDir, 'resolv.conf'), 'nameserver 127.0.0.1\n');
    sandboxes.set(id, sb);
    // The pod's record: containers take their runtime from it.
    await records.create(ctx, {
      id,
      labels: { 'io.cri-containerd.kind': 'sandbox' },
      image: 'pause',
      runtime: { name: 'io.containerd.runc.v2' },
      spec: {
        typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
        value: Buffer.from('{}'),
      },
      snapshotter: '',
      snapshotKey: '',
      sandbox: '',
      extensions: {},
    });
    return sb;
  };

  const service = async (): Promise<ContainerService> => {
    const m = await shimManagerIn(dir, {
      roots: { state: join(dir, 'state', 'runtime'), root: join(dir, 'root', 'runtime') },
    });
    managers.push(m);
    const s = new ContainerService({
      rootDir: join(dir, 'root', 'cri'),
      stateDir: join(dir, 'state', 'cri'),
      records,
      snapshotters: stores.snapshotters,
      tasks: m,
      leases: stores.leases,
      sandboxes: {
        get(id) {
          const sb = sandboxes.get(id);
          if (!sb) throw notFound(`sandbox ${JSON.stringify(id)}`);
          return sb;
        },
      },
      images: {
        async resolve(_ctx, ref) {
          const img = images.get(ref) ?? [...images.values()].find((i) => i.id === ref);
          if (!img) throw notFound(`image ${JSON.stringify(ref)}`);
          return img;
        },
      },
      spec: { options: { ...hostSpecFacts(), restrictOomScoreAdj: true }, host: realSpecHost },
      snapshotter: 'overlayfs',
      log: nullLogger,
    });
    services.push(s);
    await s.recover(ctx);
    s.start();
    return s;
  };

  const config = (name: string, args: string[], extra: Partial<ContainerConfig> = {}) =>
    ContainerConfig.fromPartial({
      metadata: { name, attempt: 0 },
      image: { image: 'localhost/busybox:latest' },
      command: ['/bin/sh', '-c'],
      args,
      logPath: `${name}.log`,
      labels: { app: name },
      ...extra,
    });

  const create = async (
    s: ContainerService,
    sb: SandboxInfo,
    name: string,
    args: string[],
    extra?: Partial<ContainerConfig>,
  ) =>
    (
      await s.createContainer(ctx, {
        podSandboxId: sb.id,
        config: config(name, args, extra),
        sandboxConfig: sb.config,
      })
    ).containerId;

  const status = async (s: ContainerService, id: string) =>
    (await s.containerStatus(ctx, { containerId: id, verbose: false })).status!;
  const info = async (s: ContainerService, id: string) =>
    JSON.parse((await s.containerStatus(ctx, { containerId: id, verbose: true })).info.info!);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-cri-ctr-'));
    stores = imageStores(dir, { snapshotters: ['overlayfs'] });
    records = new SqliteContainerStore(stores.mdb);
    // The image: one committed overlay snapshot holding busybox, /etc/passwd and a volume's seed.
    const sn = stores.snapshotters.get('overlayfs')!;
    const extract = await sn.prepare(ctx, 'extract-busybox');
    const fs = extract[0]!.source;
    for (const d of ['bin', 'etc', 'proc', 'dev', 'sys', 'tmp', 'data']) mkdirSync(join(fs, d));
    copyFileSync('/bin/busybox', join(fs, 'bin/busybox'));
    for (const a of ['sh', 'sleep', 'echo', 'cat', 'true', 'tail', 'kill', 'id', 'ls']) {
      symlinkSync('busybox', join(fs, 'bin', a));
    }
    writeFileSync(join(fs, 'data/seed'), 'from the image\n');
    writeFileSync(
      join(fs, 'etc/passwd'),
      'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n',
    );
    writeFileSync(join(fs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\nextra:x:4242:nobody\n');
    // A root for the collector: no image record refers to it.
    await sn.commit(ctx, CHAIN, 'extract-busybox', {
      labels: { 'containerd.io/gc.root': 'test' },
    });
    const image = (ref: string, id: string, config: ResolvedImage['config']['config']) =>
      images.set(ref, {
        id,
        references: [ref, DIGEST_REF, id],
        chainId: CHAIN,
        config: { config },
      });
    image('localhost/busybox:latest', 'sha256:img1', { Env: ['PATH=/bin'] });
    image('localhost/busybox-usr1:latest', 'sha256:img2', {
      Env: ['PATH=/bin'],
      StopSignal: 'SIGUSR1',
      Labels: { 'from.image': 'yes' },
    });
    image('localhost/busybox-nobody:latest', 'sha256:img3', {
      Env: ['PATH=/bin'],
      User: 'nobody',
      Volumes: { '/data': {} },
    });
    events = await listenForwardedEvents(dir);
  });

  after(async () => {
    for (const s of services) await s.close();
    await stopShims(ctx, dir, managers);
    await events.close();
    await stores.close();
    removeShimTestDir(dir);
  });

  it('creates, starts, logs, execs, stops and removes a container', async () => {
    const s = await service();
    const sb = await sandbox('sb1');
    const id = await create(s, sb, 'web', [
      'echo hello; echo oops >&2; trap "exit 0" TERM; while true; do sleep 0.1; done',
    ]);
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(mountsUnder(dir).length, 0, 'the read-only rootfs mount is gone');
    let st = await status(s, id);
    assert.equal(st.state, ContainerState.CONTAINER_CREATED);
    assert.equal(st.image?.image, 'localhost/busybox:latest');
    assert.equal(st.imageRef, DIGEST_REF);
    assert.equal(st.logPath, join(sb.config.logDirectory, 'web.log'));
    const record = await records.get(ctx, id);
    assert.equal(record.labels[CONTAINER_KIND_LABEL], 'container');
    assert.equal(record.labels.app, 'web');
    assert.ok(record.extensions[CONTAINER_METADATA_EXTENSION]);
    assert.equal(record.snapshotKey, id);
    assert.equal((await stores.snapshotters.get('overlayfs')!.stat(ctx, id)).parent, CHAIN);

    // The same name again is refused and leaves nothing behind.
    const before = (await records.list(ctx)).length;
    await assert.rejects(create(s, sb, 'web', ['true']), isAlreadyExists);
    assert.equal((await records.list(ctx)).length, before);

    await s.startContainer(ctx, { containerId: id.slice(0, 12) });
    st = await status(s, id);
    assert.equal(st.state, ContainerState.CONTAINER_RUNNING);
    assert.ok(st.startedAt > st.createdAt);
    await assert.rejects(s.startContainer(ctx, { containerId: id }), isFailedPrecondition);
    const log = join(sb.config.logDirectory, 'web.log');
    await waitFor(
      'the log lines',
      () => existsSync(log) && readFileSync(log, 'utf8').includes('stderr F oops'),
      10_000,
    );
    assert.match(readFileSync(log, 'utf8'), /^\S+ stdout F hello$/m);

    const r = await s.execSync(ctx, {
      containerId: id,
      cmd: ['sh', '-c', 'echo out; echo err >&2; exit 4'],
      timeout: 0n,
    });
    assert.equal(r.exitCode, 4);
    assert.equal(r.stdout.toString(), 'out\n');
    assert.equal(r.stderr.toString(), 'err\n');
    const t0 = Date.now();
    await assert.rejects(
      s.execSync(ctx, { containerId: id, cmd: ['sleep', '30'], timeout: 1n }),
      /timeout/,
    );
    assert.ok(Date.now() - t0 < 10_000);

    const list = s.listContainers(ctx, {
      filter: {
        id: '',
        podSandboxId: 'sb1',
        labelSelector: { app: 'web' },
        state: { state: ContainerState.CONTAINER_RUNNING },
      },
    });
    assert.deepEqual(
      list.containers.map((c) => c.id),
      [id],
    );
    const verbose = await info(s, id);
    assert.equal(verbose.sandboxID, 'sb1');
    assert.ok(verbose.pid > 0);
    assert.deepEqual(verbose.runtimeSpec.process.args.slice(0, 2), ['/bin/sh', '-c']);
    assert.equal(verbose.runtimeSpec.annotations['io.kubernetes.cri.sandbox-id'], 'sb1');
    assert.equal(verbose.snapshotKey, id);

    await s.stopContainer(ctx, { containerId: id, timeout: 10n });
    st = await status(s, id);
    assert.equal(st.state, ContainerState.CONTAINER_EXITED);
    assert.equal(st.exitCode, 0);
    assert.equal(st.reason, 'Completed');
    assert.throws(() => managers.at(-1)!.get(ctx, id), isNotFound, 'the task is deleted on exit');
    await s.stopContainer(ctx, { containerId: id, timeout: 10n });
    await assert.rejects(s.reopenContainerLog(ctx, { containerId: id }), /not running/);

    await s.removeContainer(ctx, { containerId: id });
    await assert.rejects(records.get(ctx, id), isNotFound);
    await assert.rejects(stores.snapshotters.get('overlayfs')!.stat(ctx, id), isNotFound);
    assert.equal(existsSync(join(dir, 'root', 'cri', 'containers', id)), false);
    assert.equal(existsSync(join(dir, 'state', 'cri', 'containers', id)), false);
    assert.ok(existsSync(log), "the log file is kubelet's and stays");
    await s.removeContainer(ctx, { containerId: id });
    await assert.rejects(status(s, id), isNotFound);
    // The name is free again.
    const again = await create(s, sb, 'web', ['true']);
    await s.removeContainer(ctx, { containerId: again });
  });

  it('records exit codes and reasons; SIGKILL after the timeout; the image stop signal', async () => {
    const s = await service();
    const sb = await sandbox('sb2');
    const failing = await create(s, sb, 'fail', ['exit 3']);
    await s.startContainer(ctx, { containerId: failing });
    await waitFor(
      'the failing container to exit',
      async () => (await status(s, failing)).state === ContainerState.CONTAINER_EXITED,
      10_000,
    );
    let st = await status(s, failing);
    assert.equal(st.exitCode, 3);
    assert.equal(st.reason, 'Error');
    assert.ok(st.finishedAt >= st.startedAt);

    const stubborn = await create(s, sb, 'stubborn', [
      'trap "" TERM; while true; do sleep 0.1; done',
    ]);
    await s.startContainer(ctx, { containerId: stubborn });
    const t0 = Date.now();
    await s.stopContainer(ctx, { containerId: stubborn, timeout: 1n });
    assert.ok(Date.now() - t0 >= 1000);
    st = await status(s, stubborn);
    assert.equal(st.exitCode, 137);
    assert.equal(st.reason, 'Error');

    const usr1 = await s.createContainer(ctx, {
      podSandboxId: sb.id,
      config: config('usr1', ['trap "exit 7" USR1; while true; do sleep 0.1; done'], {
        image: { image: 'localhost/busybox-usr1:latest', annotations: {} },
      }),
      sandboxConfig: sb.config,
    });
    assert.equal((await records.get(ctx, usr1.containerId)).labels['from.image'], 'yes');
    await s.startContainer(ctx, { containerId: usr1.containerId });
    await s.stopContainer(ctx, { containerId: usr1.containerId, timeout: 10n });
    assert.equal((await status(s, usr1.containerId)).exitCode, 7);

    // A start failure: StartError, 128, the runtime's message; removable.
    const broken = await create(s, sb, 'broken', [], { command: ['/no/such/binary'] });
    await assert.rejects(s.startContainer(ctx, { containerId: broken }));
    st = await status(s, broken);
    assert.equal(st.state, ContainerState.CONTAINER_EXITED);
    assert.equal(st.exitCode, 128);
    assert.equal(st.reason, 'StartError');
    assert.match(st.message, /no such/i);

    // Removing a running container stops it first.
    const running = await create(s, sb, 'running', ['while true; do sleep 0.1; done']);
    await s.startContainer(ctx, { containerId: running });
    await s.removeAll(ctx, sb.id);
    assert.equal(
      s.listContainers(ctx, { filter: { id: '', podSandboxId: sb.id, labelSelector: {} } })
        .containers.length,
      0,
    );
    assert.equal(managers.at(-1)!.list(ctx).length, 0);
  });

  it('refuses a pod that is not ready and undoes a failed create', async () => {
    const s = await service();
    const down = await sandbox('sb3', 'notready');
    await assert.rejects(create(s, down, 'c', ['true']), isNotFound);
    const sb = await sandbox('sb4');
    const recordsBefore = (await records.list(ctx)).length;
    const snapsBefore = (await stores.snapshotters.get('overlayfs')!.list(ctx)).length;
    // The spec builder refuses a privileged container in a pod that is not: after the snapshot was made.
    await assert.rejects(
      create(s, sb, 'bad', ['true'], {
        linux: ContainerConfig.fromPartial({
          linux: { securityContext: { privileged: true } },
        }).linux,
      }),
      (err: Error) =>
        isInvalidArgument(err) && /no privileged container allowed in sandbox/.test(err.message),
    );
    assert.equal((await records.list(ctx)).length, recordsBefore);
    assert.equal((await stores.snapshotters.get('overlayfs')!.list(ctx)).length, snapsBefore);
    assert.equal(mountsUnder(dir).length, 0);
    await assert.rejects(
      create(s, sb, 'img', ['true'], { image: { image: 'nope:1', annotations: {} } }),
      /failed to resolve image "nope:1"/,
    );
    const ok = await create(s, sb, 'bad', ['true']);
    await s.removeContainer(ctx, { containerId: ok });
  });

  it("runs as the image's user from its /etc/passwd, with the image's VOLUME content", async () => {
    const s = await service();
    const sb = await sandbox('sb7');
    const id = await create(s, sb, 'nobody', ['while true; do sleep 0.1; done'], {
      image: { image: 'localhost/busybox-nobody:latest', annotations: {} },
    });
    const spec = (await info(s, id)).runtimeSpec;
    assert.equal(spec.process.user.uid, 65534);
    assert.equal(spec.process.user.gid, 65534);
    // containerd 1.6.20 takes additional groups for uid 0 unless the pod names a user.
    assert.deepEqual(spec.process.user.additionalGids, [65534]);
    const volume = spec.mounts.find((m: { destination: string }) => m.destination === '/data');
    assert.ok(volume, 'the image VOLUME is mounted');
    assert.equal(readFileSync(join(volume.source, 'seed'), 'utf8'), 'from the image\n');
    await s.startContainer(ctx, { containerId: id });
    const r = await s.execSync(ctx, {
      containerId: id,
      cmd: ['sh', '-c', 'id -u; cat /data/seed; cat /etc/hostname'],
      timeout: 5n,
    });
    assert.equal(r.stdout.toString(), '65534\nfrom the image\npod-sb7\n');
    await s.removeContainer(ctx, { containerId: id });
    assert.equal(existsSync(volume.source), false, 'the volume goes with the container');
  });

  it('updates resources of a running container in its cgroup and its spec', async () => {
    const s = await service();
    const sb = await sandbox('sb5');
    const id = await create(s, sb, 'res', ['while true; do sleep 0.1; done']);
    await s.startContainer(ctx, { containerId: id });
    await s.updateContainerResources(ctx, {
      containerId: id,
      linux: {
        cpuPeriod: 0n,
        cpuQuota: 0n,
        cpuShares: 512n,
        memoryLimitInBytes: 64n << 20n,
        oomScoreAdj: 0n,
        cpusetCpus: '',
        cpusetMems: '',
        hugepageLimits: [],
        unified: {},
        memorySwapLimitInBytes: 0n,
      },
      annotations: {},
    });
    const { pid } = await info(s, id);
    assert.equal(memoryLimit(pid), 64 * 1024 * 1024);
    const st = await status(s, id);
    assert.equal(st.resources?.linux?.memoryLimitInBytes, 64n << 20n);
    const spec = JSON.parse(Buffer.from((await records.get(ctx, id)).spec!.value).toString());
    assert.equal(spec.linux.resources.memory.limit, 64 * 1024 * 1024);
    await s.removeContainer(ctx, { containerId: id });
  });

  it('finds its containers again after a restart: running ones keep running and logging', async () => {
    const s1 = await service();
    const sb = await sandbox('sb6');
    const runningId = await create(s1, sb, 'keeps', [
      'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done',
    ]);
    await s1.startContainer(ctx, { containerId: runningId });
    const { pid } = await info(s1, runningId);
    const dies = await create(s1, sb, 'dies', ['while true; do sleep 0.1; done']);
    await s1.startContainer(ctx, { containerId: dies });
    const { pid: diesPid } = await info(s1, dies);
    const created = await create(s1, sb, 'later', ['echo later']);
    const exited = await create(s1, sb, 'exited', ['exit 5']);
    await s1.startContainer(ctx, { containerId: exited });
    await waitFor(
      'exit 5',
      async () => (await status(s1, exited)).state === ContainerState.CONTAINER_EXITED,
      10_000,
    );

    // "berthd stops": the service and its task manager go; shims and containers stay.
    await s1.close();
    const m1 = managers.at(-1)!;
    await m1.close();
    process.kill(diesPid, 'SIGKILL');
    const log = join(sb.config.logDirectory, 'keeps.log');
    const linesBefore = readFileSync(log, 'utf8').split('\n').length;

    const s2 = await service();
    let st = await status(s2, runningId);
    assert.equal(st.state, ContainerState.CONTAINER_RUNNING);
    assert.equal(
      JSON.parse(
        (await s2.containerStatus(ctx, { containerId: runningId, verbose: true })).info.info!,
      ).pid,
      pid,
    );
    await waitFor(
      'the log to grow after the restart',
      () => readFileSync(log, 'utf8').split('\n').length > linesBefore + 3,
      10_000,
    );
    const r = await s2.execSync(ctx, {
      containerId: runningId,
      cmd: ['echo', 'still here'],
      timeout: 5n,
    });
    assert.equal(r.stdout.toString(), 'still here\n');

    await waitFor(
      'the killed container to be exited',
      async () => (await status(s2, dies)).state === ContainerState.CONTAINER_EXITED,
      10_000,
    );
    st = await status(s2, dies);
    assert.equal(st.exitCode, 137);
    assert.equal((await status(s2, exited)).exitCode, 5);
    assert.equal((await status(s2, created)).state, ContainerState.CONTAINER_CREATED);
    await s2.startContainer(ctx, { containerId: created });
    await waitFor(
      'later to exit',
      async () => (await status(s2, created)).state === ContainerState.CONTAINER_EXITED,
      10_000,
    );
    await assert.rejects(
      create(s2, sb, 'keeps', ['true']),
      isAlreadyExists,
      'names are reserved again',
    );

    await s2.stopAll(ctx, sb.id);
    assert.equal((await status(s2, runningId)).state, ContainerState.CONTAINER_EXITED);
    await s2.removeAll(ctx, sb.id);
    assert.equal(s2.store.list().filter((c) => c.sandboxId === sb.id).length, 0);
  });
});
