/**
 * Reads a response body chunk by chunk as the socket delivers it: the
 * buffers handed out are the ones node read (no concatenation, which
 * `read()` and async iteration do when chunks pile up), and at most
 * {@link HIGH_WATER} of them are queued before the socket is paused.
 */
import type { IncomingMessage } from 'node:http';

const HIGH_WATER = 16;
const LOW_WATER = 4;

export class BodyReader {
  private readonly queue: Buffer[] = [];
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly res: IncomingMessage) {
    res.on('data', (c: Buffer) => {
      this.queue.push(c);
      if (this.queue.length >= HIGH_WATER) res.pause();
      this.notify();
    });
    res.once('end', () => {
      this.ended = true;
      this.notify();
    });
    res.once('error', (e) => {
      this.error ??= e;
      this.notify();
    });
    res.once('close', () => {
      if (!this.ended) {
        this.error ??= Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
      }
      this.notify();
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** The next chunk, undefined at the end; rejects with the stream's error (after the chunks before it). */
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      const c = this.queue.shift();
      if (c !== undefined) {
        if (this.queue.length <= LOW_WATER && this.res.isPaused()) this.res.resume();
        return c;
      }
      if (this.error !== undefined) throw this.error;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  destroy(): void {
    this.res.destroy();
  }
}
