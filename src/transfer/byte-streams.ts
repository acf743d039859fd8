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

/** Bytes kept back until the end, so the last messages can be sized to get an acknowledgement. */
const TAIL = WINDOW + MAX_DATA + 1;
/** How long the end of a send waits for the client to acknowledge the last bytes. */
const FINAL_ACK_MS = 10_000;

/**
 * Sends bytes to the client on `stream` (an export) within the window the
 * client grants. `write` resolves once the bytes are sent (or kept back for
 * the end); it rejects `canceled` when the stream ends before the client
 * grants enough.
 *
 * `finish` sends the last bytes so that the client acknowledges having
 * written them: containerd's ctr returns from its Transfer call, closes the
 * file and exits while its receiving goroutine may still be writing the last
 * Data messages, which truncates the archive (containerd 1.7.13's own export
 * loses the end of one now and then). Its receiver is deterministic: before
 * each Recv it grants 64 KiB when less than 64 KiB is outstanding. So the
 * sender tracks how many grants the client has sent before each message,
 * keeps the last 96 KiB back, and ends with messages that use the client's
 * whole window: after the last one less than 64 KiB is outstanding, the
 * client grants again after writing it, and that grant is the
 * acknowledgement. Only then does the stream end and the transfer answer. A
 * client that grants otherwise is not waited for longer than 10 s.
 */
export class ByteSender {
  private credit = 0;
  private grants = 0;
  private noMoreCredit = false;
  private wake: (() => void) | undefined;
  /** containerd's receiver as this sender's messages drive it: its window and the grants it has sent. */
  private readonly peer = { window: 0, grants: 0 };
  private readonly tail: Buffer[] = [];
  private tailBytes = 0;

  constructor(
    private readonly stream: TransferStream,
    private readonly finalAckMs = FINAL_ACK_MS,
  ) {
    void this.readUpdates();
    stream.ended.addEventListener('abort', () => this.notify(), { once: true });
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (chunk.length === 0) return;
    this.tail.push(asBuffer(chunk));
    this.tailBytes += chunk.length;
    while (this.tailBytes > TAIL) {
      await this.waitCredit();
      const n = Math.min(MAX_DATA, this.credit, this.tailBytes - TAIL);
      await this.sendData(this.take(n));
    }
  }

  /**
   * Sends what was kept back, each message as large as the client's window
   * (exact once the grants the client owes have arrived), then waits for the
   * grant that says the client has written the last byte.
   */
  async finish(): Promise<void> {
    while (this.tailBytes > 0) {
      await this.waitGrants(this.grantsBeforeNextRecv());
      await this.waitCredit();
      await this.sendData(this.take(Math.min(this.credit, this.tailBytes)));
    }
    const ack = this.grantsBeforeNextRecv();
    if (ack > this.peer.grants) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.finalAckMs);
      });
      await Promise.race([this.waitGrants(ack).catch(() => {}), late]);
      clearTimeout(timer);
    }
  }

  /** Ends the stream: the client's receiver sees the end of the bytes. */
  close(): void {
    this.stream.close();
  }

  /** A Node Writable over this sender (what archive writers take); ending it runs `finish`. */
  writable(): Writable {
    return new Writable({
      highWaterMark: WINDOW,
      write: (chunk: Buffer, _enc, cb) => {
        this.write(chunk).then(() => cb(), cb);
      },
      final: (cb) => {
        this.finish().then(() => cb(), cb);
      },
    });
  }

  /** The grants containerd's receiver has sent by the time it waits for the next message. */
  private grantsBeforeNextRecv(): number {
    return this.peer.window < WINDOW ? this.peer.grants + 1 : this.peer.grants;
  }

  private take(n: number): Buffer {
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const head = this.tail[0] as Buffer;
      if (head.length <= need) {
        parts.push(head);
        this.tail.shift();
        need -= head.length;
      } else {
        parts.push(head.subarray(0, need));
        this.tail[0] = head.subarray(need);
        need = 0;
      }
    }
    this.tailBytes -= n;
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, n);
  }

  private async sendData(data: Buffer): Promise<void> {
    // containerd's receiver: a grant before the Recv when under a window, then the write.
    if (this.peer.window < WINDOW) {
      this.peer.window += WINDOW;
      this.peer.grants++;
    }
    this.peer.window -= data.length;
    this.credit -= data.length;
    await this.stream.send({ kind: 'data', data });
  }

  private async waitCredit(): Promise<void> {
    while (this.credit <= 0) await this.waitChange();
  }

  private async waitGrants(n: number): Promise<void> {
    while (this.grants < n) await this.waitChange();
  }

  private waitChange(): Promise<void> {
    if (this.stream.ended.aborted || this.noMoreCredit) {
      return Promise.reject(
        canceled(`stream ${JSON.stringify(this.stream.id)} ended before the client took the data`),
      );
    }
    return new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }

  private async readUpdates(): Promise<void> {
    try {
      for (;;) {
        const msg = await this.stream.recv();
        if (msg === undefined) break;
        if (msg.kind === 'windowUpdate' && msg.update > 0) {
          this.credit += msg.update;
          this.grants++;
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
