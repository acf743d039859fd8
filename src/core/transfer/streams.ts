import type { OpContext } from '../namespaces/index.js';
import type { Progress } from './index.js';

/**
 * What travels on a transfer stream (containerd's Streaming service), as the
 * domain sees the `containerd.types.transfer` messages the Anys carry.
 * `other` is a message of a type the daemon does not know.
 */
export type StreamMessage =
  | { kind: 'data'; data: Uint8Array }
  | { kind: 'windowUpdate'; update: number }
  | { kind: 'progress'; progress: Omit<Progress, 'desc'> }
  | { kind: 'authRequest'; host: string; reference: string; wwwAuthenticate: string[] }
  | {
      kind: 'authResponse';
      authType: AuthType;
      secret: string;
      username: string;
      /** Nanoseconds since the epoch; undefined when not given. */
      expireAt?: bigint;
    }
  | { kind: 'other'; typeUrl: string };

/** containerd's `AuthType`: what an `AuthResponse`'s secret is. */
export type AuthType = 'none' | 'credentials' | 'refresh' | 'header';

/**
 * One registered stream, from the daemon's side: it sends to and receives
 * from the client that opened it.
 */
export interface TransferStream {
  readonly id: string;
  /** Resolves once the message is on its way (back-pressure); rejects once the stream has ended. */
  send(msg: StreamMessage): Promise<void>;
  /**
   * The client's next message; undefined once the client has half-closed.
   * Rejects `canceled` when the client went away or the stream was closed.
   */
  recv(): Promise<StreamMessage | undefined>;
  /** Ends the stream (the client's call completes); idempotent. */
  close(): void;
  /** Aborts when the stream ends, from either side. */
  readonly ended: AbortSignal;
  /**
   * Called by the manager when a transfer takes the stream: from then on it
   * is in use, and a daemon that stops waits for it as for its transfer
   * (an unused stream ends at shutdown).
   */
  claim?(): void;
}

/**
 * Streams by id, per namespace (containerd's streaming manager). A stream
 * is registered once its client has opened it and is forgotten when it ends.
 */
export interface StreamManager {
  /** `already_exists` when the namespace has a stream of that id. */
  register(ctx: OpContext, stream: TransferStream): void;
  /** `not_found` when the namespace has no such stream. */
  get(ctx: OpContext, id: string): TransferStream;
}
