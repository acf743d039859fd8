import { nowNanos } from '../../core/time/index.js';
import { formatRFC3339Nano } from './timestamp.js';

/** The output streams a CRI log line names. */
export type StreamType = 'stdout' | 'stderr';

/** containerd's `max_container_log_line_size` default: 16 KiB. */
export const DEFAULT_MAX_CONTAINER_LOG_LINE_SIZE = 16 * 1024;

const NL = 0x0a;
const CR = 0x0d;
const PARTIAL = 'P';
const FULL = 'F';

/**
 * Turns one output stream's bytes into CRI log lines, as containerd's CRI
 * logger does: `<RFC3339Nano> <stdout|stderr> <P|F> <text>\n`, one per line
 * of output, stamped when the line is complete.
 *
 * - A line ends at `\n`; a `\r` right before it is dropped too (`\r\n`),
 *   any other `\r` is text.
 * - With `maxLen` > 0, a line longer than `maxLen` bytes is cut into
 *   `maxLen`-byte parts tagged `P`, the last part `F`. A part is written as
 *   soon as more than `maxLen` bytes of the line are known, so no more than
 *   `maxLen` + 1 bytes are held. `maxLen` ≤ 0 means no limit (and no bound
 *   on what is held, as in containerd).
 * - At the end of the stream, text with no `\n` after it is written as a `P`
 *   line.
 *
 * `emit` gets whole lines: those one chunk completes, together.
 */
export class CriLogLineWriter {
  private parts: Buffer[] = [];
  private length = 0;
  /** The lines made from one chunk, given to `emit` together. */
  private out: Buffer[] = [];
  private readonly tagHeader: Record<string, Buffer>;
  private readonly stamp = new TimestampCache();

  constructor(
    readonly stream: StreamType,
    private readonly maxLen: number,
    private readonly emit: (line: Buffer) => void,
    private readonly clock: () => bigint = nowNanos,
  ) {
    this.tagHeader = {
      [PARTIAL]: Buffer.from(` ${stream} ${PARTIAL} `),
      [FULL]: Buffer.from(` ${stream} ${FULL} `),
    };
  }

  write(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NL, start);
      if (nl < 0) {
        this.hold(chunk.subarray(start));
        break;
      }
      this.hold(chunk.subarray(start, nl), true);
      this.endLine();
      start = nl + 1;
    }
    this.emitLines();
  }

  /** The end of the stream: writes what is held as a partial line. */
  end(): void {
    if (this.length === 0) return;
    this.flush(PARTIAL);
    this.emitLines();
  }

  /**
   * Adds text of the current line; `complete` says a `\n` follows it, so
   * the parts are not cut yet (the last `\r` may still go).
   */
  private hold(bytes: Buffer, complete = false): void {
    if (bytes.length > 0) {
      // The FIFO's chunk is reused by nothing, but a slice keeps the whole
      // 64 KiB read alive; a held tail is copied.
      this.parts.push(complete ? bytes : Buffer.from(bytes));
      this.length += bytes.length;
    }
    if (!complete) this.cutParts(false);
  }

  private endLine(): void {
    this.dropTrailingCR();
    this.cutParts(true);
    this.flush(FULL);
  }

  /**
   * Writes `maxLen`-byte `P` parts while more than `maxLen` bytes are held.
   * Before the line's end is seen, a last `\r` just past the limit is kept
   * back: if `\n` follows, it is no text and the line fits.
   */
  private cutParts(lineComplete: boolean): void {
    if (this.maxLen <= 0) return;
    while (this.length > this.maxLen) {
      if (!lineComplete && this.length === this.maxLen + 1 && this.lastByte() === CR) return;
      const all = Buffer.concat(this.parts, this.length);
      this.writeLine(PARTIAL, [all.subarray(0, this.maxLen)]);
      const rest = all.subarray(this.maxLen);
      this.parts = [rest];
      this.length = rest.length;
    }
  }

  private dropTrailingCR(): void {
    if (this.length === 0 || this.lastByte() !== CR) return;
    const last = this.parts[this.parts.length - 1]!;
    if (last.length === 1) this.parts.pop();
    else this.parts[this.parts.length - 1] = last.subarray(0, last.length - 1);
    this.length--;
  }

  private lastByte(): number {
    const last = this.parts[this.parts.length - 1]!;
    return last[last.length - 1]!;
  }

  private flush(tag: string): void {
    this.writeLine(tag, this.parts);
    this.parts = [];
    this.length = 0;
  }

  private writeLine(tag: string, text: Buffer[]): void {
    this.out.push(Buffer.from(this.stamp.format(this.clock()), 'latin1'), this.tagHeader[tag]!);
    for (const t of text) this.out.push(t);
    this.out.push(EOL);
  }

  private emitLines(): void {
    if (this.out.length === 0) return;
    const lines = Buffer.concat(this.out);
    this.out = [];
    this.emit(lines);
  }
}

/** {@link formatRFC3339Nano}, with the date, time and zone of the last second kept. */
class TimestampCache {
  private second = -1n;
  private head = '';
  private zone = '';

  format(nanos: bigint): string {
    const second = nanos / 1_000_000_000n;
    if (second !== this.second) {
      const full = formatRFC3339Nano(second * 1_000_000_000n);
      // `2026-12-05T15:23:35` and the zone after it.
      this.head = full.slice(0, 19);
      this.zone = full.slice(19);
      this.second = second;
    }
    const frac = Number(nanos - second * 1_000_000_000n);
    if (frac === 0) return `${this.head}${this.zone}`;
    let digits = String(frac).padStart(9, '0');
    let end = digits.length;
    while (digits.charCodeAt(end - 1) === 48) end--;
    digits = digits.slice(0, end);
    return `${this.head}.${digits}${this.zone}`;
  }
}

const EOL = Buffer.from('\n');
