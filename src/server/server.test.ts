import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http2 from 'node:http2';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import {
  type CallOptions,
  Client,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import {
  ContentClient,
  ContentService,
  InfoRequest,
  InfoResponse,
  type ReadContentRequest,
  type ReadContentResponse,
  type StatusRequest,
  StatusResponse,
  WriteAction,
  WriteContentRequest,
  WriteContentResponse,
} from '../api/containerd/services/content/v1/content.js';
import {
  NamespacesClient,
  NamespacesService,
} from '../api/containerd/services/namespaces/v1/namespaces.js';
import { VersionService } from '../api/containerd/services/version/v1/version.js';
import { CODE_TO_KIND } from '../client/errors.js';
import { Client as BerthClient } from '../client/index.js';
import { ERROR_KINDS, type ErrorKind, kindOf, newError } from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import { KIND_TO_CODE } from './grpc-errors.js';
import { GrpcServer } from './server.js';
import { bidiStream, type GrpcService, serverStream, unary } from './service.js';

/**
 * The server layer against a real unix socket, with test services standing
 * in for real ones: namespace checks, error mapping, UNIMPLEMENTED.
 */
describe('GrpcServer', () => {
  let dir: TempDir;
  let server: GrpcServer;
  let socket: string;
  let lastNamespace: string | undefined;
  let lastLease: string | undefined;
  let throwKind: ErrorKind | undefined;

  before(async () => {
    dir = tempDir();
    socket = join(dir.path, 's', 'test.sock');
    server = new GrpcServer(
      {
        address: socket,
        uid: process.getuid?.() ?? 0,
        gid: process.getgid?.() ?? 0,
        log: nullLogger,
      },
      [
        {
          // A namespaced service: the header is checked before the handler.
          name: 'containerd.services.namespaces.v1.Namespaces',
          definition: NamespacesService,
          namespaced: true,
          handlers: {
            List: unary((ctx) => {
              lastNamespace = ctx.namespace;
              lastLease = ctx.lease;
              if (throwKind) throw newError(throwKind, `thing "x"`);
              return { namespaces: [] };
            }),
          },
        },
        {
          name: 'containerd.services.version.v1.Version',
          definition: VersionService,
          namespaced: false,
          handlers: {
            Version: unary(() => {
              throw new Error('boom');
            }),
          },
        },
      ],
    );
    await server.start();
  });
  after(async () => {
    await server.stop();
    dir.remove();
  });

  const list = (md: Record<string, string>) => {
    const c = new NamespacesClient(`unix:${socket}`, credentials.createInsecure());
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(md)) metadata.set(k, v);
    return new Promise<ServiceError | null>((resolve) => {
      c.list({ filter: '' }, metadata, (err) => {
        c.close();
        resolve(err);
      });
    });
  };

  it('requires the namespace header on namespaced services', async () => {
    const err = await list({});
    assert.equal(err?.code, status.FAILED_PRECONDITION);
    assert.equal(err?.details, 'namespace is required: failed precondition');
  });

  it('rejects an invalid namespace name', async () => {
    const err = await list({ 'containerd-namespace': 'not valid!' });
    assert.equal(err?.code, status.INVALID_ARGUMENT);
    assert.match(err?.details ?? '', /namespace validation: identifier "not valid!" must match/);
  });

  it('passes namespace and lease to the handler', async () => {
    assert.equal(await list({ 'containerd-namespace': 'ns1', 'containerd-lease': 'l1' }), null);
    assert.equal(lastNamespace, 'ns1');
    assert.equal(lastLease, 'l1');
  });

  it('maps every error kind to its code, and the client maps it back', async () => {
    const client = new BerthClient(socket, { namespace: 'ns1' });
    try {
      for (const kind of ERROR_KINDS) {
        throwKind = kind;
        const err = await client.namespaces.list().then(
          () => assert.fail('expected an error'),
          (e: unknown) => e as Error & { kind: ErrorKind },
        );
        const code = KIND_TO_CODE[kind];
        const back = CODE_TO_KIND[code];
        assert.equal(err.kind, back, `${kind} → ${status[code]} → ${back}`);
        assert.match(err.message, /^thing "x"/);
        // Only the kinds that share a code with another collapse.
        if (!['conflict', 'not_modified'].includes(kind)) assert.equal(back, kind);
      }
    } finally {
      throwKind = undefined;
      client.close();
    }
  });

  it('answers UNKNOWN for unclassified errors and UNIMPLEMENTED for missing methods', async () => {
    const client = new BerthClient(socket);
    try {
      await assert.rejects(client.version(), (e: Error & { kind: string }) => {
        return e.kind === 'unknown' && e.message === 'boom';
      });
      await assert.rejects(client.namespaces.get('x'), (e: Error & { kind: string }) => {
        return e.kind === 'not_implemented' && /Namespaces\/Get is not implemented/.test(e.message);
      });
      await assert.rejects(client.introspection.server(), (e: Error & { kind: string }) => {
        return e.kind === 'not_implemented';
      });
    } finally {
      client.close();
    }
  });

  it('holds calls that arrive between listen() and serve(), then answers them', async (t) => {
    const path = join(dir.path, 'early.sock');
    let served = false;
    const early = new GrpcServer({ address: path, log: nullLogger }, []);
    t.after(() => early.stop());
    await early.listen();
    const client = new BerthClient(path);
    t.after(() => client.close());
    const answer = client.version().then((v) => ({ v, servedFirst: served }));
    // The call is on its way and not refused; give it time to wait.
    await new Promise((r) => setTimeout(r, 200));
    served = true;
    early.serve([
      {
        name: 'containerd.services.version.v1.Version',
        definition: VersionService,
        namespaced: false,
        handlers: { Version: unary(() => ({ version: 'v-early', revision: 'r' })) },
      },
    ]);
    const { v, servedFirst } = await answer;
    assert.equal(servedFirst, true, 'answered only once serving');
    assert.equal(v.version, 'v-early');
  });

  it('refuses to start on a socket another server answers', async () => {
    const second = new GrpcServer({ address: socket, log: nullLogger }, []);
    await assert.rejects(second.start(), /a server is listening on it \(another daemon\?\)/);
  });
});

/** A promise with its resolve, made before the thing it waits for can happen. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Resolves with the signal's reason once it is aborted. */
function abortedWith(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(signal.reason), { once: true }),
  );
}

const MAX_RECV = 64 << 10;
const CHUNK = 256 << 10;
const MANY = 48;
const INFO_PATH = ContentService.info.path;

/** A raw HTTP/2 session to a unix socket; destroyed after the test. */
function rawSession(t: TestContext, socket: string): http2.ClientHttp2Session {
  const s = http2.connect('http://localhost', { createConnection: () => connect(socket) });
  s.on('error', () => {});
  t.after(() => s.destroy());
  return s;
}

interface RawAnswer {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  body: Buffer;
}

function rawRequest(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    const a: RawAnswer = { headers: {}, trailers: {}, body: Buffer.alloc(0) };
    const parts: Buffer[] = [];
    req.on('response', (h) => {
      a.headers = h;
    });
    req.on('trailers', (t) => {
      a.trailers = t;
    });
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('error', reject);
    req.on('close', () => {
      a.body = Buffer.concat(parts);
      resolve(a);
    });
    if (body !== undefined) req.end(body);
    else if (!req.writableEnded) req.end();
  });
}

/** The status of a gRPC answer, from its trailers or a trailers-only response. */
function grpcStatus(a: RawAnswer): { code: number; message: string | undefined } {
  const from = a.trailers['grpc-status'] !== undefined ? a.trailers : a.headers;
  const message = from['grpc-message'];
  return {
    code: Number(from['grpc-status']),
    message: message === undefined ? undefined : decodeURIComponent(String(message)),
  };
}

function grpcFrame(payload: Buffer, compressed = false): Buffer {
  const b = Buffer.alloc(5 + payload.length);
  b[0] = compressed ? 1 : 0;
  b.writeUInt32BE(payload.length, 1);
  payload.copy(b, 5);
  return b;
}

const infoRequest = (digest: string) =>
  Buffer.from(InfoRequest.encode(InfoRequest.fromPartial({ digest })).finish());

const grpcHeaders = (path: string, extra: http2.OutgoingHttpHeaders = {}) => ({
  ':method': 'POST',
  ':path': path,
  'content-type': 'application/grpc',
  te: 'trailers',
  ...extra,
});

/**
 * Calls of every shape through the whole stack: deadlines, cancellation,
 * refusals, compression, limits, back-pressure, shutdown.
 */
describe('GrpcServer calls', () => {
  let dir: TempDir;
  let server: GrpcServer;
  let socket: string;
  /** Set by a test before it starts a slow call. */
  let slowStarted = deferred();
  let slowAborted = deferred<unknown>();
  let readAborted = deferred();
  let waitStarted = deferred();
  let waitAborted = deferred();
  let sent = 0;

  const contentService = (): GrpcService => ({
    name: 'containerd.services.content.v1.Content',
    definition: ContentService,
    namespaced: false,
    handlers: {
      Info: unary(async (ctx, req: InfoRequest) => {
        if (req.digest === 'slow') {
          slowStarted.resolve();
          const reason = await abortedWith(ctx.signal);
          slowAborted.resolve(reason);
          throw reason;
        }
        return InfoResponse.fromPartial({
          info: { digest: req.digest.slice(0, 16), size: BigInt(req.digest.length) },
        });
      }),
      // A unary call that waits for what may never come, as Tasks.Wait.
      Status: unary(
        async (ctx, _req: StatusRequest) => {
          waitStarted.resolve();
          await abortedWith(ctx.signal);
          waitAborted.resolve();
          return StatusResponse.fromPartial({}); // too late: dropped
        },
        { endsAtShutdown: true },
      ),
      Read: serverStream(
        async (ctx, req: ReadContentRequest, send: (r: ReadContentResponse) => Promise<void>) => {
          if (req.digest === 'forever') {
            await send({ offset: 0n, data: Buffer.from('first') });
            await abortedWith(ctx.signal);
            readAborted.resolve();
            return;
          }
          for (let i = 0; i < MANY; i++) {
            await send({ offset: BigInt(i), data: Buffer.alloc(CHUNK, i) });
            sent = i + 1;
          }
        },
      ),
      Write: bidiStream(
        async (
          _ctx,
          requests: AsyncIterable<WriteContentRequest>,
          send: (r: WriteContentResponse) => Promise<void>,
        ) => {
          for await (const r of requests) {
            await send(
              WriteContentResponse.fromPartial({
                action: r.action,
                offset: r.offset,
                total: BigInt(r.data.length),
                digest: r.ref,
              }),
            );
          }
        },
      ),
    },
  });

  const startServer = async (path: string) => {
    const s = new GrpcServer(
      {
        address: path,
        uid: process.getuid?.() ?? 0,
        gid: process.getgid?.() ?? 0,
        maxRecvMessageSize: MAX_RECV,
        log: nullLogger,
      },
      [contentService()],
    );
    await s.start();
    return s;
  };

  before(async () => {
    dir = tempDir();
    socket = join(dir.path, 'calls.sock');
    server = await startServer(socket);
  });
  after(async () => {
    await server.stop();
    dir.remove();
  });

  const contentClient = (t: TestContext, options: Record<string, unknown> = {}) => {
    const c = new ContentClient(`unix:${socket}`, credentials.createInsecure(), options);
    t.after(() => c.close());
    return c;
  };

  const info = (c: ContentClient, digest: string, options: Partial<CallOptions> = {}) =>
    new Promise<{ err: ServiceError | null; res: InfoResponse | undefined }>((resolve) => {
      c.info({ digest }, new Metadata(), options, (err, res) => resolve({ err, res }));
    });

  it('answers DEADLINE_EXCEEDED when the deadline passes and aborts the handler', async (t) => {
    slowStarted = deferred();
    slowAborted = deferred();
    const c = contentClient(t);
    const { err } = await info(c, 'slow', { deadline: Date.now() + 200 });
    assert.equal(err?.code, status.DEADLINE_EXCEEDED);
    await slowAborted.promise;
  });

  it('ends a call whose grpc-timeout passes with its own DEADLINE_EXCEEDED', async (t) => {
    slowStarted = deferred();
    slowAborted = deferred();
    const a = await rawRequest(
      rawSession(t, socket),
      grpcHeaders(INFO_PATH, { 'grpc-timeout': '50m' }),
      grpcFrame(infoRequest('slow')),
    );
    assert.equal(a.headers[':status'], 200);
    assert.deepEqual(grpcStatus(a), {
      code: status.DEADLINE_EXCEEDED,
      message: 'Deadline exceeded',
    });
    assert.equal(kindOf(await slowAborted.promise), 'deadline_exceeded');
  });

  it('refuses a malformed grpc-timeout', async (t) => {
    const a = await rawRequest(
      rawSession(t, socket),
      grpcHeaders(INFO_PATH, { 'grpc-timeout': '1 second' }),
      grpcFrame(infoRequest('x')),
    );
    assert.deepEqual(grpcStatus(a), {
      code: status.INTERNAL,
      message: 'malformed grpc-timeout "1 second"',
    });
  });

  it('aborts the handler when the client cancels the call', async (t) => {
    slowStarted = deferred();
    slowAborted = deferred();
    const c = contentClient(t);
    const done = deferred<ServiceError | null>();
    const call = c.info({ digest: 'slow' }, (err) => done.resolve(err));
    await slowStarted.promise;
    call.cancel();
    assert.equal((await done.promise)?.code, status.CANCELLED);
    assert.equal(kindOf(await slowAborted.promise), 'canceled');
  });

  it('answers UNIMPLEMENTED in grpc-go words for unknown services and methods', async (t) => {
    const c = new Client(`unix:${socket}`, credentials.createInsecure());
    t.after(() => c.close());
    const call = (path: string) =>
      new Promise<ServiceError | null>((resolve) => {
        c.makeUnaryRequest(
          path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.alloc(0),
          (err) => resolve(err),
        );
      });
    const svc = await call('/nope.v1.Nope/Do');
    assert.equal(svc?.code, status.UNIMPLEMENTED);
    assert.equal(svc?.details, 'unknown service nope.v1.Nope');
    const method = await call('/containerd.services.content.v1.Content/Nope');
    assert.equal(method?.code, status.UNIMPLEMENTED);
    assert.equal(
      method?.details,
      'unknown method Nope for service containerd.services.content.v1.Content',
    );
  });

  it('answers HTTP 415 to a non-gRPC content-type and 405 to a GET', async (t) => {
    const session = rawSession(t, socket);
    const json = await rawRequest(
      session,
      grpcHeaders(INFO_PATH, { 'content-type': 'application/json' }),
      Buffer.from('{}'),
    );
    assert.equal(json.headers[':status'], 415);
    assert.equal(json.headers['grpc-status'], undefined);
    const get = await rawRequest(session, { ':method': 'GET', ':path': INFO_PATH });
    assert.equal(get.headers[':status'], 405);
    // The connection is still good.
    const ok = await rawRequest(session, grpcHeaders(INFO_PATH), grpcFrame(infoRequest('abc')));
    assert.equal(grpcStatus(ok).code, status.OK);
  });

  it('accepts a gzip-compressed request from grpc-js', async (t) => {
    const c = contentClient(t, { 'grpc.default_compression_algorithm': 2 });
    const digest = `sha256:${'ab'.repeat(20_000)}`;
    const { err, res } = await info(c, digest);
    assert.equal(err, null);
    assert.equal(res?.info?.size, BigInt(digest.length));
    assert.equal(res?.info?.digest, digest.slice(0, 16));
  });

  for (const [encoding, compress] of [
    ['gzip', gzipSync],
    ['deflate', deflateSync],
  ] as const) {
    it(`decompresses a ${encoding} message whose plain size is over the wire limit`, async (t) => {
      const digest = 'x'.repeat(MAX_RECV - 100);
      const packed = compress(infoRequest(digest));
      assert.ok(packed.length < 1000);
      const a = await rawRequest(
        rawSession(t, socket),
        grpcHeaders(INFO_PATH, { 'grpc-encoding': encoding }),
        grpcFrame(packed, true),
      );
      assert.equal(grpcStatus(a).code, status.OK);
      const res = InfoResponse.decode(a.body.subarray(5));
      assert.equal(res.info?.size, BigInt(digest.length));
    });
  }

  it('refuses a compressed request that inflates past the limit, and an unknown encoding', async (t) => {
    const session = rawSession(t, socket);
    const bomb = await rawRequest(
      session,
      grpcHeaders(INFO_PATH, { 'grpc-encoding': 'gzip' }),
      grpcFrame(gzipSync(infoRequest('x'.repeat(MAX_RECV + 10))), true),
    );
    assert.deepEqual(grpcStatus(bomb), {
      code: status.RESOURCE_EXHAUSTED,
      message: `grpc: received message after decompression larger than max (${MAX_RECV})`,
    });
    const snappy = await rawRequest(
      session,
      grpcHeaders(INFO_PATH, { 'grpc-encoding': 'snappy' }),
      grpcFrame(Buffer.from('whatever'), true),
    );
    assert.deepEqual(grpcStatus(snappy), {
      code: status.UNIMPLEMENTED,
      message: 'grpc: Decompressor is not installed for grpc-encoding "snappy"',
    });
    const ok = await rawRequest(session, grpcHeaders(INFO_PATH), grpcFrame(infoRequest('ok')));
    assert.equal(grpcStatus(ok).code, status.OK);
  });

  it('refuses a request over maxRecvMessageSize and keeps serving the connection', async (t) => {
    const big = 'y'.repeat(MAX_RECV + 10);
    const size = infoRequest(big).length;
    const c = contentClient(t);
    const { err } = await info(c, big);
    assert.equal(err?.code, status.RESOURCE_EXHAUSTED);
    assert.equal(err?.details, `grpc: received message larger than max (${size} vs. ${MAX_RECV})`);
    assert.equal((await info(c, 'after')).err, null);

    // On one HTTP/2 connection, certainly the same one: a larger body too.
    const session = rawSession(t, socket);
    const huge = await rawRequest(
      session,
      grpcHeaders(INFO_PATH),
      grpcFrame(infoRequest('z'.repeat(4 << 20))),
    );
    assert.equal(grpcStatus(huge).code, status.RESOURCE_EXHAUSTED);
    for (let i = 0; i < 3; i++) {
      const ok = await rawRequest(session, grpcHeaders(INFO_PATH), grpcFrame(infoRequest('ok')));
      assert.equal(grpcStatus(ok).code, status.OK);
    }
  });

  it('holds a server stream back to a slow reader, and every message arrives', async (t) => {
    sent = 0;
    const c = contentClient(t);
    const stream = c.read({ digest: 'many', offset: 0n, size: 0n });
    let received = 0;
    let maxAhead = 0;
    const done = deferred<{ code: number }>();
    stream.on('data', (m: ReadContentResponse) => {
      assert.equal(m.offset, BigInt(received));
      assert.equal(m.data.length, CHUNK);
      assert.ok(m.data.every((b) => b === received % 256));
      received++;
      maxAhead = Math.max(maxAhead, sent - received);
      // Read the next one only a few turns of the event loop later.
      stream.pause();
      setImmediate(() => setImmediate(() => stream.resume()));
    });
    stream.on('status', (s) => done.resolve(s));
    stream.on('error', () => {});
    assert.equal((await done.promise).code, status.OK);
    assert.equal(received, MANY);
    // Without back-pressure the handler would have sent all 48 (12 MiB)
    // before the client read the first.
    assert.ok(maxAhead <= 12, `the handler ran ${maxAhead} messages ahead of the reader`);
  });

  it('echoes a bidi stream: several requests, half-close, all answers', async (t) => {
    const c = contentClient(t);
    const call = c.write();
    const got: WriteContentResponse[] = [];
    const done = deferred<{ code: number }>();
    call.on('data', (m: WriteContentResponse) => got.push(m));
    call.on('status', (s) => done.resolve(s));
    call.on('error', () => {});
    for (let i = 0; i < 5; i++) {
      call.write(
        WriteContentRequest.fromPartial({
          action: WriteAction.WRITE,
          ref: `ref-${i}`,
          offset: BigInt(i * 10),
          data: Buffer.alloc(i * 1000, i),
        }),
      );
    }
    call.end();
    assert.equal((await done.promise).code, status.OK);
    assert.deepEqual(
      got.map((m) => [m.digest, m.offset, m.total]),
      [0, 1, 2, 3, 4].map((i) => [`ref-${i}`, BigInt(i * 10), BigInt(i * 1000)]),
    );
  });

  it('stop() ends server streams and waits with UNAVAILABLE and lets a bidi call finish within the grace', async (t) => {
    const path = join(dir.path, 'stop.sock');
    const s = await startServer(path);
    t.after(() => s.stop());
    readAborted = deferred();
    waitStarted = deferred();
    waitAborted = deferred();
    const c = new ContentClient(`unix:${path}`, credentials.createInsecure());
    t.after(() => c.close());

    const reader = c.read({ digest: 'forever', offset: 0n, size: 0n });
    const firstRead = deferred();
    const readStatus = deferred<{ code: number }>();
    reader.on('data', () => firstRead.resolve());
    reader.on('status', (st) => readStatus.resolve(st));
    reader.on('error', () => {});

    const writer = c.write();
    const echoes: string[] = [];
    const firstEcho = deferred();
    const writeStatus = deferred<{ code: number }>();
    writer.on('data', (m: WriteContentResponse) => {
      echoes.push(m.digest);
      firstEcho.resolve();
    });
    writer.on('status', (st) => writeStatus.resolve(st));
    writer.on('error', () => {});
    const req = (ref: string) =>
      WriteContentRequest.fromPartial({ action: WriteAction.WRITE, ref });
    writer.write(req('before'));
    const waitStatus = deferred<{ code: number; details: string }>();
    c.status({ ref: 'wait' }, (err) => waitStatus.resolve(err ?? { code: 0, details: '' }));
    await firstRead.promise;
    await firstEcho.promise;
    await waitStarted.promise;

    let stopped = false;
    const stopping = s.stop(5000).then(() => {
      stopped = true;
    });
    // The server stream is ended by the stop, its handler aborted.
    await readAborted.promise;
    assert.equal((await readStatus.promise).code, status.UNAVAILABLE);
    // So is the long unary wait: its handler aborted, its answer dropped.
    await waitAborted.promise;
    const ws = await waitStatus.promise;
    assert.equal(ws.code, status.UNAVAILABLE);
    assert.match(ws.details, /shutting down/);
    // The bidi call carries on.
    writer.write(req('during-1'));
    writer.write(req('during-2'));
    writer.end();
    assert.equal((await writeStatus.promise).code, status.OK);
    assert.deepEqual(echoes, ['before', 'during-1', 'during-2']);
    await stopping;
    assert.equal(stopped, true);
    assert.equal(existsSync(path), false, 'the socket file is removed');
  });
});
