/**
 * Real local stores assembled in-process for the image operations' tests
 * (src/images): the metadata stores on a temporary SQLite file, the local
 * content store, a snapshotter (native by default, rootless; overlayfs for
 * root tests), the walking differ's applier and the collector, exposed as
 * core's ImageStores. Plus helpers to look inside them.
 */

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LocalContentStore } from '../../src/content/index.js';
import { notFound } from '../../src/core/errdefs/index.js';
import { nullLogger } from '../../src/core/log/index.js';
import type { OpContext } from '../../src/core/namespaces/index.js';
import type { Snapshotter } from '../../src/core/snapshots/index.js';
import type { ImageStores } from '../../src/core/transfer/index.js';
import { WalkingApplier } from '../../src/diff/apply.js';
import { ApplyWorkers } from '../../src/diff/apply-workers.js';
import {
  MetadataContentStore,
  MetadataDB,
  MetadataGc,
  MetadataSnapshotter,
  SqliteImageStore,
  SqliteLeaseManager,
} from '../../src/metadata/index.js';
import { NativeSnapshotter } from '../../src/snapshots/native.js';
import { OverlaySnapshotter } from '../../src/snapshots/overlay.js';

export interface TestStores extends ImageStores {
  mdb: MetadataDB;
  backend: LocalContentStore;
  content: MetadataContentStore;
  gc: MetadataGc;
  snapshotters: Map<string, MetadataSnapshotter>;
  close(): Promise<void>;
}

export function ctxOf(namespace = 'default', lease?: string): OpContext {
  return {
    namespace,
    ...(lease && { lease }),
    signal: new AbortController().signal,
    log: nullLogger,
  };
}

/**
 * Stores under `dir` (which must exist). `snapshotters` names the backends:
 * `native` (default) and/or `overlayfs` (needs root to mount, not to prepare).
 */
export function imageStores(
  dir: string,
  opts: {
    snapshotters?: ('native' | 'overlayfs')[];
    /** The applier's worker threads, shared across stores (closed by their owner); default the stores' own. */
    workers?: ApplyWorkers;
  } = {},
): TestStores {
  const mdb = new MetadataDB({ path: join(dir, 'meta.db') });
  const backend = new LocalContentStore(join(dir, 'content'));
  let gc: MetadataGc | undefined;
  const content = new MetadataContentStore(mdb, backend, () => gc?.schedule());
  const backends: { close(): void }[] = [];
  const snapshotters = new Map<string, MetadataSnapshotter>();
  for (const name of opts.snapshotters ?? ['native']) {
    const root = join(dir, `snapshots-${name}`);
    const b: Snapshotter & { close(): void } =
      name === 'native' ? new NativeSnapshotter(root) : new OverlaySnapshotter(root);
    backends.push(b);
    snapshotters.set(name, new MetadataSnapshotter(mdb, name, b, () => gc?.schedule()));
  }
  gc = new MetadataGc({
    mdb,
    backend,
    committing: () => content.committing(),
    snapshotters: [...snapshotters.values()],
    log: nullLogger,
    delayMs: 5,
    deletionThreshold: 1,
  });
  const leases = new SqliteLeaseManager(mdb, gc);
  const tmp = join(dir, 'apply-tmp');
  mkdirSync(tmp, { recursive: true });
  const workers = opts.workers ?? new ApplyWorkers();
  const ownWorkers = opts.workers === undefined;
  const applier = new WalkingApplier(content, { tempDir: tmp, workers });
  const theGc = gc;
  return {
    mdb,
    backend,
    content,
    gc: theGc,
    images: new SqliteImageStore(mdb),
    leases,
    snapshotters,
    snapshotter(name: string) {
      const sn = snapshotters.get(name);
      if (!sn) throw notFound(`snapshotter ${JSON.stringify(name)}`);
      return sn;
    },
    applier,
    async close() {
      if (ownWorkers) await workers.close();
      await theGc.close();
      for (const b of backends) b.close();
      mdb.close();
    },
  };
}
