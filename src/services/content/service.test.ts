import { join } from 'node:path';
import { serveForTest } from '../../../test/helpers/grpc-server.js';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import { Client } from '../../client/index.js';
import { LocalContentStore } from '../../content/index.js';
import type { ContentStore } from '../../core/content/index.js';
import { contentSuite } from '../../core/content/testsuite.js';
import { MetadataContentStore, MetadataDB } from '../../metadata/index.js';
import type { GrpcServer } from '../../server/server.js';
import { contentService } from './service.js';

/** The content suite through berth's client, the gRPC socket and the Content service. */
contentSuite(
  'Content service over a socket',
  async () => {
    const dir: TempDir = tempDir();
    let mdb: MetadataDB;
    let server: GrpcServer;
    let client: Client;
    let n = 0;
    const start = async (): Promise<ContentStore> => {
      mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
      const store = new MetadataContentStore(mdb, new LocalContentStore(join(dir.path, 'content')));
      const socket = join(dir.path, `c${n++}.sock`);
      server = await serveForTest(socket, [contentService(store, { publish: async () => {} })]);
      client = new Client(socket, { namespace: 'default' });
      return client.content;
    };
    const stop = async () => {
      client.close();
      await server.stop(100);
      mdb.close();
    };
    const store = await start();
    return {
      store,
      ctx: client!.context(),
      cleanup: async () => {
        await stop();
        dir.remove();
      },
      reopen: async () => {
        await stop();
        return start();
      },
    };
  },
  { labels: true },
);
