/**
 * @module
 * The apply worker's entry point. It serves one Apply at a time and is
 * reused for the next (see apply-workers.ts): each Apply starts with a
 * `start` message naming its id, root and mode. The layer follows either
 * decompressed, in chunks acknowledged as the tar reader takes them (the
 * sender's window is the back-pressure), or, for a gzip Apply, compressed,
 * in slices of a shared ring that zlib reads in place (each slot given back
 * once zlib has consumed it); the worker then inflates (on libuv's pool)
 * and computes the tar's digest itself, so that neither the inflating nor
 * the hashing nor the decompressed bytes pass through the main thread.
 * applyTar runs with synchronous file calls. Each Apply ends with one
 * `done` or `error` message. Messages of an earlier Apply that arrive late
 * (chunks sent before its sender saw its error) are dropped by id.
 */
import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { GunzipFeed } from '../archive/index.js';
import { kindOf } from '../core/errdefs/index.js';
import { type FromWorker, SLOT_SIZE, type TarDigest, type ToWorker } from './apply-channel.js';
import { applyTar } from './layer-writer.js';
import { YoungCollector } from './young-gc.js';

const port = parentPort;
if (!port) throw new Error('apply-worker must run in a worker thread');
const post = (m: FromWorker) => port.postMessage(m);

/** The Apply being served, and its messages not yet taken. */
let current: number | undefined;
const inbox: ToWorker[] = [];
let wake: (() => void) | undefined;
/** The current gzip Apply's inflater and ring. */
let feed: { gunzip: GunzipFeed; ring: SharedArrayBuffer } | undefined;

port.on('message', (m: ToWorker) => {
  if (m.type === 'start') {
    if (current !== undefined) {
      post({ type: 'error', id: m.id, kind: 'internal', message: 'apply worker busy' });
      return;
    }
    current = m.id;
    inbox.length = 0;
    feed = m.gunzip && { gunzip: new GunzipFeed(), ring: m.gunzip.ring };
    serve(m.id, m.root, m.overlay, m.lowers);
    return;
  }
  if (m.id !== current) return; // late message of a finished Apply
  if (feed !== undefined) {
    toGunzip(m, feed);
    return;
  }
  inbox.push(m);
  wake?.();
});

/** A gzip Apply's message: a slice for zlib (its slot given back once consumed), the end, or an abort. */
function toGunzip(m: ToWorker, f: NonNullable<typeof feed>): void {
  if (m.type === 'slice') {
    const id = m.id;
    const slot = m.slot;
    const view = new Uint8Array(f.ring, slot * SLOT_SIZE, m.length);
    f.gunzip.write(view, () => post({ type: 'ack', id, slot }));
  } else if (m.type === 'end') {
    f.gunzip.end();
  } else if (m.type === 'abort') {
    f.gunzip.destroy(new Error('apply aborted'));
  }
}

async function* chunks(id: number): AsyncGenerator<Buffer, void, undefined> {
  const collector = new YoungCollector();
  for (;;) {
    while (inbox.length === 0) await new Promise<void>((r) => (wake = r));
    wake = undefined;
    const m = inbox.shift()!;
    if (m.type === 'end') return;
    if (m.type === 'abort') throw new Error('apply aborted');
    if (m.type !== 'chunk') continue;
    post({ type: 'ack', id });
    collector.add(m.data.byteLength);
    yield Buffer.from(m.data);
  }
}

/** The inflated layer, hashed as it passes; `tar` is set once it was read to its end. */
async function* hashed(
  source: AsyncIterable<Buffer>,
  tar: { digest?: TarDigest },
): AsyncGenerator<Buffer, void, undefined> {
  const collector = new YoungCollector();
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of source) {
    hash.update(chunk);
    size += chunk.length;
    collector.add(chunk.length);
    yield chunk;
  }
  tar.digest = { digest: `sha256:${hash.digest('hex')}`, size };
}

function serve(id: number, root: string, overlay: boolean, lowers?: string[]): void {
  const tar: { digest?: TarDigest } = {};
  const source = feed ? hashed(feed.gunzip, tar) : chunks(id);
  const stop = feed?.gunzip;
  applyTar(source, root, { overlay, lowers }).then(
    (stats) => {
      current = undefined;
      feed = undefined;
      if (stop !== undefined && tar.digest === undefined) {
        // applyTar reads its input to the end; not having done so is a bug, not a layer.
        post({ type: 'error', id, kind: 'internal', message: 'layer stream not read to its end' });
        return;
      }
      post({ type: 'done', id, stats, ...(tar.digest && { tar: tar.digest }) });
    },
    (err: unknown) => {
      current = undefined;
      feed = undefined;
      stop?.destroy(new Error('apply failed'));
      const e = err as Error;
      post({ type: 'error', id, kind: kindOf(err), message: e?.message ?? String(err) });
    },
  );
}
