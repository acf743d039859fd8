import { StreamingService } from '../../api/containerd/services/streaming/v1/streaming.js';
import type { Any } from '../../api/google/protobuf/any.js';
import { canceled, unavailable } from '../../core/errdefs/index.js';
import type { StreamManager, StreamMessage, TransferStream } from '../../core/transfer/index.js';
import { bidiStream, type GrpcService } from '../../server/service.js';
import {
  emptyAny,
  streamInitFromAny,
  streamMessageFromAny,
  streamMessageToAny,
} from '../../wire/transfer.js';

/**
 * containerd.services.streaming.v1.Streaming: a client opens a stream with
 * `StreamInit{id}`, the stream is registered under that id in the call's
 * namespace, and the server answers `google.protobuf.Empty`; from then on
 * a transfer that names the id sends and receives on it. The call ends when
 * the daemon closes the stream (its transfer is done with it) or the client
 * goes away, which also forgets the stream.
 *
 * When the daemon stops, a stream no transfer has taken (opened, never
 * used, or its first message still awaited) ends at once with UNAVAILABLE,
 * so it does not hold the shutdown for its grace period; a stream a
 * transfer uses goes on until that transfer is done with it.
 *
 * Not namespaced, as containerd's: a call without a namespace registers in
 * the empty one.
 */
export function streamingService(manager: StreamManager): GrpcService {
  return {
    name: 'containerd.services.streaming.v1.Streaming',
    definition: StreamingService,
    namespaced: false,
    handlers: {
      Stream: bidiStream(
        async (
          ctx,
          requests: AsyncIterable<Any>,
          send: (a: Any) => Promise<void>,
          stopping: AbortSignal,
        ) => {
          const it = requests[Symbol.asyncIterator]();
          const first = await untilStopping(it.next(), stopping);
          if (first === undefined) throw shuttingDown('');
          if (first.done === true) return;
          const stream = new CallStream(streamInitFromAny(first.value), it, send, ctx.signal);
          const stop = () => stream.endIfUnused();
          stopping.addEventListener('abort', stop, { once: true });
          try {
            manager.register(ctx, stream);
            await send(emptyAny());
            if (stopping.aborted) stop();
            await ended(stream.ended);
            if (stream.endedUnused) throw shuttingDown(stream.id);
          } finally {
            stopping.removeEventListener('abort', stop);
            stream.close();
          }
        },
      ),
    },
  };
}

function shuttingDown(id: string) {
  return unavailable(
    `berthd is shutting down: stream${id === '' ? '' : ` ${JSON.stringify(id)}`} not in use by a transfer`,
  );
}

/** `p`'s value, or undefined once `stopping` aborts first. */
async function untilStopping<T>(p: Promise<T>, stopping: AbortSignal): Promise<T | undefined> {
  if (stopping.aborted) return undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined);
    stopping.addEventListener('abort', onAbort, { once: true });
  });
  p.catch(() => {});
  try {
    return await Promise.race([p, stop]);
  } finally {
    if (onAbort !== undefined) stopping.removeEventListener('abort', onAbort);
  }
}

/** A Stream call as a {@link TransferStream}: messages decoded and encoded at the edge. */
class CallStream implements TransferStream {
  private readonly ctl = new AbortController();
  readonly ended = this.ctl.signal;
  private claimed = false;
  /** Ended by a daemon shutdown before any transfer took it. */
  endedUnused = false;

  constructor(
    readonly id: string,
    private readonly requests: AsyncIterator<Any>,
    private readonly sendAny: (a: Any) => Promise<void>,
    call: AbortSignal,
  ) {
    if (call.aborted) this.close();
    else call.addEventListener('abort', () => this.close(), { once: true });
  }

  /** Settles when the message is handed on, or rejects once the stream ends (a client not reading holds no one). */
  send(msg: StreamMessage): Promise<void> {
    if (this.ended.aborted) return Promise.reject(this.endedError());
    return this.untilEnded(this.sendAny(streamMessageToAny(msg)));
  }

  async recv(): Promise<StreamMessage | undefined> {
    if (this.ended.aborted) throw this.endedError();
    const r = await this.untilEnded(this.requests.next());
    return r.done === true ? undefined : streamMessageFromAny(r.value);
  }

  private async untilEnded<T>(p: Promise<T>): Promise<T> {
    let onAbort: (() => void) | undefined;
    const stop = new Promise<never>((_, reject) => {
      onAbort = () => reject(this.endedError());
      this.ended.addEventListener('abort', onAbort, { once: true });
    });
    // The call may settle `p` after the stream has ended.
    p.catch(() => {});
    try {
      return await Promise.race([p, stop]);
    } finally {
      if (onAbort !== undefined) this.ended.removeEventListener('abort', onAbort);
    }
  }

  close(): void {
    this.ctl.abort();
  }

  claim(): void {
    this.claimed = true;
  }

  /** At shutdown: ends the stream unless a transfer has taken it. */
  endIfUnused(): void {
    if (this.claimed || this.ended.aborted) return;
    this.endedUnused = true;
    this.close();
  }

  private endedError(): Error {
    return canceled(`stream ${JSON.stringify(this.id)} has ended`);
  }
}

function ended(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(), { once: true }),
  );
}
