import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import { BerthClient } from '../../client/index.js';
import { nullLogger } from '../../core/log/index.js';
import { MetadataDB, SqliteNamespaceStore } from '../../metadata/index.js';
import { GrpcServer } from '../../server/server.js';
import { namespacesService } from './service.js';

type KindError = Error & { kind: string };

describe('Namespaces service over a socket', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let server: GrpcServer;
  let client: BerthClient;

  before(async () => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    const socket = join(dir.path, 'ns.sock');
    server = new GrpcServer(
      {
        address: socket,
        uid: process.getuid?.() ?? 0,
        gid: process.getgid?.() ?? 0,
        log: nullLogger,
      },
      [namespacesService(new SqliteNamespaceStore(mdb))],
    );
    await server.start();
    client = new BerthClient(socket, { namespace: 'default' });
    await client.namespaces.create('alpha', { team: 'a', 'io.example/tier': 'gold' });
    await client.namespaces.create('beta', { team: 'b' });
    await client.namespaces.create('gamma', {});
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
});
