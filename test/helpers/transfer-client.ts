import { type ClientDuplexStream, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { StreamingClient } from '../../src/api/containerd/services/streaming/v1/streaming.js';
import { TransferClient } from '../../src/api/containerd/services/transfer/v1/transfer.js';
import type { Any } from '../../src/api/google/protobuf/any.js';
import { fromGrpcError } from '../../src/client/errors.js';
import type { StreamMessage, TransferRequest } from '../../src/core/transfer/index.js';
import {
  streamInitToAny,
  streamMessageFromAny,
  streamMessageToAny,
  transferRequestToProto,
  typeName,
} from '../../src/wire/transfer.js';

/**
 * The client side of containerd 1.7's transfer protocol as its Go client
 * speaks it (`transfer.go`, `pkg/transfer/streaming`, `pkg/transfer/proxy`),
 * over grpc-js: streams opened with StreamInit, archives sent within the
 * daemon's WindowUpdates, exports received with 64 KiB grants, progress and
 * credentials answered. For tests of berthd's Transfer service.
 */
export class TransferTestClient {
  private readonly streaming: StreamingClient;
  private readonly transferClient: TransferClient;

  constructor(
    socket: string,
    readonly namespace = 'default',
  ) {
    this.streaming = new StreamingClient(`unix:${socket}`, credentials.createInsecure());
    this.transferClient = new TransferClient(`unix:${socket}`, credentials.createInsecure());
  }

  private metadata(): Metadata {
    const md = new Metadata();
    md.set('containerd-namespace', this.namespace);
    return md;
  }

  /** Opens a stream and waits for the daemon's Empty answer, as containerd's streamCreator does. */
  async createStream(id: string): Promise<ClientStream> {
    const call = this.streaming.stream(this.metadata());
    const stream = new ClientStream(id, call);
    call.write(streamInitToAny(id));
    const first = await stream.recvAny();
    if (first === undefined) {
      throw (await stream.done) ?? new Error(`stream ${id}: ended before the daemon answered`);
    }
    if (typeName(first.typeUrl) !== 'google.protobuf.Empty') {
      throw new Error(`stream ${id}: first answer is ${first.typeUrl}, not google.protobuf.Empty`);
    }
    return stream;
  }

  transfer(req: TransferRequest): Promise<void> {
    return new Promise((resolve, reject) => {
      this.transferClient.transfer(transferRequestToProto(req), this.metadata(), (err) =>
        err ? reject(fromGrpcError(err)) : resolve(),
      );
    });
  }

  close(): void {
    this.streaming.close();
    this.transferClient.close();
  }
}

/** One Streaming call from the client's side. */
export class ClientStream {
  private readonly queue: Any[] = [];
  private waiting: (() => void) | undefined;
  private ended = false;
  private error: Error | undefined;
  /** Resolves with the call's end: undefined for OK, else the error. */
  readonly done: Promise<Error | undefined>;

  constructor(
    readonly id: string,
    readonly call: ClientDuplexStream<Any, Any>,
  ) {
    call.on('data', (a: Any) => {
      this.queue.push(a);
      this.wake();
    });
    this.done = new Promise((resolve) => {
      call.on('status', (s: { code: number; details: string }) => {
        if (s.code !== 0) this.error ??= fromGrpcError(s as ServiceError);
        this.ended = true;
        this.wake();
        resolve(this.error);
      });
      call.on('error', (err: ServiceError) => {
        this.error = fromGrpcError(err);
        this.ended = true;
        this.wake();
        resolve(this.error);
      });
    });
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  async recvAny(): Promise<Any | undefined> {
    for (;;) {
      const a = this.queue.shift();
      if (a !== undefined) return a;
      if (this.ended) return undefined;
      await new Promise<void>((r) => {
        this.waiting = r;
      });
    }
  }

  async recv(): Promise<StreamMessage | undefined> {
    const a = await this.recvAny();
    return a === undefined ? undefined : streamMessageFromAny(a);
  }

  send(m: StreamMessage): void {
    this.call.write(streamMessageToAny(m));
  }

  closeSend(): void {
    this.call.end();
  }

  cancel(): void {
    this.call.cancel();
  }
}

export interface SendStats {
  /** The most bytes ever sent beyond what the daemon had granted (0 when the window held). */
  overrun: number;
  messages: number;
  maxMessage: number;
}

/**
 * containerd's `SendStream`: waits for WindowUpdates and sends `data` as
 * Data messages of at most 32 KiB within the granted window, then
 * half-closes. Resolves once everything is sent. With `pauseAt`, once that
 * many bytes are sent it waits for `paused()` before going on.
 */
export async function sendStream(
  stream: ClientStream,
  data: Buffer,
  opts: { pauseAt?: number; paused?: () => Promise<void> } = {},
): Promise<SendStats> {
  const stats: SendStats = { overrun: 0, messages: 0, maxMessage: 0 };
  let remaining = 0;
  let off = 0;
  let pause = opts.pauseAt;
  while (off < data.length) {
    if (pause !== undefined && off >= pause) {
      pause = undefined;
      await opts.paused?.();
    }
    while (remaining <= 0) {
      const m = await stream.recv();
      if (m === undefined)
        throw new Error(`stream ${stream.id}: ended with ${data.length - off} bytes unsent`);
      if (m.kind === 'windowUpdate') remaining += m.update;
    }
    const n = Math.min(32 * 1024, remaining, data.length - off);
    stream.send({ kind: 'data', data: data.subarray(off, off + n) });
    stats.messages++;
    stats.maxMessage = Math.max(stats.maxMessage, n);
    remaining -= n;
    stats.overrun = Math.max(stats.overrun, -remaining);
    off += n;
  }
  stream.closeSend();
  return stats;
}

export interface ReceiveResult {
  data: Buffer;
  /** The most bytes ever received beyond the granted window (0 when the daemon kept to it). */
  overrun: number;
}

/**
 * containerd's `ReceiveStream`: before each Recv, grants 64 KiB when less
 * is outstanding, and "writes" each Data message (`writeMs` models a slow
 * disk) before the next grant, until the daemon ends the stream. `written`
 * counts the bytes written so far.
 */
export function receiveStream(
  stream: ClientStream,
  opts: { writeMs?: number } = {},
): { result: Promise<ReceiveResult>; written: () => number } {
  const chunks: Buffer[] = [];
  let written = 0;
  const result = (async () => {
    let window = 0;
    let overrun = 0;
    for (;;) {
      if (window < 64 * 1024) {
        stream.send({ kind: 'windowUpdate', update: 64 * 1024 });
        window += 64 * 1024;
      }
      const m = await stream.recv();
      if (m === undefined) break;
      if (m.kind !== 'data') continue;
      window -= m.data.length;
      overrun = Math.max(overrun, -window);
      if (opts.writeMs !== undefined) await new Promise((r) => setTimeout(r, opts.writeMs));
      chunks.push(Buffer.from(m.data));
      written += m.data.length;
    }
    return { data: Buffer.concat(chunks), overrun };
  })();
  return { result, written: () => written };
}

/** Collects what the daemon sends on a progress stream until it ends it. */
export async function collectProgress(
  stream: ClientStream,
): Promise<{ event: string; name: string; parents: string[]; progress: number; total: number }[]> {
  const out = [];
  for (;;) {
    const m = await stream.recv();
    if (m === undefined) return out;
    if (m.kind === 'progress') {
      out.push({
        event: m.progress.event,
        name: m.progress.name,
        parents: m.progress.parents ?? [],
        progress: m.progress.progress,
        total: m.progress.total,
      });
    }
  }
}

/** Answers every AuthRequest with `answer(host, reference)`, recording the requests. */
export function answerAuth(
  stream: ClientStream,
  answer: (host: string, reference: string) => StreamMessage,
): { host: string; reference: string }[] {
  const asked: { host: string; reference: string }[] = [];
  void (async () => {
    for (;;) {
      const m = await stream.recv();
      if (m === undefined) return;
      if (m.kind === 'authRequest') {
        asked.push({ host: m.host, reference: m.reference });
        stream.send(answer(m.host, m.reference));
      }
    }
  })();
  return asked;
}
