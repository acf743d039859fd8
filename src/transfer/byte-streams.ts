import { Writable } from 'node:stream';
import { asBuffer } from '../core/any/index.js';
import { canceled } from '../core/errdefs/index.js';
import type { TransferStream } from '../core/transfer/index.js';

/**
 * The byte-stream protocol of containerd 1.7's transfer streams: the sender
 * sends `Data` messages and may only send as many bytes as the receiver has
 * granted with `WindowUpdate`s. As containerd's receiver does, berth grants
 * 64 KiB whenever less than that is outstanding, and sends at most 32 KiB
 * per message.
 */
export const WINDOW = 64 * 1024;
export const MAX_DATA = 32 * 1024;

/**
 * Receives the bytes a client sends on `stream` (an import): grants the
 * window as the consumer takes chunks, so a slow consumer slows the client,
 * and ends when the client half-closes. The stream is closed when the
 * iteration ends, however it ends.
 */
export async function* receiveBytes(stream: TransferStream): AsyncGenerator<Buffer> {
  let window = 0;
  try {
    for (;;) {
      if (window < WINDOW) {
        await stream.send({ kind: 'windowUpdate', update: WINDOW });
        window += WINDOW;
      }
      const msg = await stream.recv();
      if (msg === undefined) return;
      // Anything but data is ignored, as containerd's receiver does.
      if (msg.kind !== 'data') continue;
      window -= msg.data.length;
      if (msg.data.length > 0) yield asBuffer(msg.data);
    }
  } finally {
    stream.close();
  }
}

/**
 * Sends bytes to the client on `stream` (an export) within the window the
 * client grants. `write` resolves once the bytes are sent; it rejects
 * `canceled` when the stream ends before the client grants enough.
 */
export class ByteSender {
  private credit = 0;
  private noMoreCredit = false;
  private wake: (() => void) | undefined;

  constructor(private readonly stream: TransferStream) {
    void this.readUpdates();
    stream.ended.addEventListener('abort', () => this.notify(), { once: true });
  }

  async write(chunk: Uint8Array): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      while (this.credit <= 0) {
        if (this.stream.ended.aborted || this.noMoreCredit) {
          throw canceled(
            `stream ${JSON.stringify(this.stream.id)} ended before the client took the data`,
          );
        }
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
      const n = Math.min(MAX_DATA, this.credit, chunk.length - off);
      await this.stream.send({ kind: 'data', data: chunk.subarray(off, off + n) });
      this.credit -= n;
      off += n;
    }
  }

  /** Ends the stream: the client's receiver sees the end of the bytes. */
  close(): void {
    this.stream.close();
  }

  /** A Node Writable over this sender (what archive writers take). */
  writable(): Writable {
    return new Writable({
      highWaterMark: WINDOW,
      write: (chunk: Buffer, _enc, cb) => {
        this.write(chunk).then(() => cb(), cb);
      },
    });
  }

  private async readUpdates(): Promise<void> {
    try {
      for (;;) {
        const msg = await this.stream.recv();
        if (msg === undefined) break;
        if (msg.kind === 'windowUpdate' && msg.update > 0) {
          this.credit += msg.update;
          this.notify();
        }
      }
    } catch {
      // The stream ended; a waiting write sees it.
    }
    this.noMoreCredit = true;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
