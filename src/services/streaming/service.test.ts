import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { serveForTest } from '../../../test/helpers/grpc-server.js';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import { TransferTestClient } from '../../../test/helpers/transfer-client.js';
import { StreamingClient } from '../../api/containerd/services/streaming/v1/streaming.js';
import { fromGrpcError } from '../../client/errors.js';
import { isUnavailable } from '../../core/errdefs/index.js';
import type { Transferrer } from '../../core/transfer/index.js';
import { StreamRegistry } from '../../transfer/streams.js';
import { transferService } from '../transfer/service.js';
import { streamingService } from './service.js';

describe('Streaming service at shutdown', () => {
  it('ends streams no transfer uses at once; a stream in use lasts until its transfer is done', async () => {
    const dir: TempDir = tempDir();
    const registry = new StreamRegistry();
    // A transfer that echoes what the client sends on its stream until the client half-closes.
    const transferrer: Transferrer = {
      async transfer(ctx, req) {
        const s = registry.get(ctx, req.progressStream);
        for (;;) {
          const m = await s.recv();
          if (m === undefined) break;
          await s.send(m);
        }
        s.close();
      },
    };
    const socket = join(dir.path, 'berth.sock');
    const server = await serveForTest(socket, [
      streamingService(registry),
      transferService(transferrer),
    ]);
    const client = new TransferTestClient(socket);
    const raw = new StreamingClient(`unix:${socket}`, credentials.createInsecure());
    try {
      const idle = await client.createStream('idle');
      // A Stream call whose StreamInit never comes.
      const unborn = raw.stream();
      const unbornDone = new Promise<Error>((resolve) => {
        unborn.on('error', (err: ServiceError) => resolve(fromGrpcError(err)));
        unborn.on('data', () => {});
      });
      const busy = await client.createStream('busy');
      const transfer = client.transfer({
        source: { kind: 'importStream', stream: 'busy', mediaType: '', forceCompress: false },
        destination: {
          kind: 'exportStream',
          stream: 'busy',
          mediaType: '',
          platforms: [],
          allPlatforms: false,
          skipCompatibilityManifest: false,
          skipNonDistributable: false,
        },
        progressStream: 'busy',
      });
      const ping = async (n: number) => {
        busy.send({ kind: 'windowUpdate', update: n });
        assert.deepEqual(await busy.recv(), { kind: 'windowUpdate', update: n });
      };
      await ping(1); // the transfer has taken the stream
      assert.equal(registry.size, 2);

      const started = Date.now();
      const stopped = server.stop(10_000);
      const idleErr = await idle.done;
      assert.ok(idleErr !== undefined && isUnavailable(idleErr), String(idleErr));
      assert.match(idleErr.message, /shutting down: stream "idle" not in use/);
      const unbornErr = await unbornDone;
      assert.ok(isUnavailable(unbornErr), String(unbornErr));
      assert.ok(Date.now() - started < 2_000, 'unused streams end at once');

      // The stream in use goes on while the server stops, until its transfer ends.
      await ping(2);
      await ping(3);
      assert.equal(registry.size, 1);
      busy.closeSend();
      await transfer;
      assert.equal(await busy.done, undefined, 'the stream in use ends OK with its transfer');
      await stopped;
      assert.ok(
        Date.now() - started < 5_000,
        `stopped in ${Date.now() - started} ms, not after the 10 s grace`,
      );
      assert.equal(registry.size, 0);
    } finally {
      raw.close();
      client.close();
      await server.stop(100);
      dir.remove();
    }
  });
});
