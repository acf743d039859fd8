import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { CriLogLineWriter } from './cri-logger.js';
import type { LogFile } from './log-file.js';

/** Why an attached writer stopped getting output. */
export type DetachReason = 'eof' | 'slow' | 'closed';

/** What one attacher may hold unread before it is dropped: 1 MiB. */
export const DEFAULT_MAX_ATTACH_BUFFER = 1024 * 1024;

interface Attacher {
  out: Writable;
  gone: (reason: DetachReason) => void;
  cleanup: () => void;
}

/**
 * Copies one output FIFO of a container to its CRI log and to every
 * attached writer (containerd's writer group). The log sets the pace:
 * while the log file is behind, the FIFO is not read, so the container
 * blocks on a full pipe rather than berthd buffering without bound. An
 * attacher never slows the log: one holding more than `maxAttachBuffer`
 * bytes unread is dropped (its `gone('slow')` is called), as containerd
 * drops a writer that fails.
 */
export class OutputPump {
  private readonly attachers = new Set<Attacher>();
  private started = false;
  private ended = false;
  private lines: CriLogLineWriter | undefined;
  private file: LogFile | undefined;
  private waitingForLog = false;
  readonly done: Promise<void>;
  private finish: () => void = () => {};

  constructor(
    private readonly source: Socket,
    private readonly maxAttachBuffer = DEFAULT_MAX_ATTACH_BUFFER,
  ) {
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Starts reading, with the lines going to `file` (none: attachers only). */
  start(lines?: CriLogLineWriter, file?: LogFile): void {
    if (this.started) throw new Error('output pump started twice');
    this.started = true;
    this.lines = lines;
    this.file = file;
    this.source.on('data', (chunk: Buffer) => this.dispatch(chunk));
    this.source.once('close', () => this.end());
    this.source.once('end', () => this.end());
  }

  /**
   * Adds `out` to the writers that get the output; `gone` is called once
   * when it stops getting it (end of output, dropped as slow, or `out`
   * closed). The returned function removes it without a call to `gone`.
   */
  attach(out: Writable, gone: (reason: DetachReason) => void): () => void {
    if (this.ended) {
      gone('eof');
      return () => {};
    }
    const onClose = () => this.detach(a, 'closed');
    const a: Attacher = {
      out,
      gone,
      cleanup: () => {
        out.off('close', onClose);
        out.off('error', onClose);
      },
    };
    out.once('close', onClose);
    out.once('error', onClose);
    this.attachers.add(a);
    return () => {
      if (this.attachers.delete(a)) a.cleanup();
    };
  }

  /** Stops reading the FIFO and closes it (ends the output as if at EOF). */
  close(): void {
    this.source.destroy();
    this.end();
  }

  private dispatch(chunk: Buffer): void {
    this.lines?.write(chunk);
    for (const a of this.attachers) {
      if (a.out.destroyed || a.out.writableEnded) {
        this.detach(a, 'closed');
        continue;
      }
      a.out.write(chunk);
      if (a.out.writableLength > this.maxAttachBuffer) this.detach(a, 'slow');
    }
    const file = this.file;
    if (file !== undefined && !file.writable && !this.waitingForLog) {
      this.waitingForLog = true;
      this.source.pause();
      file.once('drain', () => {
        this.waitingForLog = false;
        if (!this.ended) this.source.resume();
      });
    }
  }

  private detach(a: Attacher, reason: DetachReason): void {
    if (!this.attachers.delete(a)) return;
    a.cleanup();
    a.gone(reason);
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.lines?.end();
    for (const a of [...this.attachers]) this.detach(a, 'eof');
    this.finish();
  }
}
