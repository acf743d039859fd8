/**
 * @module
 * A pull done by the daemon (containerd 1.7's Transfer service, which
 * berthd serves too): the client names the reference and the image store,
 * and takes part only through two Streaming streams, one for progress and
 * one on which the daemon asks for credentials.
 */
import { randomBytes } from 'node:crypto';
import type { ClientDuplexStream, ServiceError } from '@grpc/grpc-js';
import type { Any } from '../api/google/protobuf/any.js';
import { unavailable } from '../core/errdefs/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { normalizeReference } from '../core/reference/index.js';
import type { StreamMessage } from '../core/transfer/index.js';
import {
  streamInitToAny,
  streamMessageFromAny,
  streamMessageToAny,
  TYPE,
  transferRequestToProto,
  typeName,
} from '../wire/transfer.js';
import type { Client } from './client.js';
import { DEFAULT_SNAPSHOTTER } from './container-opts.js';
import { fromGrpcError } from './errors.js';
import { Image } from './image.js';
import { credentialsFn, type PullOpts, platformOf } from './image-ops.js';
import { abortError } from './rpc.js';

export async function remotePull(client: Client, ref: string, opts: PullOpts): Promise<Image> {
  const ctx = client.context(opts.signal);
  const platform = platformOf(opts.platform);
  const name = normalizeReference(ref);
  const id = `${Date.now()}-${randomBytes(4).toString('hex')}`;
  const streams: TransferStreamClient[] = [];
  try {
    let progressStream = '';
    if (opts.onProgress !== undefined) {
      const onProgress = opts.onProgress;
      progressStream = `progress-${id}`;
      streams.push(
        await TransferStreamClient.open(client, ctx, progressStream, (m) => {
          if (m.kind === 'progress') onProgress(m.progress);
        }),
      );
    }
    let authStream = '';
    if (opts.credentials !== undefined) {
      const creds = credentialsFn(ref, opts.credentials);
      authStream = `auth-${id}`;
      const s: TransferStreamClient = await TransferStreamClient.open(
        client,
        ctx,
        authStream,
        async (m) => {
          if (m.kind !== 'authRequest') return;
          const c = await creds(m.host).catch(() => undefined);
          s.send(
            c === undefined
              ? { kind: 'authResponse', authType: 'none', secret: '', username: '' }
              : c.header !== undefined && c.header !== ''
                ? { kind: 'authResponse', authType: 'header', secret: c.header, username: '' }
                : {
                    kind: 'authResponse',
                    authType: c.username === '' ? 'refresh' : 'credentials',
                    secret: c.secret,
                    username: c.username,
                  },
          );
        },
      );
      streams.push(s);
    }
    const request = transferRequestToProto({
      source: {
        kind: 'registry',
        reference: ref,
        authStream,
        headers: { ...opts.headers },
        // containerd 2.0's fields: the daemon reads this hosts.toml directory.
        hostDir: opts.hostsDir ?? '',
        defaultScheme: opts.plainHttp === true ? 'http' : '',
      },
      destination: {
        kind: 'imageStore',
        name,
        labels: { ...opts.labels },
        platforms: opts.allPlatforms ? [] : [platform],
        allMetadata: false,
        manifestLimit: 0,
        extraReferences: [],
        unpacks:
          opts.unpack === true
            ? [{ platform, snapshotter: opts.snapshotter ?? DEFAULT_SNAPSHOTTER }]
            : [],
      },
      progressStream,
    });
    await client.connection.rpc.unary(ctx, (md, o, cb) =>
      client.connection.transfer.transfer(request, md, o, cb),
    );
  } finally {
    for (const s of streams) s.close();
  }
  const record = await client.imageService().get(client.context(opts.signal), name);
  return new Image(client, record, platform);
}

/**
 * The client's end of one Streaming call: `StreamInit{id}` first, the
 * daemon's `Empty` answer, then messages both ways until closed.
 */
class TransferStreamClient {
  private constructor(private readonly call: ClientDuplexStream<Any, Any>) {}

  static async open(
    client: Client,
    ctx: OpContext,
    id: string,
    onMessage: (m: StreamMessage) => void | Promise<void>,
  ): Promise<TransferStreamClient> {
    await client.connection.rpc.connected(ctx.signal);
    const call = client.connection.streaming.stream(client.connection.rpc.metadata(ctx));
    const s = new TransferStreamClient(call);
    const onAbort = () => call.cancel();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    call.on('close', () => ctx.signal.removeEventListener('abort', onAbort));
    await new Promise<void>((resolve, reject) => {
      let initialized = false;
      call.on('data', (a: Any) => {
        if (!initialized) {
          initialized = true;
          if (typeName(a.typeUrl) === TYPE.empty) resolve();
          else reject(unavailable(`stream ${id}: the daemon answered ${a.typeUrl} to its init`));
          return;
        }
        void Promise.resolve(onMessage(streamMessageFromAny(a))).catch(() => undefined);
      });
      call.on('error', (err: ServiceError) => {
        if (!initialized) {
          initialized = true;
          reject(ctx.signal.aborted ? abortError(ctx.signal, err) : fromGrpcError(err));
        }
      });
      call.write(streamInitToAny(id));
    });
    return s;
  }

  send(m: StreamMessage): void {
    this.call.write(streamMessageToAny(m));
  }

  close(): void {
    this.call.end();
    // The daemon ends its side when the transfer is done; do not wait for it.
    setTimeout(() => this.call.cancel(), 1_000).unref();
  }
}
