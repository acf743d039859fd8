import type { Duplex, Readable, Writable } from 'node:stream';

/** A terminal size, as the resize stream carries it (`{"Width":80,"Height":24}`). */
export interface TermSize {
  width: number;
  height: number;
}

/**
 * The streams of one exec or attach session. Those the request did not ask for are undefined; with a TTY there is no
 * stderr (the terminal merges it into stdout) and `resize` yields the client's terminal sizes (ending with the
 * session). stdin ends when the client closes it. stdout and stderr apply back-pressure (a write completes once the
 * client's connection took it); the server ends them after the runtime's call returns if the runtime did not.
 */
export interface StreamOptions {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  tty: boolean;
  resize?: AsyncIterable<TermSize>;
  /**
   * Aborted when the session's connection is gone (the client left, or the server closed); its streams are closed
   * then too. An attach (or a long exec) can stop on it.
   */
  signal?: AbortSignal;
}

/** What the streaming server needs of the CRI runtime (containerd's streaming.Runtime). */
export interface StreamingRuntime {
  /** Runs `cmd` in the container with the session's streams; resolves with its exit code. */
  exec(containerId: string, cmd: string[], o: StreamOptions): Promise<number>;
  /** Attaches the session's streams to the container's main process until it exits or the session ends. */
  attach(containerId: string, o: StreamOptions): Promise<void>;
  /**
   * Copies between `stream` and `port` inside the pod's network namespace until either side ends; resolves when
   * done. An error whose `code` is ECONNRESET or EPIPE resets the client's streams; another one is reported to the
   * client on its error stream.
   */
  portForward(podSandboxId: string, port: number, stream: Duplex): Promise<void>;
}

/** The CRI requests the streaming server serves (runtime.v1). */
export type {
  AttachRequest,
  AttachResponse,
  ExecRequest,
  ExecResponse,
  PortForwardRequest,
  PortForwardResponse,
} from '../../api/k8s/cri/runtime/v1/api.js';
