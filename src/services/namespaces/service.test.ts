import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serveForTest } from '../../../test/helpers/grpc-server.js';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import { Client } from '../../client/index.js';
import type { AnyPayload, Publisher } from '../../core/events/index.js';
import { MetadataDB, SqliteNamespaceStore } from '../../metadata/index.js';
import type { GrpcServer } from '../../server/server.js';
import { eventType } from '../../wire/event-payloads.js';
import { namespacesService } from './service.js';

type KindError = Error & { kind: string };

interface Published {
  namespace: string | undefined;
  topic: string;
  typeUrl: string;
  message: unknown;
}

/** Records what the service publishes, decoded. */
class RecordingPublisher implements Publisher {
  events: Published[] = [];
  async publish(
    ctx: { namespace?: string | undefined },
    topic: string,
    event: AnyPayload,
  ): Promise<void> {
    const message = eventType(event.typeUrl)?.decode(event.value);
    this.events.push({ namespace: ctx.namespace, topic, typeUrl: event.typeUrl, message });
  }
  take(): Published[] {
    const out = this.events;
    this.events = [];
    return out;
  }
}

describe('Namespaces service over a socket', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let server: GrpcServer;
  let client: Client;
  const published = new RecordingPublisher();
  let socket: string;

  before(async () => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    socket = join(dir.path, 'ns.sock');
    server = await serveForTest(socket, [
      namespacesService(new SqliteNamespaceStore(mdb), published),
    ]);
    client = new Client(socket, { namespace: 'default' });
    await client.namespaces.create('alpha', { team: 'a', 'io.example/tier': 'gold' });
    await client.namespaces.create('beta', { team: 'b' });
    await client.namespaces.create('gamma', {});
    published.take();
  });
  after(async () => {
    client.close();
    await server.stop();
    mdb.close();
    dir.remove();
  });

  it('answers Get of a missing namespace with empty labels, as containerd', async () => {
    assert.deepEqual(await client.namespaces.get('missing'), { name: 'missing', labels: {} });
    assert.deepEqual(await client.namespaces.get('alpha'), {
      name: 'alpha',
      labels: { team: 'a', 'io.example/tier': 'gold' },
    });
  });

  it('filters List in containerd syntax', async () => {
    const names = async (f: string) => (await client.namespaces.list(f)).map((n) => n.name);
    assert.deepEqual(await names(''), ['alpha', 'beta', 'gamma']);
    assert.deepEqual(await names('name==beta'), ['beta']);
    assert.deepEqual(await names('name!=beta'), ['alpha', 'gamma']);
    assert.deepEqual(await names('labels.team'), ['alpha', 'beta']);
    assert.deepEqual(await names('labels."io.example/tier"==gold'), ['alpha']);
    assert.deepEqual(await names('name~=^(b|g)'), ['beta', 'gamma']);
    assert.deepEqual(await names('labels.team==a,name==beta'), []);
    assert.deepEqual(await names('name==alpha | name==gamma'), ['alpha', 'gamma']);
    assert.deepEqual(await names('labels.team==a|b'), []);
  });

  it('rejects a malformed filter with INVALID_ARGUMENT naming it', async () => {
    await assert.rejects(client.namespaces.list('name=='), (e: KindError) => {
      return e.kind === 'invalid_argument' && /filter "name=="/.test(e.message);
    });
    await assert.rejects(client.namespaces.list('name~=('), (e: KindError) => {
      return e.kind === 'invalid_argument';
    });
  });

  it('updates labels with and without a field mask', async () => {
    await client.namespaces.update({ name: 'gamma', labels: { a: '1', b: '2' } });
    await client.namespaces.update({ name: 'gamma', labels: { c: '3' } }, ['labels.c', 'labels.a']);
    assert.deepEqual((await client.namespaces.get('gamma')).labels, { b: '2', c: '3' });
    await assert.rejects(
      client.namespaces.update({ name: 'gamma', labels: {} }, ['name']),
      (e: KindError) =>
        e.kind === 'invalid_argument' && /cannot update "name" field/.test(e.message),
    );
  });

  it("carries messages above grpc-js's 4 MiB default, up to containerd's 16 MiB", async () => {
    const labels: Record<string, string> = {};
    for (let i = 0; i < 1500; i++) labels[`k${i}`] = 'v'.repeat(4000);
    await client.namespaces.create('large', labels);
    const got = await client.namespaces.get('large');
    assert.equal(Object.keys(got.labels).length, 1500);
    await client.namespaces.delete('large');
  });

  it('maps store errors to their codes', async () => {
    await assert.rejects(client.namespaces.create('alpha'), (e: KindError) => {
      return e.kind === 'already_exists' && e.message === 'namespace "alpha": already exists';
    });
    await assert.rejects(client.namespaces.create('no/slash'), (e: KindError) => {
      return e.kind === 'invalid_argument' && /identifier "no\/slash" must match/.test(e.message);
    });
    await assert.rejects(client.namespaces.delete('missing'), (e: KindError) => {
      return e.kind === 'not_found' && e.message === 'namespace "missing": not found';
    });
  });

  it('publishes /namespaces/* events after each change, as containerd', async () => {
    published.take();
    await client.namespaces.create('evt', { a: '1' });
    await client.namespaces.update({ name: 'evt', labels: { b: '2' } }, ['labels.b']);
    await client.namespaces.delete('evt');
    assert.deepEqual(published.take(), [
      {
        namespace: 'default',
        topic: '/namespaces/create',
        typeUrl: 'containerd.events.NamespaceCreate',
        message: { name: 'evt', labels: { a: '1' } },
      },
      {
        namespace: 'default',
        topic: '/namespaces/update',
        typeUrl: 'containerd.events.NamespaceUpdate',
        message: { name: 'evt', labels: { b: '2' } },
      },
      // containerd publishes a delete in the deleted namespace.
      {
        namespace: 'evt',
        topic: '/namespaces/delete',
        typeUrl: 'containerd.events.NamespaceDelete',
        message: { name: 'evt' },
      },
    ]);
  });

  it('publishes in the namespace acted on when the caller sent none', async () => {
    const bare = new Client(socket);
    try {
      published.take();
      await bare.namespaces.create('evt2');
      await bare.namespaces.update({ name: 'evt2', labels: { x: 'y' } });
      await bare.namespaces.delete('evt2');
      assert.deepEqual(
        published.take().map((e) => [e.namespace, e.topic]),
        [
          ['evt2', '/namespaces/create'],
          ['evt2', '/namespaces/update'],
          ['evt2', '/namespaces/delete'],
        ],
      );
    } finally {
      bare.close();
    }
  });

  it('publishes nothing when the change fails', async () => {
    published.take();
    await assert.rejects(client.namespaces.create('alpha'));
    await assert.rejects(client.namespaces.delete('missing'));
    await assert.rejects(client.namespaces.update({ name: 'gamma', labels: {} }, ['name']));
    assert.deepEqual(published.take(), []);
  });
});
