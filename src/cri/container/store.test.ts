import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ContainerConfig, ContainerState } from '../../api/k8s/cri/runtime/v1/api.js';
import { isAlreadyExists, isInvalidArgument, isNotFound } from '../../core/errdefs/index.js';
import { NameIndex } from '../store/index.js';
import { filterContainers, toCriContainer, toCriContainerStatus } from './convert.js';
import {
  buildLabels,
  CONTAINER_KIND_LABEL,
  type ContainerMetadata,
  decodeMetadata,
  encodeMetadata,
  makeContainerName,
} from './metadata.js';
import { parseSignal } from './signal.js';
import {
  decodeStatus,
  encodeStatus,
  newStatus,
  StatusStorage,
  stateOf,
  unknownStatus,
} from './status.js';
import { ContainerStore, CriContainer } from './store.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'berth-cri-ctr-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const meta = (
  id: string,
  sandboxId = 'sb1',
  labels: Record<string, string> = {},
): ContainerMetadata => ({
  id,
  name: `${id}_pod_ns_uid_0`,
  sandboxId,
  config: ContainerConfig.fromPartial({
    metadata: { name: id, attempt: 0 },
    image: { image: 'busybox' },
    labels,
    logPath: `${id}.log`,
  }),
  imageRef: 'sha256:abc',
  logPath: `/logs/${id}.log`,
  stopSignal: '',
});

describe('NameIndex', () => {
  it('reserves a name for one key and releases it by name or key', () => {
    const n = new NameIndex();
    n.reserve('c_pod_ns_uid_0', 'id1');
    n.reserve('c_pod_ns_uid_0', 'id1');
    assert.throws(
      () => n.reserve('c_pod_ns_uid_0', 'id2'),
      (err: Error) => {
        assert.ok(isAlreadyExists(err));
        assert.match(err.message, /reserved for "id1"/);
        return true;
      },
    );
    n.releaseByKey('id1');
    n.reserve('c_pod_ns_uid_0', 'id2');
    n.releaseByName('c_pod_ns_uid_0');
    assert.equal(n.get('c_pod_ns_uid_0'), undefined);
    n.reserve('c_pod_ns_uid_0', 'id3');
    assert.equal(n.get('c_pod_ns_uid_0'), 'id3');
  });

  it('makes containerd names', () => {
    assert.equal(
      makeContainerName(
        { name: 'web', attempt: 2 },
        { name: 'pod', namespace: 'default', uid: 'u-1', attempt: 0 },
      ),
      'web_pod_default_u-1_2',
    );
  });
});

describe('status', () => {
  it('derives the state from the times', () => {
    assert.equal(stateOf(newStatus()), ContainerState.CONTAINER_UNKNOWN);
    assert.equal(stateOf(newStatus({ createdAt: 1n })), ContainerState.CONTAINER_CREATED);
    assert.equal(
      stateOf(newStatus({ createdAt: 1n, startedAt: 2n })),
      ContainerState.CONTAINER_RUNNING,
    );
    assert.equal(
      stateOf(newStatus({ createdAt: 1n, startedAt: 2n, finishedAt: 3n })),
      ContainerState.CONTAINER_EXITED,
    );
    assert.equal(stateOf(unknownStatus()), ContainerState.CONTAINER_UNKNOWN);
  });

  it('round-trips nanosecond times exactly, in containerd field names', () => {
    const s = newStatus({
      pid: 42,
      createdAt: 1764948000123456789n,
      startedAt: 1764948000223456789n,
      finishedAt: 1764948000323456781n,
      exitCode: 137,
      reason: 'OOMKilled',
      message: 'a "quoted" \n message with "CreatedAt":1',
      resources: {
        linux: {
          cpuPeriod: 100000n,
          cpuQuota: 50000n,
          cpuShares: 512n,
          memoryLimitInBytes: 1n << 40n,
          oomScoreAdj: 0n,
          cpusetCpus: '0',
          cpusetMems: '',
          hugepageLimits: [],
          unified: {},
          memorySwapLimitInBytes: 0n,
        },
      },
    });
    const text = encodeStatus(s);
    assert.match(text, /"CreatedAt":1764948000123456789,/);
    assert.match(text, /"Version":"v1"/);
    const back = decodeStatus(text);
    assert.deepEqual(back.resources?.linux, s.resources?.linux);
    assert.deepEqual({ ...back, resources: undefined }, { ...s, resources: undefined });
  });

  it('checkpoints atomically, keeps transient flags in memory, survives a reload', async () => {
    const dir = tmp();
    const st = await StatusStorage.create(dir, newStatus({ createdAt: 5n }));
    st.update((s) => ({ ...s, starting: true }));
    await st.updateSync((s) => ({ ...s, startedAt: 6n, pid: 7 }));
    assert.equal(st.get().starting, true, 'updateSync leaves starting alone');
    assert.equal(st.get().pid, 7);
    const loaded = await StatusStorage.load(dir);
    assert.equal(loaded.startedAt, 6n);
    assert.equal(loaded.starting, false, 'transient flags are not written');
    assert.deepEqual(readdirSync(dir), ['status'], 'no temporary file is left');
    // A failing update leaves the status as it was.
    await assert.rejects(
      st.updateSync(() => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(st.get().startedAt, 6n);
    assert.throws(() =>
      st.update(() => {
        throw new Error('no');
      }),
    );
    assert.equal(st.get().starting, true);
    await st.delete();
    await st.delete();
    await assert.rejects(StatusStorage.load(dir), isNotFound);
    writeFileSync(join(dir, 'status'), '{"Version":"v9"}');
    await assert.rejects(StatusStorage.load(dir), /unsupported status version/);
  });
});

describe('metadata', () => {
  it('round-trips through the record extension as versioned JSON', () => {
    const m = meta('c1');
    m.config.envs = [{ key: 'A', value: 'b' }];
    m.config.linux = {
      resources: {
        cpuShares: 2n,
        cpuPeriod: 0n,
        cpuQuota: 0n,
        memoryLimitInBytes: 0n,
        oomScoreAdj: 0n,
        cpusetCpus: '',
        cpusetMems: '',
        hugepageLimits: [],
        unified: {},
        memorySwapLimitInBytes: 0n,
      },
      securityContext: undefined,
    };
    const ext = encodeMetadata(m);
    const doc = JSON.parse(Buffer.from(ext.value).toString());
    assert.equal(doc.Version, 'v1');
    assert.equal(doc.Metadata.SandboxID, 'sb1');
    const back = decodeMetadata(ext);
    assert.deepEqual(back.config, ContainerConfig.fromJSON(ContainerConfig.toJSON(m.config)));
    assert.equal(back.config.linux?.resources?.cpuShares, 2n);
    assert.equal(back.logPath, '/logs/c1.log');
    assert.throws(
      () => decodeMetadata({ typeUrl: 'x', value: Buffer.from('{"Version":"v2"}') }),
      isInvalidArgument,
    );
  });

  it('builds labels: valid image labels, config wins, the kind label last', () => {
    const warned: string[] = [];
    const labels = buildLabels(
      { a: 'config', [CONTAINER_KIND_LABEL]: 'sandbox' },
      { a: 'image', b: 'image', ['x'.repeat(5000)]: 'too long' },
      (k) => warned.push(k),
    );
    assert.deepEqual(labels, { a: 'config', b: 'image', [CONTAINER_KIND_LABEL]: 'container' });
    assert.equal(warned.length, 1);
  });
});

describe('parseSignal', () => {
  for (const [raw, n] of [
    ['SIGTERM', 15],
    ['TERM', 15],
    ['sigkill', 9],
    ['15', 15],
    ['SIGRTMIN+3', 37],
    ['RTMIN', 34],
    ['RTMAX-1', 63],
    ['SIGRTMAX', 64],
    ['SIGWINCH', 28],
    ['SIGUSR1', 10],
  ] as const) {
    it(`${raw} is ${n}`, () => assert.equal(parseSignal(raw), n));
  }
  for (const bad of ['', '0', '65', 'SIGFOO', 'RTMIN+16', '-1', '1.5']) {
    it(`${JSON.stringify(bad)} is invalid`, () =>
      assert.throws(() => parseSignal(bad), isInvalidArgument));
  }
});

describe('ContainerStore and the CRI view', () => {
  it('gets by prefix, lists, filters and converts', async () => {
    const store = new ContainerStore();
    const add = async (
      id: string,
      sb: string,
      labels: Record<string, string>,
      st = newStatus({ createdAt: 1n }),
    ) => {
      const c = new CriContainer(meta(id, sb, labels), await StatusStorage.create(tmp(), st));
      store.add(c);
      return c;
    };
    await add('aaa111', 'sbA', { app: 'web', tier: 'front' });
    const b = await add(
      'aaa222',
      'sbA',
      { app: 'web' },
      newStatus({ createdAt: 1n, startedAt: 2n, pid: 9 }),
    );
    await add(
      'bbb333',
      'sbB',
      { app: 'db' },
      newStatus({ createdAt: 1n, startedAt: 2n, finishedAt: 3n, exitCode: 1 }),
    );
    assert.equal(store.get('aaa2').id, 'aaa222');
    assert.throws(() => store.get('aaa'), isInvalidArgument);
    assert.throws(
      () => store.get('ccc'),
      (err: Error) => isNotFound(err) && /container "ccc"/.test(err.message),
    );
    assert.throws(() => store.add(b), isAlreadyExists);

    const all = store.list().map(toCriContainer);
    const ids = (l: { id: string }[]) => l.map((c) => c.id).sort();
    assert.deepEqual(ids(filterContainers(all, { podSandboxId: 'sbA' })), ['aaa111', 'aaa222']);
    assert.deepEqual(ids(filterContainers(all, { labelSelector: { app: 'web', tier: 'front' } })), [
      'aaa111',
    ]);
    assert.deepEqual(
      ids(filterContainers(all, { state: { state: ContainerState.CONTAINER_RUNNING } })),
      ['aaa222'],
    );
    assert.deepEqual(
      ids(
        filterContainers(all, {
          state: { state: ContainerState.CONTAINER_CREATED },
          podSandboxId: 'sbB',
        }),
      ),
      [],
    );
    assert.deepEqual(ids(filterContainers(all, { id: 'bbb333' })), ['bbb333']);
    assert.deepEqual(ids(filterContainers(all, undefined)), ['aaa111', 'aaa222', 'bbb333']);

    const exited = toCriContainerStatus(
      store.get('bbb'),
      { image: 'busybox:latest', annotations: {} },
      'sha256:abc',
    );
    assert.equal(exited.state, ContainerState.CONTAINER_EXITED);
    assert.equal(exited.reason, 'Error');
    assert.equal(exited.finishedAt, 3n);
    assert.equal(exited.logPath, '/logs/bbb333.log');
    const running = toCriContainerStatus(b, undefined, 'sha256:abc');
    assert.equal(running.startedAt, 2n);
    assert.equal(running.finishedAt, 0n);
    assert.equal(running.reason, '');
    await b.status.updateSync((s) => ({ ...s, finishedAt: 4n, exitCode: 0 }));
    assert.equal(toCriContainerStatus(b, undefined, '').reason, 'Completed');

    store.delete('aaa111');
    store.delete('aaa111');
    assert.equal(store.get('aaa').id, 'aaa222');
    assert.ok(!b.isStopped);
    b.stop();
    b.stop();
    await b.stopped;
    assert.ok(b.isStopped);
    assert.equal(
      readFileSync(join(dirs[dirs.length - 1]!, 'status'), 'utf8').includes('"ExitCode":1'),
      true,
    );
  });
});
