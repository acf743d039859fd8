import { MAX_LINE } from './jsonlog.js';

/**
 * Cuts one stream's bytes into log messages as docker's copier does: at each
 * `\n` (kept in the message), and every {@link MAX_LINE} bytes of a longer
 * line (a partial message, no `\n`). Holds at most MAX_LINE bytes.
 *
 * Imported by the logger entry: node builtins only.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingLen = 0;

  constructor(private readonly emit: (message: Buffer) => void) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const end = Math.min(chunk.length, start + (MAX_LINE - this.pendingLen));
      const nl = chunk.indexOf(10, start);
      if (nl !== -1 && nl < end) {
        this.take(chunk.subarray(start, nl + 1));
        this.flush();
        start = nl + 1;
        continue;
      }
      this.take(chunk.subarray(start, end));
      start = end;
      if (this.pendingLen >= MAX_LINE) this.flush();
    }
  }

  /** Emits what is held (a message without `\n`): at the end of the stream. */
  flush(): void {
    if (this.pendingLen === 0) return;
    const message = Buffer.concat(this.pending, this.pendingLen);
    this.pending = [];
    this.pendingLen = 0;
    this.emit(message);
  }

  private take(part: Buffer): void {
    if (part.length === 0) return;
    // A copy: a slice would keep the whole read buffer alive.
    this.pending.push(Buffer.from(part));
    this.pendingLen += part.length;
  }
}
