// One round of bench/images-pull.ts, in a plain `node` (no tsx: tsx turns on
// source maps, which makes every Error the apply worker creates for an ENOENT
// lookup costly, and loads TypeScript in each worker thread): the compiled
// pull (dist/) with unpack, over berthd's stores (SQLite metadata, local
// content store, overlayfs snapshotter, walking differ) in <dir>, from the OCI
// layout <layout> (its first index.json entry). Prints one JSON line:
// { s, cpuS, rssBaseMiB, rssPeakMiB }.
//
//   node bench/images-pull-round.mjs <layout> <dir>
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [layout, dir] = process.argv.slice(2);
if (!layout || !dir) throw new Error('usage: images-pull-round.mjs <layout> <dir>');
const dist = new URL('../dist/', import.meta.url);
const load = (m) => import(new URL(m, dist).href);
const { pull } = await load('images/index.js');
const { LocalContentStore } = await load('content/index.js');
const md = await load('metadata/index.js');
const { OverlaySnapshotter } = await load('snapshots/overlay.js');
const { WalkingApplier } = await load('diff/apply.js');
const { ApplyWorkers } = await load('diff/apply-workers.js');
const { nullLogger } = await load('core/log/index.js');

const root = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')).manifests[0];
/** Blobs from the layout's files, digest checked as a registry client checks it. */
async function* fetch(desc, opts = {}) {
  const offset = opts.offset ?? 0;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(join(layout, 'blobs', ...desc.digest.split(':')), {
    start: offset,
    highWaterMark: 1 << 20,
  })) {
    if (offset === 0) hash.update(chunk);
    yield chunk;
  }
  if (offset === 0 && `sha256:${hash.digest('hex')}` !== desc.digest) {
    throw new Error(`blob ${desc.digest}: digest mismatch`);
  }
}
const resolver = {
  resolve: async (ref) => ({
    name: ref,
    desc: { mediaType: root.mediaType, digest: root.digest, size: root.size },
  }),
  fetcher: async () => ({ fetch }),
  pusher: async () => {
    throw new Error('not for push');
  },
};

const mdb = new md.MetadataDB({ path: join(dir, 'meta.db') });
const backend = new LocalContentStore(join(dir, 'content'));
const content = new md.MetadataContentStore(mdb, backend);
const overlay = new OverlaySnapshotter(join(dir, 'overlayfs'));
const sn = new md.MetadataSnapshotter(mdb, 'overlayfs', overlay);
const gc = new md.MetadataGc({
  mdb,
  backend,
  committing: () => content.committing(),
  snapshotters: [sn],
  log: nullLogger,
});
mkdirSync(join(dir, 'tmp'));
const workers = new ApplyWorkers();
const stores = {
  content,
  images: new md.SqliteImageStore(mdb),
  leases: new md.SqliteLeaseManager(mdb, gc),
  snapshotter: () => sn,
  applier: new WalkingApplier(content, { tempDir: join(dir, 'tmp'), workers }),
};
const ctx = { namespace: 'default', signal: new AbortController().signal, log: nullLogger };

const base = process.memoryUsage().rss;
let peak = base;
const poll = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 10);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await pull(ctx, stores, resolver, 'bench.local/layers:1', {
  unpack: [{ snapshotter: 'overlayfs' }],
});
const s = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
clearInterval(poll);
await workers.close();
await gc.close();
overlay.close();
mdb.close();
const MiB = 2 ** 20;
console.log(
  JSON.stringify({
    s,
    cpuS: (cpu.user + cpu.system) / 1e6,
    rssBaseMiB: base / MiB,
    rssPeakMiB: peak / MiB,
  }),
);
