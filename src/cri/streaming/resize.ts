import type { Readable } from 'node:stream';
import type { Logger } from '../../core/log/index.js';
import type { TermSize } from './types.js';

/** A resize message longer than this is not a terminal size: the stream is dropped. */
const MAX_MESSAGE = 4096;

/**
 * Terminal sizes for the runtime, as an async iterable that ends with the session. Only the latest size not yet
 * taken is kept: a runtime that reads them late gets the current size, and a client sending many holds no memory.
 */
export class TermSizeQueue implements AsyncIterable<TermSize> {
  private pending: TermSize | undefined;
  private ended = false;
  private wake: (() => void) | undefined;

  push(size: TermSize): void {
    if (this.ended) return;
    this.pending = size;
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TermSize> {
    for (;;) {
      if (this.pending) {
        const size = this.pending;
        this.pending = undefined;
        yield size;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }
}

/** Parses one resize message: a JSON object with Width and Height (matched case-insensitively, as Go's decoder does). */
export function parseTermSize(text: string): TermSize | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  let width = 0;
  let height = 0;
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) continue;
    if (k.toLowerCase() === 'width') width = v;
    else if (k.toLowerCase() === 'height') height = v;
  }
  return { width, height };
}

/**
 * Feeds `queue` from a resize stream: JSON objects one per line (Go's json.Encoder ends each with a newline), until
 * the stream ends; then ends the queue.
 */
export function readResizeStream(stream: Readable, queue: TermSizeQueue, log: Logger): void {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line === '') continue;
      const size = parseTermSize(line);
      if (!size) {
        log.warn(
          { message: line.slice(0, 100) },
          'streaming: bad terminal size, resize stream dropped',
        );
        stream.destroy();
        queue.end();
        return;
      }
      queue.push(size);
    }
    if (buffered.length > MAX_MESSAGE) {
      log.warn('streaming: resize message too long, resize stream dropped');
      stream.destroy();
      queue.end();
    }
  });
  stream.on('end', () => {
    const size = buffered.trim() === '' ? undefined : parseTermSize(buffered);
    if (size) queue.push(size);
    queue.end();
  });
  stream.on('close', () => queue.end());
}
