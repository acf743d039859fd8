/**
 * berth's CRI ImageService and the runtime status calls (Version, Status) served alone over a
 * socket, on overlayfs stores in a temp directory, for crictl and critest to talk to: what
 * src/cri/images' crictl and critest root tests share.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  ImageServiceService,
  RuntimeServiceService,
} from '../../src/api/k8s/cri/runtime/v1/api.js';
import { nullLogger } from '../../src/core/log/index.js';
import { criConfig } from '../../src/cri/config.js';
import { CRI_NAMESPACE, CriImages, imageServiceHandlers } from '../../src/cri/images/index.js';
import { runtimeStatusHandlers } from '../../src/cri/runtime-status.js';
import { SnapshotUsageStore } from '../../src/cri/stats/snapshot-usage.js';
import type { GrpcServer } from '../../src/server/server.js';
import { serveForTest } from './grpc-server.js';
import { ctxOf, imageStores, type TestStores } from './image-stores.js';

export interface CriImageServer {
  /** The unix socket both services answer on. */
  socket: string;
  stores: TestStores;
  server: GrpcServer;
  /** Stops the server, then closes the stores. */
  close(): Promise<void>;
}

/**
 * Serves the services on `<dir>/cri.sock` with stores under `<dir>/stores`; pulls go through the
 * hosts.toml files under `certsDir`; Status reports `networkStatus` as the network condition.
 */
export async function serveCriImages(o: {
  dir: string;
  certsDir: string;
  networkStatus: { ready: boolean; message: string };
}): Promise<CriImageServer> {
  const storeDir = join(o.dir, 'stores');
  mkdirSync(storeDir);
  const stores = imageStores(storeDir, { snapshotters: ['overlayfs'] });
  const config = criConfig({ registry: { config_path: o.certsDir } }, nullLogger);
  const images = new CriImages({
    stores,
    gc: stores.gc,
    snapshotter: 'overlayfs',
    sandboxImage: config.sandboxImage,
    registry: config.registry,
    maxConcurrentDownloads: config.maxConcurrentDownloads,
    log: nullLogger,
  });
  const usage = new SnapshotUsageStore(stores.snapshotter('overlayfs'), ctxOf(CRI_NAMESPACE));
  const socket = join(o.dir, 'cri.sock');
  let server: GrpcServer;
  try {
    server = await serveForTest(socket, [
      {
        name: 'runtime.v1.ImageService',
        definition: ImageServiceService,
        namespaced: false,
        handlers: imageServiceHandlers(images, {
          usage,
          mountpoint: join(storeDir, 'snapshots-overlayfs'),
        }),
      },
      {
        name: 'runtime.v1.RuntimeService',
        definition: RuntimeServiceService,
        namespaced: false,
        handlers: runtimeStatusHandlers({
          version: '0.0.0-test',
          config,
          networkStatus: () => o.networkStatus,
        }),
      },
    ]);
  } catch (err) {
    await stores.close();
    throw err;
  }
  return {
    socket,
    stores,
    server,
    async close() {
      await server.stop();
      await stores.close();
    },
  };
}
