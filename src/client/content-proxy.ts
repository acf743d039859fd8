import type { ClientDuplexStream, ServiceError } from '@grpc/grpc-js';
import {
  type ContentClient,
  ContentService,
  type Info as InfoPb,
  type InfoResponse,
  type ListContentResponse,
  type ListStatusesResponse,
  type StatusResponse,
  type UpdateResponse,
  WriteAction,
  WriteContentRequest,
  type WriteContentResponse,
} from '../api/containerd/services/content/v1/content.js';
import type {
  CommitOptions,
  ContentStore,
  Info,
  ReadOptions,
  Status,
  Writer,
  WriterOptions,
} from '../core/content/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { nowNanos } from '../core/time/index.js';
import { contentInfoFromProto, statusFromProto } from '../wire/content.js';
import { fromTimestamp } from '../wire/timestamp.js';
import { fromGrpcError } from './errors.js';
import { abortError, type Rpc } from './rpc.js';

/**
 * A {@link ContentStore} over containerd's Content gRPC service, driving
 * Write the way containerd's Go client does: STAT to open or resume, one
 * WRITE per chunk (each answered before the next), COMMIT.
 */
export class ContentProxy implements ContentStore {
  constructor(
    private readonly client: ContentClient,
    private readonly rpc: Rpc,
  ) {}

  async info(ctx: OpContext, digest: string): Promise<Info> {
    const res = await this.rpc.unary<InfoResponse>(ctx, (md, o, cb) =>
      this.client.info({ digest }, md, o, cb),
    );
    return infoFromWire(res.info);
  }

  async *read(ctx: OpContext, digest: string, opts: ReadOptions = {}): AsyncIterable<Buffer> {
    const stream = this.rpc.stream<{ data: Buffer }>(ctx, (md, o) =>
      this.client.read(
        { digest, offset: BigInt(opts.offset ?? 0), size: BigInt(opts.size ?? 0) },
        md,
        o,
      ),
    );
    for await (const msg of stream) yield msg.data;
  }

  async update(
    ctx: OpContext,
    info: Pick<Info, 'digest' | 'labels'>,
    fieldpaths?: readonly string[],
  ): Promise<Info> {
    const res = await this.rpc.unary<UpdateResponse>(ctx, (md, o, cb) =>
      this.client.update(
        {
          info: { digest: info.digest, size: 0n, labels: info.labels },
          ...(fieldpaths && { updateMask: [...fieldpaths] }),
        },
        md,
        o,
        cb,
      ),
    );
    return infoFromWire(res.info);
  }

  async list(ctx: OpContext, filters: readonly string[] = []): Promise<Info[]> {
    const out: Info[] = [];
    const stream = this.rpc.stream<ListContentResponse>(ctx, (md, o) =>
      this.client.list({ filters: [...filters] }, md, o),
    );
    for await (const msg of stream) for (const i of msg.info) out.push(contentInfoFromProto(i));
    return out;
  }

  async delete(ctx: OpContext, digest: string): Promise<void> {
    await this.rpc.unary(ctx, (md, o, cb) => this.client.delete({ digest }, md, o, cb));
  }

  async status(ctx: OpContext, ref: string): Promise<Status> {
    const res = await this.rpc.unary<StatusResponse>(ctx, (md, o, cb) =>
      this.client.status({ ref }, md, o, cb),
    );
    return statusFromWire(res.status);
  }

  async listStatuses(ctx: OpContext, filters: readonly string[] = []): Promise<Status[]> {
    const res = await this.rpc.unary<ListStatusesResponse>(ctx, (md, o, cb) =>
      this.client.listStatuses({ filters: [...filters] }, md, o, cb),
    );
    return res.statuses.map(statusFromWire);
  }

  async abort(ctx: OpContext, ref: string): Promise<void> {
    await this.rpc.unary(ctx, (md, o, cb) => this.client.abort({ ref }, md, o, cb));
  }

  async writer(ctx: OpContext, opts: WriterOptions): Promise<Writer> {
    await this.rpc.connected(ctx.signal);
    const call = this.client.makeBidiStreamRequest(
      ContentService.write.path,
      serializeWrite,
      ContentService.write.responseDeserialize,
      this.rpc.metadata(ctx),
    );
    const stream = new WriteStream(call, ctx.signal);
    try {
      const res = await stream.send({
        action: WriteAction.STAT,
        ref: opts.ref,
        total: BigInt(opts.total ?? 0),
        expected: opts.expected ?? '',
        offset: 0n,
        data: Buffer.alloc(0),
        labels: {},
      });
      return new ProxyWriter(stream, opts.ref, res);
    } catch (err) {
      stream.cancel();
      throw err;
    }
  }
}

class ProxyWriter implements Writer {
  private offset: number;
  private total: number;
  private readonly startedAt: bigint;
  private updatedAt: bigint;
  private lastDigest: string;

  constructor(
    private readonly stream: WriteStream,
    readonly ref: string,
    stat: WriteContentResponse,
  ) {
    this.offset = Number(stat.offset);
    this.total = Number(stat.total);
    this.startedAt = fromTimestamp(stat.startedAt);
    this.updatedAt = fromTimestamp(stat.updatedAt);
    this.lastDigest = stat.digest;
  }

  async status(): Promise<Status> {
    return {
      ref: this.ref,
      offset: this.offset,
      total: this.total,
      expected: '',
      startedAt: this.startedAt,
      updatedAt: this.updatedAt,
    };
  }

  async write(data: Buffer): Promise<void> {
    const res = await this.stream.send(
      request(WriteAction.WRITE, { offset: BigInt(this.offset), data }),
    );
    this.offset = Number(res.offset);
    this.lastDigest = res.digest;
    this.updatedAt = nowNanos();
  }

  async truncate(size: number): Promise<void> {
    if (size !== 0) throw new Error('only truncate(0) is supported');
    const res = await this.stream.send(request(WriteAction.WRITE, { offset: 0n }));
    this.offset = Number(res.offset);
    this.lastDigest = res.digest;
  }

  async commit(size: number, expected?: string, opts: CommitOptions = {}): Promise<string> {
    try {
      const res = await this.stream.send(
        request(WriteAction.COMMIT, {
          offset: BigInt(this.offset),
          total: BigInt(size),
          expected: expected ?? '',
          labels: opts.labels ?? {},
        }),
      );
      this.lastDigest = res.digest;
      return res.digest;
    } finally {
      await this.stream.end();
    }
  }

  digest(): string {
    return this.lastDigest;
  }

  /** Ends the stream and waits until the server has released the ref. */
  async close(): Promise<void> {
    await this.stream.end();
  }
}

/** One request, one response: the pairing containerd's Write protocol uses. */
class WriteStream {
  private readonly pending: { resolve(r: WriteContentResponse): void; reject(e: Error): void }[] =
    [];
  private failure: Error | undefined;
  private readonly finished: Promise<void>;

  constructor(
    private readonly call: ClientDuplexStream<WriteContentRequest, WriteContentResponse>,
    private readonly signal?: AbortSignal,
  ) {
    this.finished = new Promise((resolve) => call.on('status', () => resolve()));
    // An aborted operation cancels its write stream; the server keeps the ingest to resume.
    const onAbort = () => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    call.on('status', () => signal?.removeEventListener('abort', onAbort));
    call.on('data', (res: WriteContentResponse) => this.pending.shift()?.resolve(res));
    call.on('error', (err: ServiceError) => {
      this.failure = this.signal?.aborted ? abortError(this.signal, err) : fromGrpcError(err);
      for (const p of this.pending.splice(0)) p.reject(this.failure);
    });
    call.on('end', () => {
      const err = this.failure ?? new Error('write stream ended before the response');
      for (const p of this.pending.splice(0)) p.reject(err);
    });
  }

  send(req: WriteContentRequest): Promise<WriteContentResponse> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.call.write(req);
    });
  }

  /** Half-closes, then resolves once the call has its final status. */
  end(): Promise<void> {
    this.call.end();
    return this.finished;
  }

  cancel(): void {
    this.call.cancel();
  }
}

const NO_DATA = Buffer.alloc(0);
/** `data` is field 6, length-delimited: tag (6 << 3) | 2. */
const DATA_TAG = 0x32;

/**
 * Encodes a WriteContentRequest with its data copied once: the generated
 * serializer copies a 1 MiB WRITE's bytes three or more times (its writer
 * growing, `finish()`, `Buffer.from`). The other fields are encoded by the
 * generated code; `data` is appended after them (protobuf fields may come in
 * any order).
 */
export function serializeWrite(req: WriteContentRequest): Buffer {
  const rest = WriteContentRequest.encode({ ...req, data: NO_DATA }).finish();
  if (req.data.length === 0) return Buffer.from(rest.buffer, rest.byteOffset, rest.byteLength);
  let n = req.data.length;
  let varintLen = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    varintLen++;
  }
  const out = Buffer.allocUnsafe(rest.length + 1 + varintLen + req.data.length);
  out.set(rest, 0);
  let at = rest.length;
  out[at++] = DATA_TAG;
  for (n = req.data.length; n >= 0x80; n = Math.floor(n / 0x80)) out[at++] = (n & 0x7f) | 0x80;
  out[at++] = n;
  req.data.copy(out, at);
  return out;
}

function request(action: WriteAction, fields: Partial<WriteContentRequest>): WriteContentRequest {
  return {
    action,
    ref: '',
    total: 0n,
    expected: '',
    offset: 0n,
    data: Buffer.alloc(0),
    labels: {},
    ...fields,
  };
}

function infoFromWire(i: InfoPb | undefined): Info {
  if (!i) throw new Error('response without info');
  return contentInfoFromProto(i);
}

function statusFromWire(s: StatusResponse['status']): Status {
  if (!s) throw new Error('response without status');
  return statusFromProto(s);
}
