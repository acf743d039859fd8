/**
 * @module
 * The apply worker's entry point. It serves one Apply at a time and is
 * reused for the next (see apply-workers.ts): each Apply starts with a
 * `start` message naming its id, root and mode; the decompressed layer
 * follows in chunks, each acknowledged as the tar reader takes it (the
 * sender's window is the back-pressure), and applyTar runs with synchronous
 * file calls. Each Apply ends with one `done` or `error` message. Messages
 * of an earlier Apply that arrive late (chunks sent before its sender saw
 * its error) are dropped by id.
 */
import { parentPort } from 'node:worker_threads';
import { kindOf } from '../core/errdefs/index.js';
import type { FromWorker, ToWorker } from './apply-channel.js';
import { applyTar } from './layer-writer.js';
import { YoungCollector } from './young-gc.js';

const port = parentPort;
if (!port) throw new Error('apply-worker must run in a worker thread');
const post = (m: FromWorker) => port.postMessage(m);

/** The Apply being served, and its messages not yet taken. */
let current: number | undefined;
const inbox: ToWorker[] = [];
let wake: (() => void) | undefined;

port.on('message', (m: ToWorker) => {
  if (m.type === 'start') {
    if (current !== undefined) {
      post({ type: 'error', id: m.id, kind: 'internal', message: 'apply worker busy' });
      return;
    }
    current = m.id;
    inbox.length = 0;
    serve(m.id, m.root, m.overlay, m.lowers);
    return;
  }
  if (m.id !== current) return; // late message of a finished Apply
  inbox.push(m);
  wake?.();
});

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

function serve(id: number, root: string, overlay: boolean, lowers?: string[]): void {
  applyTar(chunks(id), root, { overlay, lowers }).then(
    (stats) => {
      current = undefined;
      post({ type: 'done', id, stats });
    },
    (err: unknown) => {
      current = undefined;
      const e = err as Error;
      post({ type: 'error', id, kind: kindOf(err), message: e?.message ?? String(err) });
    },
  );
}
