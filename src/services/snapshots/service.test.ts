import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { RecordingPublisher } from '../../../test/helpers/doubles.js';
import { serveForTest } from '../../../test/helpers/grpc-server.js';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import {
  SnapshotCommit,
  SnapshotPrepare,
  SnapshotRemove,
} from '../../api/containerd/events/snapshot.js';
import {
  type Info as InfoPb,
  type ListSnapshotsResponse,
  SnapshotsClient,
} from '../../api/containerd/services/snapshots/v1/snapshots.js';
import { fromGrpcError } from '../../client/errors.js';
import { isInvalidArgument, kindOf } from '../../core/errdefs/index.js';
import type { Publisher } from '../../core/events/index.js';
import type { Labels } from '../../core/labels/index.js';
import { nullLogger } from '../../core/log/index.js';
import type { Mount } from '../../core/mount/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type {
  SnapshotInfo,
  SnapshotOptions,
  Snapshotter,
  Usage,
} from '../../core/snapshots/index.js';
import { snapshotSuite } from '../../core/snapshots/testsuite.js';
import { MetadataDB, MetadataSnapshotter } from '../../metadata/index.js';
import { NativeSnapshotter } from '../../snapshots/native.js';
import { mountFromProto } from '../../wire/mounts.js';
import { snapshotInfoFromProto } from '../../wire/snapshots.js';
import { snapshotsService } from './service.js';

type Callback<Res> = (err: ServiceError | null, res: Res) => void;

/**
 * A {@link Snapshotter} through the generated client: what containerd's Go
 * snapshot proxy does, so the suite runs over the socket.
 */
class SnapshotsProxy implements Snapshotter {
  constructor(
    readonly client: SnapshotsClient,
    readonly snapshotter: string,
  ) {}

  private md(ctx: OpContext): Metadata {
    const m = new Metadata();
    if (ctx.namespace) m.set('containerd-namespace', ctx.namespace);
    if (ctx.lease) m.set('containerd-lease', ctx.lease);
    return m;
  }

  private call<Res>(start: (cb: Callback<Res>) => unknown): Promise<Res> {
    return new Promise((resolve, reject) =>
      start((err, res) => (err ? reject(fromGrpcError(err)) : resolve(res))),
    );
  }

  async stat(ctx: OpContext, key: string): Promise<SnapshotInfo> {
    const r = await this.call<{ info?: InfoPb }>((cb) =>
      this.client.stat({ snapshotter: this.snapshotter, key }, this.md(ctx), cb),
    );
    return snapshotInfoFromProto(r.info!);
  }
  async update(
    ctx: OpContext,
    info: Pick<SnapshotInfo, 'name' | 'labels'>,
    fieldpaths?: readonly string[],
  ): Promise<SnapshotInfo> {
    const r = await this.call<{ info?: InfoPb }>((cb) =>
      this.client.update(
        {
          snapshotter: this.snapshotter,
          info: { name: info.name, parent: '', kind: 0, labels: info.labels },
          ...(fieldpaths && { updateMask: [...fieldpaths] }),
        },
        this.md(ctx),
        cb,
      ),
    );
    return snapshotInfoFromProto(r.info!);
  }
  async usage(ctx: OpContext, key: string): Promise<Usage> {
    const r = await this.call<{ size: bigint; inodes: bigint }>((cb) =>
      this.client.usage({ snapshotter: this.snapshotter, key }, this.md(ctx), cb),
    );
    return { size: Number(r.size), inodes: Number(r.inodes) };
  }
  async mounts(ctx: OpContext, key: string): Promise<Mount[]> {
    const r = await this.call<{ mounts: Parameters<typeof mountFromProto>[0][] }>((cb) =>
      this.client.mounts({ snapshotter: this.snapshotter, key }, this.md(ctx), cb),
    );
    return r.mounts.map(mountFromProto);
  }
  async prepare(ctx: OpContext, key: string, parent = '', opts?: SnapshotOptions) {
    const r = await this.call<{ mounts: Parameters<typeof mountFromProto>[0][] }>((cb) =>
      this.client.prepare(
        { snapshotter: this.snapshotter, key, parent, labels: opts?.labels ?? {} },
        this.md(ctx),
        cb,
      ),
    );
    return r.mounts.map(mountFromProto);
  }
  async view(ctx: OpContext, key: string, parent = '', opts?: SnapshotOptions) {
    const r = await this.call<{ mounts: Parameters<typeof mountFromProto>[0][] }>((cb) =>
      this.client.view(
        { snapshotter: this.snapshotter, key, parent, labels: opts?.labels ?? {} },
        this.md(ctx),
        cb,
      ),
    );
    return r.mounts.map(mountFromProto);
  }
  async commit(ctx: OpContext, name: string, key: string, opts?: SnapshotOptions) {
    await this.call((cb) =>
      this.client.commit(
        { snapshotter: this.snapshotter, name, key, labels: opts?.labels ?? {}, parent: '' },
        this.md(ctx),
        cb,
      ),
    );
  }
  async remove(ctx: OpContext, key: string) {
    await this.call((cb) =>
      this.client.remove({ snapshotter: this.snapshotter, key }, this.md(ctx), cb),
    );
  }
  async list(ctx: OpContext, filters: readonly string[] = []): Promise<SnapshotInfo[]> {
    return (await this.listBatches(ctx, filters)).flat().map(snapshotInfoFromProto);
  }
  /** The List stream's messages, as they came. */
  listBatches(ctx: OpContext, filters: readonly string[] = []): Promise<InfoPb[][]> {
    return new Promise((resolve, reject) => {
      const out: InfoPb[][] = [];
      const stream = this.client.list(
        { snapshotter: this.snapshotter, filters: [...filters] },
        this.md(ctx),
      );
      stream.on('data', (r: ListSnapshotsResponse) => out.push(r.info));
      stream.on('error', (err: ServiceError) => reject(fromGrpcError(err)));
      stream.on('end', () => resolve(out));
    });
  }
  async cleanup(ctx: OpContext) {
    await this.call((cb) =>
      this.client.cleanup({ snapshotter: this.snapshotter }, this.md(ctx), cb),
    );
  }
}

const ctxOf = (namespace?: string, lease?: string): OpContext => ({
  ...(namespace !== undefined && { namespace }),
  ...(lease && { lease }),
  signal: new AbortController().signal,
  log: nullLogger,
});

/** A daemon with one service: the snapshotters over native backends, on a socket. */
async function serve(dir: TempDir, publisher: Publisher, name = 's', sock = name) {
  const mdb = new MetadataDB({ path: join(dir.path, `${name}.db`) });
  const native = new NativeSnapshotter(join(dir.path, `${name}-native`));
  const bare: Snapshotter = {
    stat: native.stat.bind(native),
    update: native.update.bind(native),
    usage: native.usage.bind(native),
    mounts: native.mounts.bind(native),
    prepare: native.prepare.bind(native),
    view: native.view.bind(native),
    commit: native.commit.bind(native),
    remove: native.remove.bind(native),
    list: native.list.bind(native),
  };
  const snapshotters = new Map<string, Snapshotter>([
    ['native', new MetadataSnapshotter(mdb, 'native', native)],
    // A backend without Cleanup, used as is (no namespacing).
    ['bare', bare],
  ]);
  const socket = join(dir.path, `${sock}.sock`);
  const server = await serveForTest(socket, [snapshotsService(snapshotters, publisher)]);
  const client = new SnapshotsClient(`unix:${socket}`, credentials.createInsecure());
  return {
    client,
    stop: async () => {
      client.close();
      await server.stop(100);
      native.close();
      mdb.close();
    },
  };
}

snapshotSuite('Snapshots service over a socket', async () => {
  const dir = tempDir();
  let n = 0;
  let s = await serve(dir, { publish: async () => {} }, 's', `s${n++}`);
  return {
    snapshotter: new SnapshotsProxy(s.client, 'native'),
    ctx: ctxOf('default'),
    mount: async (mounts) => {
      assert.equal(mounts.length, 1);
      assert.equal(mounts[0]?.type, 'bind');
      return { path: mounts[0].source, release: async () => {} };
    },
    cleanup: async () => {
      await s.stop();
      dir.remove();
    },
    reopen: async () => {
      // A new server on the same state.
      await s.stop();
      s = await serve(dir, { publish: async () => {} }, 's', `s${n++}`);
      return new SnapshotsProxy(s.client, 'native');
    },
  };
});

describe('Snapshots service', () => {
  let dir: TempDir;
  let publisher: RecordingPublisher;
  let s: Awaited<ReturnType<typeof serve>>;
  let native: SnapshotsProxy;
  const a = ctxOf('a');

  before(async () => {
    dir = tempDir();
    publisher = new RecordingPublisher();
    s = await serve(dir, publisher);
    native = new SnapshotsProxy(s.client, 'native');
  });
  after(async () => {
    await s.stop();
    dir.remove();
  });
  beforeEach(() => {
    publisher.events.length = 0;
  });

  it('picks the snapshotter by name, as containerd answers for a missing or unknown one', async () => {
    for (const [name, message] of [
      ['', 'snapshotter argument missing: invalid argument'],
      ['overlayfs', 'snapshotter not loaded: overlayfs: invalid argument'],
    ] as const) {
      await assert.rejects(new SnapshotsProxy(s.client, name).stat(a, 'k'), (err: Error) => {
        assert.ok(isInvalidArgument(err));
        assert.equal(err.message, message);
        return true;
      });
    }
  });

  it('needs a namespace', async () => {
    await assert.rejects(native.prepare(ctxOf(), 'k'), (err: Error) => {
      assert.equal(kindOf(err), 'failed_precondition');
      assert.match(err.message, /namespace is required/);
      return true;
    });
  });

  it('publishes prepare, commit and remove (not view), with containerd payloads', async () => {
    await native.prepare(a, 'ev-a');
    await native.commit(a, 'ev-c', 'ev-a');
    await native.view(a, 'ev-v', 'ev-c');
    await native.remove(a, 'ev-v');
    await native.remove(a, 'ev-c');
    assert.deepEqual(
      publisher.events.map((e) => [e.namespace, e.topic, e.event.typeUrl]),
      [
        ['a', '/snapshot/prepare', 'containerd.events.SnapshotPrepare'],
        ['a', '/snapshot/commit', 'containerd.events.SnapshotCommit'],
        ['a', '/snapshot/remove', 'containerd.events.SnapshotRemove'],
        ['a', '/snapshot/remove', 'containerd.events.SnapshotRemove'],
      ],
    );
    const [prep, commit, rm] = publisher.events.map((e) => e.event.value);
    assert.deepEqual(SnapshotPrepare.decode(prep!), { key: 'ev-a', parent: '' });
    assert.deepEqual(SnapshotCommit.decode(commit!), { key: 'ev-a', name: 'ev-c' });
    assert.deepEqual(SnapshotRemove.decode(rm!), { key: 'ev-v' });
  });

  it('publishes nothing when the call fails', async () => {
    await assert.rejects(native.prepare(a, 'nf', 'missing-parent'));
    await assert.rejects(native.commit(a, 'x', 'missing'));
    await assert.rejects(native.remove(a, 'missing'));
    assert.deepEqual(publisher.events, []);
  });

  it('streams List in batches of 100', async () => {
    const ns = ctxOf('many');
    const labels: Labels = { batch: 'yes' };
    for (let i = 0; i < 150; i++)
      await native.view(ns, `v${String(i).padStart(3, '0')}`, '', { labels });
    const batches = await native.listBatches(ns);
    assert.deepEqual(
      batches.map((b) => b.length),
      [100, 50],
    );
    assert.equal(batches[0]?.[0]?.name, 'v000');
    assert.equal((await native.list(ns, ['name==v149,labels.batch==yes'])).length, 1);
    await assert.rejects(native.list(ns, ['name==']), isInvalidArgument);
  });

  it('converts mounts and infos as containerd does', async () => {
    const mounts = await native.prepare(a, 'conv', '', { labels: { x: 'y' } });
    assert.equal(mounts[0]?.type, 'bind');
    assert.deepEqual(mounts[0]?.options, ['rbind', 'rw']);
    assert.equal(mounts[0]?.target, undefined);
    const info = await native.stat(a, 'conv');
    assert.equal(info.kind, 'active');
    assert.deepEqual(info.labels, { x: 'y' });
    assert.ok(info.createdAt > 0n);
    await native.remove(a, 'conv');
  });

  it('refuses Update without an info, and Cleanup where the backend has none', async () => {
    await assert.rejects(
      new Promise((resolve, reject) =>
        s.client.update(
          { snapshotter: 'native' },
          (() => {
            const m = new Metadata();
            m.set('containerd-namespace', 'a');
            return m;
          })(),
          (err, res) => (err ? reject(fromGrpcError(err)) : resolve(res)),
        ),
      ),
      isInvalidArgument,
    );
    await native.cleanup(a);
    await assert.rejects(new SnapshotsProxy(s.client, 'bare').cleanup(a), (err: Error) => {
      assert.equal(kindOf(err), 'not_implemented');
      assert.match(err.message, /does not implement Cleanup/);
      return true;
    });
  });
});
