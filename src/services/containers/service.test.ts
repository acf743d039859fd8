import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { credentials, type Metadata, type ServiceError } from '@grpc/grpc-js';
import { RecordingPublisher } from '../../../test/helpers/doubles.js';
import { namespaceMetadata, promiseCall, serveForTest } from '../../../test/helpers/grpc-server.js';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import {
  type Container as ContainerPb,
  ContainersClient,
  type ListContainerMessage,
} from '../../api/containerd/services/containers/v1/containers.js';
import { fromGrpcError } from '../../client/errors.js';
import type { Container, ContainerRecord, ContainerStore } from '../../core/containers/index.js';
import { containerSuite } from '../../core/containers/testsuite.js';
import { kindOf } from '../../core/errdefs/index.js';
import type { Publisher } from '../../core/events/index.js';
import { nullLogger } from '../../core/log/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import { MetadataDB, SqliteContainerStore } from '../../metadata/index.js';
import { containerFromProto, containerToProto } from '../../wire/containers.js';
import {
  containerDelete,
  containerUpdate,
  containerCreate as createEvent,
} from '../../wire/event-payloads.js';
import { fromTimestamp } from '../../wire/timestamp.js';
import { containersService } from './service.js';

/**
 * A {@link ContainerStore} through the generated client, as containerd's Go
 * client (containerstore.go) uses the service: List goes through ListStream.
 */
class ContainersProxy implements ContainerStore {
  constructor(readonly client: ContainersClient) {}

  private md(ctx: OpContext): Metadata {
    return namespaceMetadata(ctx.namespace);
  }
  private fromPb(pb: ContainerPb | undefined): Container {
    assert.ok(pb, 'a container in the response');
    return {
      ...containerFromProto(pb),
      createdAt: fromTimestamp(pb.createdAt),
      updatedAt: fromTimestamp(pb.updatedAt),
    };
  }
  private toPb(c: ContainerRecord): ContainerPb {
    return containerToProto({ ...c, createdAt: 0n, updatedAt: 0n });
  }

  async get(ctx: OpContext, id: string) {
    const r = await promiseCall<{ container?: ContainerPb }>((cb) =>
      this.client.get({ id }, this.md(ctx), cb),
    );
    return this.fromPb(r.container);
  }
  async list(ctx: OpContext, filters: readonly string[] = []) {
    return (await this.stream(ctx, filters)).map((m) => this.fromPb(m.container));
  }
  /** ListStream's messages, as they came. */
  stream(ctx: OpContext, filters: readonly string[] = []): Promise<ListContainerMessage[]> {
    return new Promise((resolve, reject) => {
      const out: ListContainerMessage[] = [];
      const s = this.client.listStream({ filters: [...filters] }, this.md(ctx));
      s.on('data', (m: ListContainerMessage) => out.push(m));
      s.on('error', (err: ServiceError) => reject(fromGrpcError(err)));
      s.on('end', () => resolve(out));
    });
  }
  async create(ctx: OpContext, c: ContainerRecord) {
    const r = await promiseCall<{ container?: ContainerPb }>((cb) =>
      this.client.create({ container: this.toPb(c) }, this.md(ctx), cb),
    );
    return this.fromPb(r.container);
  }
  async update(ctx: OpContext, c: ContainerRecord, fieldpaths: readonly string[] = []) {
    const r = await promiseCall<{ container?: ContainerPb }>((cb) =>
      this.client.update(
        {
          container: this.toPb(c),
          ...(fieldpaths.length > 0 && { updateMask: [...fieldpaths] }),
        },
        this.md(ctx),
        cb,
      ),
    );
    return this.fromPb(r.container);
  }
  async delete(ctx: OpContext, id: string) {
    await promiseCall((cb) => this.client.delete({ id }, this.md(ctx), cb));
  }
}

const ctxOf = (namespace?: string): OpContext => ({
  ...(namespace !== undefined && { namespace }),
  signal: new AbortController().signal,
  log: nullLogger,
});

async function serve(dir: TempDir, publisher: Publisher, name: string) {
  const mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
  const socket = join(dir.path, `${name}.sock`);
  const server = await serveForTest(socket, [
    containersService(new SqliteContainerStore(mdb), publisher),
  ]);
  const client = new ContainersClient(`unix:${socket}`, credentials.createInsecure());
  return {
    client,
    proxy: new ContainersProxy(client),
    stop: async () => {
      client.close();
      await server.stop(100);
      mdb.close();
    },
  };
}

containerSuite('Containers service over a socket', async () => {
  const dir = tempDir();
  let n = 0;
  let s = await serve(dir, { publish: async () => {} }, `s${n++}`);
  return {
    store: s.proxy,
    ctx: ctxOf('default'),
    cleanup: async () => {
      await s.stop();
      dir.remove();
    },
    reopen: async () => {
      await s.stop();
      s = await serve(dir, { publish: async () => {} }, `s${n++}`);
      return s.proxy;
    },
  };
});

const SPEC = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
const enc = (s: string) => new TextEncoder().encode(s);

function record(id: string, over: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    id,
    labels: {},
    image: 'docker.io/library/busybox:latest',
    runtime: {
      name: 'io.containerd.runc.v2',
      options: { typeUrl: 'containerd.runc.v1.Options', value: new Uint8Array() },
    },
    spec: { typeUrl: SPEC, value: enc('{"ociVersion":"1.0.2-dev"}') },
    snapshotter: 'overlayfs',
    snapshotKey: id,
    sandbox: '',
    extensions: {},
    ...over,
  };
}

describe('Containers service', () => {
  let dir: TempDir;
  let publisher: RecordingPublisher;
  let s: Awaited<ReturnType<typeof serve>>;
  const a = ctxOf('a');

  before(async () => {
    dir = tempDir();
    publisher = new RecordingPublisher();
    s = await serve(dir, publisher, 'svc');
  });
  after(async () => {
    await s.stop();
    dir.remove();
  });
  beforeEach(() => {
    publisher.events.length = 0;
  });

  it('publishes /containers/create, /containers/update and /containers/delete', async () => {
    await s.proxy.create(a, record('ev', { labels: { k: 'v' } }));
    await s.proxy.update(a, record('ev', { labels: { k2: 'v2' }, image: 'new' }), [
      'labels.k2',
      'image',
    ]);
    await s.proxy.delete(a, 'ev');
    assert.deepEqual(
      publisher.events.map((e) => [e.namespace, e.topic, e.event.typeUrl]),
      [
        ['a', '/containers/create', 'containerd.events.ContainerCreate'],
        ['a', '/containers/update', 'containerd.events.ContainerUpdate'],
        ['a', '/containers/delete', 'containerd.events.ContainerDelete'],
      ],
    );
    const [create, update, del] = publisher.events.map((e) => e.event.value);
    const created = createEvent.decode(create!);
    assert.equal(created.id, 'ev');
    assert.equal(created.image, 'docker.io/library/busybox:latest');
    assert.equal(created.runtime?.name, 'io.containerd.runc.v2');
    assert.equal(created.runtime?.options?.typeUrl, 'containerd.runc.v1.Options');
    assert.deepEqual(containerUpdate.decode(update!), {
      id: 'ev',
      image: 'new',
      labels: { k: 'v', k2: 'v2' },
      snapshotKey: 'ev',
    });
    assert.deepEqual(containerDelete.decode(del!), { id: 'ev' });
  });

  it('publishes nothing when the change fails', async () => {
    await assert.rejects(s.proxy.create(a, record('bad id')));
    await assert.rejects(s.proxy.update(a, record('missing'), ['labels']));
    await assert.rejects(s.proxy.delete(a, 'missing'));
    await s.proxy.create(a, record('dup'));
    publisher.events.length = 0;
    await assert.rejects(s.proxy.create(a, record('dup')));
    await assert.rejects(s.proxy.update(a, record('dup'), ['runtime']));
    assert.deepEqual(publisher.events, []);
    await s.proxy.delete(a, 'dup');
  });

  it('ListStream sends one container per message; List answers them all at once', async () => {
    for (const id of ['l1', 'l2', 'l3']) await s.proxy.create(a, record(id));
    const messages = await s.proxy.stream(a);
    assert.deepEqual(
      messages.map((m) => m.container?.id),
      ['l1', 'l2', 'l3'],
    );
    const listed = await promiseCall<{ containers: ContainerPb[] }>((cb) =>
      s.client.list({ filters: ['id~=^l[13]$'] }, namespaceMetadata('a'), cb),
    );
    assert.deepEqual(
      listed.containers.map((c) => c.id),
      ['l1', 'l3'],
    );
    assert.deepEqual(listed.containers[0], messages[0]?.container);
    for (const id of ['l1', 'l2', 'l3']) await s.proxy.delete(a, id);
    assert.deepEqual(await s.proxy.stream(a), []);
  });

  it('answers the wire shape containerd does', async () => {
    await s.proxy.create(a, record('wire', { runtime: { name: 'rt' } }));
    const { container } = await promiseCall<{ container?: ContainerPb }>((cb) =>
      s.client.get({ id: 'wire' }, namespaceMetadata('a'), cb),
    );
    assert.ok(container?.createdAt && container.updatedAt, 'times set');
    assert.deepEqual(container.runtime, { name: 'rt', options: undefined }, 'runtime, no options');
    assert.equal(container.spec?.typeUrl, SPEC);
    assert.equal(Buffer.from(container.spec.value).toString(), '{"ociVersion":"1.0.2-dev"}');
    await s.proxy.delete(a, 'wire');
  });

  it('refuses an Update without an id before the store, as containerd', async () => {
    for (const req of [
      {},
      { container: containerToProto({ ...record(''), createdAt: 0n, updatedAt: 0n }) },
    ]) {
      await assert.rejects(
        promiseCall((cb) => s.client.update(req, namespaceMetadata('a'), cb)),
        (err: Error) => {
          assert.equal(kindOf(err), 'invalid_argument');
          assert.equal(err.message, 'Container.ID required: invalid argument');
          return true;
        },
      );
    }
  });

  it('treats an empty update mask as a full replace', async () => {
    await s.proxy.create(a, record('mask', { labels: { a: '1' } }));
    const { container } = await promiseCall<{ container?: ContainerPb }>((cb) =>
      s.client.update(
        {
          container: containerToProto({
            ...record('mask', { labels: { b: '2' }, image: 'img2' }),
            createdAt: 0n,
            updatedAt: 0n,
          }),
          updateMask: [],
        },
        namespaceMetadata('a'),
        cb,
      ),
    );
    assert.deepEqual(container?.labels, { b: '2' });
    assert.equal(container?.image, 'img2');
    await s.proxy.delete(a, 'mask');
  });

  it('refuses a Create without a container the way validation words it', async () => {
    await assert.rejects(
      promiseCall((cb) => s.client.create({}, namespaceMetadata('a'), cb)),
      (err: Error) => {
        assert.equal(kindOf(err), 'invalid_argument');
        assert.match(
          err.message,
          /^create container failed validation: container\.ID: identifier must not be empty/,
        );
        return true;
      },
    );
  });

  it('needs a namespace', async () => {
    await assert.rejects(s.proxy.list(ctxOf()), (err: Error) => {
      assert.equal(kindOf(err), 'failed_precondition');
      assert.match(err.message, /namespace is required/);
      return true;
    });
  });
});
