import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { credentials, type ServiceError, status } from '@grpc/grpc-js';
import { namespaceMetadata, serveForTest } from '../../../test/helpers/grpc-server.js';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import {
  ContentClient,
  WriteAction,
  type WriteContentRequest,
  type WriteContentResponse,
} from '../../api/containerd/services/content/v1/content.js';
import { LocalContentStore } from '../../content/index.js';
import { nullLogger } from '../../core/log/index.js';
import { MetadataContentStore, MetadataDB } from '../../metadata/index.js';
import type { GrpcServer } from '../../server/server.js';
import { contentService } from './service.js';

const data = randomBytes(300 * 1024);
const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
const ref = `layer-${digest}`;

function req(action: WriteAction, fields: Partial<WriteContentRequest> = {}): WriteContentRequest {
  return {
    action,
    ref,
    total: 0n,
    expected: '',
    offset: 0n,
    data: Buffer.alloc(0),
    labels: {},
    ...fields,
  };
}

/** A Write stream driven as ctr 1.6's remote writer: STAT with ref+total+expected first. */
class RemoteWriter {
  private readonly call;
  private readonly answers: (WriteContentResponse | ServiceError)[] = [];
  private waiting: ((r: WriteContentResponse | ServiceError) => void) | undefined;
  /** The STAT's answer: the server's writer is open (or the blob exists). */
  readonly opened: Promise<WriteContentResponse>;
  openedYet = false;

  constructor(client: ContentClient, namespace: string) {
    this.call = client.write(namespaceMetadata(namespace));
    const deliver = (r: WriteContentResponse | ServiceError) => {
      if (this.waiting) this.waiting(r);
      else this.answers.push(r);
      this.waiting = undefined;
    };
    this.call.on('data', deliver);
    this.call.on('error', deliver);
    this.opened = this.send(
      req(WriteAction.STAT, { total: BigInt(data.length), expected: digest }),
    ).finally(() => {
      this.openedYet = true;
    });
    this.opened.catch(() => {});
  }

  send(r: WriteContentRequest): Promise<WriteContentResponse> {
    this.call.write(r);
    return this.next();
  }

  async writeAllAndCommit(from = 0): Promise<WriteContentResponse> {
    await this.send(
      req(WriteAction.WRITE, { offset: BigInt(from), data: data.subarray(from, 1000) }),
    );
    return this.send(
      req(WriteAction.COMMIT, {
        offset: 1000n,
        data: data.subarray(1000),
        total: BigInt(data.length),
        expected: digest,
      }),
    );
  }

  closeSend(): void {
    this.call.end();
  }

  cancel(): void {
    this.call.cancel();
  }

  private next(): Promise<WriteContentResponse> {
    const ready = this.answers.shift();
    const settle = (a: WriteContentResponse | ServiceError) =>
      a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
    if (ready) return settle(ready);
    return new Promise((resolve, reject) => {
      this.waiting = (a) => (a instanceof Error ? reject(a) : resolve(a));
    });
  }
}

const code = (c: number) => (err: unknown) => (err as ServiceError).code === c;

describe('Content.Write: one blob written once across namespaces', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let store: MetadataContentStore;
  let server: GrpcServer;
  let client: ContentClient;
  const inNs = (namespace: string) => ({
    namespace,
    signal: new AbortController().signal,
    log: nullLogger,
  });

  beforeEach(async () => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    store = new MetadataContentStore(mdb, new LocalContentStore(join(dir.path, 'content')));
    const socket = join(dir.path, 'content.sock');
    server = await serveForTest(socket, [contentService(store, { publish: async () => {} })]);
    client = new ContentClient(`unix:${socket}`, credentials.createInsecure());
  });
  afterEach(async () => {
    client.close();
    await server.stop(100);
    mdb.close();
    dir.remove();
  });

  it('holds the second STAT until the first commits, then answers ALREADY_EXISTS', async () => {
    const a = new RemoteWriter(client, 'a');
    await a.opened;
    const b = new RemoteWriter(client, 'b');
    await sleep(100);
    assert.equal(b.openedYet, false, 'the second STAT waits');
    const done = await a.writeAllAndCommit();
    assert.equal(done.digest, digest);
    await assert.rejects(b.opened, code(status.ALREADY_EXISTS));
    assert.equal((await store.info(inNs('b'), digest)).size, data.length);
    assert.deepEqual(await store.listStatuses(inNs('b')), []);
  });

  for (const [how, letGo] of [
    ['cancels its call (client killed)', (w: RemoteWriter) => w.cancel()],
    ['half-closes its stream', (w: RemoteWriter) => w.closeSend()],
  ] as const) {
    it(`lets the second write when the first ${how}`, async () => {
      const a = new RemoteWriter(client, 'a');
      await a.opened;
      await a.send(req(WriteAction.WRITE, { data: data.subarray(0, 1000) }));
      const b = new RemoteWriter(client, 'b');
      await sleep(100);
      assert.equal(b.openedYet, false);
      letGo(a);
      const stat = await b.opened;
      assert.equal(stat.offset, 0n);
      assert.equal((await b.writeAllAndCommit()).digest, digest);
      assert.equal((await store.info(inNs('b'), digest)).size, data.length);
    });
  }

  it('forgets a waiter whose client cancels, leaving nothing behind', async () => {
    const a = new RemoteWriter(client, 'a');
    await a.opened;
    const b = new RemoteWriter(client, 'b');
    await sleep(100);
    assert.equal(store.claims.waiting(digest), 1);
    b.cancel();
    await assert.rejects(b.opened, code(status.CANCELLED));
    for (let i = 0; i < 50 && store.claims.waiting(digest) > 0; i++) await sleep(10);
    assert.equal(store.claims.waiting(digest), 0);
    assert.deepEqual(await store.listStatuses(inNs('b')), []);
    assert.equal((await a.writeAllAndCommit()).digest, digest);
  });
});
