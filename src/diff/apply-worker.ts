/**
 * @module
 * The apply worker's entry point: receives the decompressed layer in chunks
 * from apply-channel.ts, acknowledges each as the tar reader takes it (the
 * sender's window is the back-pressure), and runs applyTar with synchronous
 * file calls. Ends with one `done` or `error` message.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { kindOf } from '../core/errdefs/index.js';
import type { ToWorker, WorkerData } from './apply-channel.js';
import { applyTar } from './layer-writer.js';

const port = parentPort;
if (!port) throw new Error('apply-worker must run in a worker thread');
const data = workerData as WorkerData;

const inbox: ToWorker[] = [];
let wake: (() => void) | undefined;
port.on('message', (m: ToWorker) => {
  inbox.push(m);
  wake?.();
});

async function* chunks(): AsyncGenerator<Buffer, void, undefined> {
  for (;;) {
    while (inbox.length === 0) await new Promise<void>((r) => (wake = r));
    wake = undefined;
    const m = inbox.shift()!;
    if (m.type === 'end') return;
    if (m.type === 'abort') throw new Error('apply aborted');
    port?.postMessage({ type: 'ack' });
    yield Buffer.from(m.data);
  }
}

applyTar(chunks(), data.root, { overlay: data.overlay }).then(
  (stats) => {
    port.postMessage({ type: 'done', stats });
    port.close();
  },
  (err: unknown) => {
    const e = err as Error;
    port.postMessage({ type: 'error', kind: kindOf(err), message: e?.message ?? String(err) });
    port.close();
  },
);
