import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { namespaceMetadata, serveForTest } from '../../../test/helpers/grpc-server.js';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import {
  ContentClient,
  WriteAction,
  type WriteContentRequest,
  type WriteContentResponse,
} from '../../api/containerd/services/content/v1/content.js';
import { LocalContentStore } from '../../content/index.js';
import { MetadataContentStore, MetadataDB } from '../../metadata/index.js';
import type { GrpcServer } from '../../server/server.js';
import { contentService } from './service.js';

function req(action: WriteAction, fields: Partial<WriteContentRequest> = {}): WriteContentRequest {
  return {
    action,
    ref: '',
    total: 0n,
    expected: '',
    offset: 0n,
    data: Buffer.alloc(0),
    labels: {},
    ...fields,
  };
}

/**
 * A Write stream driven as containerd's Go client drives it: its writer's
 * Close is CloseSend, a half-close that waits for nothing.
 */
class GoStyleWriter {
  private readonly call;
  private readonly answers: WriteContentResponse[] = [];
  private waiting: ((r: WriteContentResponse | Error) => void) | undefined;
  private failure: Error | undefined;

  constructor(client: ContentClient) {
    this.call = client.write(namespaceMetadata('default'));
    this.call.on('data', (r: WriteContentResponse) => {
      if (this.waiting) this.waiting(r);
      else this.answers.push(r);
      this.waiting = undefined;
    });
    this.call.on('error', (err: ServiceError) => {
      this.failure = new Error(`${err.code}: ${err.details}`);
      this.waiting?.(this.failure);
      this.waiting = undefined;
    });
  }

  send(r: WriteContentRequest): Promise<WriteContentResponse> {
    this.call.write(r);
    const ready = this.answers.shift();
    if (ready) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting = (a) => (a instanceof Error ? reject(a) : resolve(a));
    });
  }

  closeSend(): void {
    this.call.end();
  }
}

describe('Content.Write: a closed writer’s ref, reopened at once', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let server: GrpcServer;
  let client: ContentClient;

  before(async () => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    const store = new MetadataContentStore(mdb, new LocalContentStore(join(dir.path, 'content')));
    const socket = join(dir.path, 'content.sock');
    server = await serveForTest(socket, [contentService(store, { publish: async () => {} })]);
    client = new ContentClient(`unix:${socket}`, credentials.createInsecure());
  });

  after(async () => {
    client.close();
    await server.stop(100);
    mdb.close();
    dir.remove();
  });

  it('opens again without `locked: unavailable`, 200 times in a row', async () => {
    const ref = 'reopen-at-once';
    let offset = 0;
    for (let i = 0; i < 200; i++) {
      const w = new GoStyleWriter(client);
      const stat = await w.send(req(WriteAction.STAT, { ref }));
      assert.equal(Number(stat.offset), offset, `iteration ${i}: resumed at the offset reached`);
      const chunk = Buffer.from(`chunk ${i};`);
      const res = await w.send(
        req(WriteAction.WRITE, { ref, offset: BigInt(offset), data: chunk }),
      );
      offset += chunk.length;
      assert.equal(Number(res.offset), offset);
      w.closeSend();
    }
    const last = new GoStyleWriter(client);
    const stat = await last.send(req(WriteAction.STAT, { ref }));
    assert.equal(Number(stat.offset), offset);
    const commit = await last.send(
      req(WriteAction.COMMIT, { ref, offset: BigInt(offset), total: BigInt(offset) }),
    );
    assert.match(commit.digest, /^sha256:[0-9a-f]{64}$/);
  });
});
