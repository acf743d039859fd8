import type { Readable, Writable } from 'node:stream';

/** A terminal's size in characters (remotecommand's TerminalSize). */
export interface TermSize {
  width: number;
  height: number;
}

/**
 * A client's streams, as the streaming server hands them over (the same
 * shape as `src/cri/streaming`'s). A stream left out is not connected;
 * with `tty`, stdout carries both output streams and `stderr` is unused.
 * Writables are never ended here: the caller ends them when the call
 * returns.
 */
export interface StreamOptions {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  tty: boolean;
  resize?: AsyncIterable<TermSize>;
}
