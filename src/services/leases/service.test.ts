import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { assertWaitsForCollect, CountingGc } from '../../../test/helpers/doubles.js';
import { namespaceMetadata, promiseCall, serveForTest } from '../../../test/helpers/grpc-server.js';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import {
  type Lease as LeasePb,
  LeasesClient,
  type Resource,
} from '../../api/containerd/services/leases/v1/leases.js';
import { LEASE_EXPIRE_LABEL } from '../../core/leases/index.js';
import { MetadataDB, SqliteLeaseManager } from '../../metadata/index.js';
import type { GrpcServer } from '../../server/server.js';
import { leasesService, randomLeaseId } from './service.js';

type KindError = Error & { kind: string };

const D1 = `sha256:${'1'.repeat(64)}`;

/** The generated client, promisified, with containerd's namespace header. */
function leases(client: LeasesClient, namespace?: string) {
  const md = () => namespaceMetadata(namespace);
  const call = promiseCall;
  return {
    create: async (id: string, labels: Record<string, string> = {}) =>
      (await call<{ lease?: LeasePb }>((cb) => client.create({ id, labels }, md(), cb))).lease!,
    delete: (id: string, sync = false) =>
      call<unknown>((cb) => client.delete({ id, sync }, md(), cb)),
    list: async (...filters: string[]) =>
      (await call<{ leases: LeasePb[] }>((cb) => client.list({ filters }, md(), cb))).leases,
    addResource: (id: string, resource?: Resource) =>
      call<unknown>((cb) => client.addResource({ id, resource }, md(), cb)),
    deleteResource: (id: string, resource?: Resource) =>
      call<unknown>((cb) => client.deleteResource({ id, resource }, md(), cb)),
    listResources: async (id: string) =>
      (await call<{ resources: Resource[] }>((cb) => client.listResources({ id }, md(), cb)))
        .resources,
  };
}

describe('Leases service over a socket', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let server: GrpcServer;
  let client: LeasesClient;
  let gc: CountingGc;
  let a: ReturnType<typeof leases>;

  before(async () => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    gc = new CountingGc();
    const socket = join(dir.path, 'leases.sock');
    server = await serveForTest(socket, [leasesService(new SqliteLeaseManager(mdb, gc))]);
    client = new LeasesClient(`unix:${socket}`, credentials.createInsecure());
    a = leases(client, 'a');
  });
  after(async () => {
    client.close();
    await server.stop();
    mdb.close();
    dir.remove();
  });
  beforeEach(async () => {
    for (const l of await a.list()) await a.delete(l.id);
    gc.schedules = 0;
    gc.collects = 0;
  });

  it('creates a lease as ctr leases create does (id, labels, 24h expiry)', async () => {
    const before = BigInt(Math.floor(Date.now() / 1000));
    const expire = new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const lease = await a.create('mine', { [LEASE_EXPIRE_LABEL]: expire, k: 'v' });
    assert.equal(lease.id, 'mine');
    assert.deepEqual(lease.labels, { [LEASE_EXPIRE_LABEL]: expire, k: 'v' });
    assert.ok(lease.createdAt && lease.createdAt.seconds >= before);
    assert.deepEqual(await a.list(), [lease]);
  });

  it('makes up an id when none is given, as containerd 1.6 does', async () => {
    const lease = await a.create('');
    assert.match(lease.id, /^\d{1,9}-[A-Za-z0-9_-]{4}$/);
    assert.deepEqual(
      (await a.list()).map((l) => l.id),
      [lease.id],
    );
    for (let i = 0; i < 200; i++) assert.match(randomLeaseId(), /^\d{1,9}-[A-Za-z0-9_-]{4}$/);
  });

  it('accepts Go client random ids and refuses invalid ones', async () => {
    await a.create('123456789-_-a_');
    await assert.rejects(a.create('with space'), (e: KindError) => {
      return e.kind === 'invalid_argument' && /lease id "with space"/.test(e.message);
    });
    await assert.rejects(a.create('123456789-_-a_'), (e: KindError) => {
      return e.kind === 'already_exists' && e.message === 'lease "123456789-_-a_": already exists';
    });
  });

  it('filters List by id and labels', async () => {
    await a.create('l1', { team: 'x' });
    await a.create('l2', { team: 'y' });
    await a.create('m1');
    const ids = async (...f: string[]) => (await a.list(...f)).map((l) => l.id);
    assert.deepEqual(await ids('id~=^l'), ['l1', 'l2']);
    assert.deepEqual(await ids('labels.team==y', 'id==m1'), ['l2', 'm1']);
    await assert.rejects(a.list('id=='), (e: KindError) => e.kind === 'invalid_argument');
  });

  it('adds, lists and deletes resources', async () => {
    await a.create('r');
    await a.addResource('r', { id: D1, type: 'content' });
    await a.addResource('r', { id: 'layer-sha256:1', type: 'ingests' });
    await a.addResource('r', { id: 'sha256:chain', type: 'snapshots/overlayfs' });
    assert.deepEqual(await a.listResources('r'), [
      { id: D1, type: 'content' },
      { id: 'layer-sha256:1', type: 'ingests' },
      { id: 'sha256:chain', type: 'snapshots/overlayfs' },
    ]);
    await a.deleteResource('r', { id: 'layer-sha256:1', type: 'ingests' });
    assert.equal(gc.schedules, 1);
    assert.equal((await a.listResources('r')).length, 2);
  });

  it('answers containerd codes for bad resources and unknown leases', async () => {
    await a.create('r');
    await assert.rejects(a.addResource('r', { id: 'nope', type: 'content' }), (e: KindError) => {
      return e.kind === 'invalid_argument' && /invalid content resource id nope/.test(e.message);
    });
    await assert.rejects(a.addResource('r', { id: 'x', type: 'other' }), (e: KindError) => {
      return (
        e.kind === 'not_implemented' && /resource type other not supported yet/.test(e.message)
      );
    });
    await assert.rejects(a.addResource('r'), (e: KindError) => e.kind === 'not_implemented');
    await assert.rejects(a.addResource('gone', { id: D1, type: 'content' }), (e: KindError) => {
      return e.kind === 'not_found' && e.message === 'lease "gone": not found';
    });
    await assert.rejects(a.listResources('gone'), (e: KindError) => e.kind === 'not_found');
    await assert.rejects(a.delete('gone'), (e: KindError) => {
      return e.kind === 'not_found' && e.message === 'lease "gone": not found';
    });
  });

  it('deletes: schedules GC, and with sync answers after a collection', async () => {
    await a.create('d1');
    await a.create('d2');
    await a.delete('d1');
    assert.deepEqual([gc.schedules, gc.collects], [1, 0]);
    await assertWaitsForCollect(gc, () => a.delete('d2', true));
    assert.deepEqual(await a.list(), []);
  });

  it('keeps namespaces apart and requires one', async () => {
    await a.create('ns-a');
    assert.deepEqual(await leases(client, 'b').list(), []);
    await assert.rejects(leases(client, 'b').delete('ns-a'), (e: KindError) => {
      return e.kind === 'not_found';
    });
    await assert.rejects(leases(client).list(), (e: KindError) => {
      return e.kind === 'failed_precondition' && /namespace is required/.test(e.message);
    });
  });
});
