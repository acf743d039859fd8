/**
 * @module
 * A young-generation collection on demand, for the layer stream's buffers.
 * Each decompressed chunk is a fresh 256 KiB ArrayBuffer (gunzip's output,
 * the copy sent to the worker) with next to no JS allocation around it, so
 * V8 runs a scavenge rarely and frees those buffers late: during a pull
 * they piled up to tens of MiB on each thread. A scavenge every few MiB of
 * layer data costs well under a millisecond and frees them.
 *
 * V8's gc() is exposed through a fresh context (the flag only applies to
 * contexts made after it is set); where that is refused, nothing happens.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Layer bytes between two collections. */
export const COLLECT_EVERY = 8 << 20;

type Gc = (opts: { type: 'minor' | 'major' }) => void;
let gc: Gc | null | undefined;

/** Runs a scavenge of this thread's young generation. */
export function collectYoung(): void {
  if (gc === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as Gc;
    } catch {
      gc = null;
    }
  }
  gc?.({ type: 'minor' });
}

/** Counts bytes and runs collectYoung every COLLECT_EVERY of them. */
export class YoungCollector {
  #since = 0;

  add(bytes: number): void {
    this.#since += bytes;
    if (this.#since >= COLLECT_EVERY) {
      this.#since = 0;
      collectYoung();
    }
  }
}
