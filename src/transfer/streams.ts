import { alreadyExists, notFound } from '../core/errdefs/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import type { StreamManager, TransferStream } from '../core/transfer/index.js';

/**
 * The daemon's registry of open transfer streams (containerd's streaming
 * `manager` plugin), keyed by namespace and id. A stream leaves it when it
 * ends, from either side: the client closing or cancelling its Stream call
 * (a client that goes away leaves nothing behind), or the daemon closing it
 * once a transfer is done with it.
 */
export class StreamRegistry implements StreamManager {
  private readonly byNamespace = new Map<string, Map<string, TransferStream>>();

  register(ctx: OpContext, stream: TransferStream): void {
    const ns = ctx.namespace ?? '';
    let streams = this.byNamespace.get(ns);
    if (streams?.has(stream.id)) {
      throw alreadyExists(`stream ${JSON.stringify(stream.id)} in namespace ${JSON.stringify(ns)}`);
    }
    if (stream.ended.aborted) return;
    if (streams === undefined) {
      streams = new Map();
      this.byNamespace.set(ns, streams);
    }
    streams.set(stream.id, stream);
    stream.ended.addEventListener('abort', () => this.forget(ns, stream), { once: true });
  }

  get(ctx: OpContext, id: string): TransferStream {
    const ns = ctx.namespace ?? '';
    const stream = this.byNamespace.get(ns)?.get(id);
    if (stream === undefined) {
      throw notFound(`stream ${JSON.stringify(id)} in namespace ${JSON.stringify(ns)}`);
    }
    stream.claim?.();
    return stream;
  }

  /** Open streams, for tests and introspection. */
  get size(): number {
    let n = 0;
    for (const s of this.byNamespace.values()) n += s.size;
    return n;
  }

  private forget(ns: string, stream: TransferStream): void {
    const streams = this.byNamespace.get(ns);
    if (streams?.get(stream.id) !== stream) return;
    streams.delete(stream.id);
    if (streams.size === 0) this.byNamespace.delete(ns);
  }
}
