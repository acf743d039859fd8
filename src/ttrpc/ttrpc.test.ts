import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { Request, Response } from '../api/ttrpc/ttrpc.js';
import {
  ERROR_KINDS,
  type ErrorKind,
  KIND_TO_STATUS_CODE,
  newError,
  notFound,
  StatusCode,
} from '../core/errdefs/index.js';
import { type Logger, nullLogger } from '../core/log/index.js';
import { encodeFrame, type Frame, FrameDecoder, MAX_MESSAGE_LENGTH, MessageType } from './frame.js';
import { TtrpcClient, type TtrpcHandler, type TtrpcRequestContext, TtrpcServer } from './index.js';

const SERVICE = 'berth.test.Echo';
const text = (s: string): Buffer => Buffer.from(s);
const str = (b: Uint8Array): string => Buffer.from(b).toString();

interface Logged {
  level: string;
  obj: unknown;
  msg: string | undefined;
}

function recordingLogger(into: Logged[]): Logger {
  const at =
    (level: string) =>
    (obj: object | string, msg?: string): void => {
      into.push(typeof obj === 'string' ? { level, obj: {}, msg: obj } : { level, obj, msg });
    };
  const log: Logger = {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => log,
  };
  return log;
}

type Thrown = Error & { kind: ErrorKind };

async function rejection(p: Promise<unknown>): Promise<Thrown> {
  return p.then(
    () => assert.fail('expected the call to fail'),
    (err: unknown) => err as Thrown,
  );
}

/** Raw connections still open; destroyed after each test, whether it passed or not. */
const openPeers = new Set<Socket>();

/** A connection that speaks raw frames, to send what our client never would. */
class RawPeer {
  private readonly decoder = new FrameDecoder();
  private readonly frames: Frame[] = [];
  private waiter: (() => void) | undefined;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.frames.push(...this.decoder.push(chunk));
      this.waiter?.();
    });
  }

  static async connect(path: string): Promise<RawPeer> {
    const socket = connect(path);
    openPeers.add(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawPeer(socket);
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  async next(timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (Date.now() > deadline) assert.fail('no frame arrived');
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 50);
      });
    }
    const frame = this.frames.shift();
    assert.ok(frame);
    return frame;
  }

  async response(): Promise<{ streamId: number; response: Response }> {
    const frame = await this.next();
    assert.equal(frame.header.type, MessageType.RESPONSE);
    assert.ok(!frame.oversize);
    return { streamId: frame.header.streamId, response: Response.decode(frame.payload) };
  }
}

function requestFrame(
  streamId: number,
  service: string,
  method: string,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const bytes = Request.encode({
    service,
    method,
    payload,
    timeoutNano: 0n,
    metadata: [],
  }).finish();
  return encodeFrame(streamId, MessageType.REQUEST, bytes);
}

describe('ttrpc client and server', () => {
  let dir: TempDir;
  let socket: string;
  let server: TtrpcServer;
  let logged: Logged[];
  let client: TtrpcClient | undefined;
  /** What handlers saw, for assertions. */
  let seen: TtrpcRequestContext[];
  let throwWith: unknown;

  before(() => {
    dir = tempDir();
  });
  after(() => dir.remove());

  beforeEach(async () => {
    logged = [];
    seen = [];
    socket = join(dir.path, `ttrpc-${Math.random().toString(36).slice(2)}.sock`);
    server = new TtrpcServer({ log: recordingLogger(logged) });
    server.register(SERVICE, 'Echo', async (payload, ctx) => {
      seen.push(ctx);
      return payload;
    });
    server.register(SERVICE, 'Delay', async (payload, ctx) => {
      seen.push(ctx);
      await sleep(Number(str(payload)));
      return payload;
    });
    server.register(SERVICE, 'Fail', async () => {
      throw throwWith;
    });
    server.register(SERVICE, 'Hang', (_payload, ctx) => {
      seen.push(ctx);
      return new Promise((_resolve, reject) => {
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
      });
    });
    server.register(SERVICE, 'Size', async (payload) => Buffer.alloc(Number(str(payload)), 1));
    await server.listen(socket);
  });

  afterEach(async () => {
    client?.close();
    client = undefined;
    for (const peer of openPeers) peer.destroy();
    openPeers.clear();
    await server.close();
  });

  it('calls a method and passes metadata, deadline and names', async () => {
    client = await TtrpcClient.connect(`unix://${socket}`);
    const started = Date.now();
    const out = await client.call(SERVICE, 'Echo', text('ping'), {
      metadata: { 'Containerd-Namespace': 'ns1', multi: ['a', 'b'] },
      timeoutMs: 5000,
    });
    assert.equal(str(out), 'ping');
    const [ctx] = seen;
    assert.ok(ctx);
    assert.equal(ctx.service, SERVICE);
    assert.equal(ctx.method, 'Echo');
    assert.deepEqual(
      [...ctx.metadata],
      [
        ['containerd-namespace', ['ns1']],
        ['multi', ['a', 'b']],
      ],
    );
    assert.ok(ctx.deadline !== undefined);
    assert.ok(
      ctx.deadline >= started + 4900 && ctx.deadline <= Date.now() + 5000,
      `${ctx.deadline}`,
    );
    assert.equal(ctx.signal.aborted, false);

    const empty = await client.call(SERVICE, 'Echo', new Uint8Array(0));
    assert.equal(empty.length, 0);
    assert.equal(seen[1]?.deadline, undefined);
    assert.equal(seen[1]?.metadata.size, 0);
  });

  it('runs calls concurrently on one connection and matches answers by stream id', async () => {
    client = await TtrpcClient.connect(socket);
    const delays = [300, 200, 100, 0];
    const order: number[] = [];
    const results = await Promise.all(
      delays.map((ms) =>
        client?.call(SERVICE, 'Delay', text(String(ms))).then((out) => {
          order.push(ms);
          return str(out);
        }),
      ),
    );
    assert.deepEqual(results, ['300', '200', '100', '0']);
    assert.deepEqual(order, [0, 100, 200, 300], 'answered out of order');
  });

  it('maps every error kind to its status code and back, keeping the message', async () => {
    client = await TtrpcClient.connect(socket);
    for (const kind of ERROR_KINDS) {
      throwWith = newError(kind, 'thing "x"');
      const err = await rejection(client.call(SERVICE, 'Fail', text('')));
      const collapsed =
        kind === 'conflict' || kind === 'not_modified' ? 'failed_precondition' : kind;
      assert.equal(err.kind, collapsed, kind);
      assert.match(err.message, /^thing "x"/);
    }
    throwWith = notFound('container "x"');
    const err = await rejection(client.call(SERVICE, 'Fail', text('')));
    assert.equal(err.kind, 'not_found');
    assert.equal(err.message, 'container "x": not found');
  });

  it('sends the status code and message containerd would', async () => {
    const peer = await RawPeer.connect(socket);
    throwWith = notFound('container "x"');
    peer.send(requestFrame(1, SERVICE, 'Fail'));
    const { streamId, response } = await peer.response();
    assert.equal(streamId, 1);
    assert.equal(response.status?.code, KIND_TO_STATUS_CODE.not_found);
    assert.equal(response.status?.message, 'container "x": not found');
    peer.socket.destroy();
  });

  it('answers unclassified errors UNKNOWN and logs them', async () => {
    client = await TtrpcClient.connect(socket);
    throwWith = new Error('disk on fire');
    const err = await rejection(client.call(SERVICE, 'Fail', text('')));
    assert.equal(err.kind, 'unknown');
    assert.equal(err.message, 'disk on fire');
    assert.ok(
      logged.some((l) => l.level === 'error' && (l.obj as { err?: unknown }).err === throwWith),
    );
  });

  it('answers internal when a handler returns something other than bytes', async () => {
    server.register(SERVICE, 'Bad', (async () => 'text') as unknown as TtrpcHandler);
    client = await TtrpcClient.connect(socket);
    const err = await rejection(client.call(SERVICE, 'Bad', text('')));
    assert.equal(err.kind, 'internal');
    assert.match(err.message, /Bad.*answered string, not bytes/);
  });

  it('answers not_implemented for an unknown service or method, as Go ttrpc words it', async () => {
    client = await TtrpcClient.connect(socket);
    const svc = await rejection(client.call('no.such.Service', 'Echo', text('')));
    assert.equal(svc.kind, 'not_implemented');
    assert.equal(svc.message, 'service no.such.Service');
    const method = await rejection(client.call(SERVICE, 'Nope', text('')));
    assert.equal(method.kind, 'not_implemented');
    assert.equal(method.message, 'method Nope');
  });

  it('fails a call whose timeout passes and aborts the handler with a TimeoutError', async () => {
    client = await TtrpcClient.connect(socket);
    const started = Date.now();
    const err = await rejection(client.call(SERVICE, 'Hang', text(''), { timeoutMs: 100 }));
    assert.equal(err.kind, 'deadline_exceeded');
    assert.match(err.message, /Hang.*no answer within 100 ms/);
    assert.ok(Date.now() - started >= 95);
    const [ctx] = seen;
    assert.ok(ctx);
    // The server enforces the same timeout from timeout_nano.
    for (let i = 0; i < 50 && !ctx.signal.aborted; i++) await sleep(10);
    assert.equal(ctx.signal.aborted, true);
    assert.equal((ctx.signal.reason as Error).name, 'TimeoutError');
    // The late answer is dropped and the connection still works.
    assert.equal(str(await client.call(SERVICE, 'Echo', text('still here'))), 'still here');
  });

  it('refuses bad timeouts before sending', async () => {
    client = await TtrpcClient.connect(socket);
    assert.equal(
      (await rejection(client.call(SERVICE, 'Echo', text(''), { timeoutMs: 0 }))).kind,
      'deadline_exceeded',
    );
    assert.equal(
      (await rejection(client.call(SERVICE, 'Echo', text(''), { timeoutMs: Number.NaN }))).kind,
      'invalid_argument',
    );
    assert.equal(
      (await rejection(client.call(SERVICE, 'Echo', text(''), { timeoutMs: 2 ** 40 }))).kind,
      'invalid_argument',
    );
    assert.equal((await rejection(client.call('', 'Echo', text('')))).kind, 'invalid_argument');
    assert.equal(seen.length, 0);
  });

  it('cancels a call when its signal aborts, and the server still answers others', async () => {
    client = await TtrpcClient.connect(socket);
    const ac = new AbortController();
    const pending = client.call(SERVICE, 'Hang', text(''), { signal: ac.signal });
    await sleep(20);
    ac.abort();
    assert.equal((await rejection(pending)).kind, 'canceled');
    const pre = AbortSignal.abort(new DOMException('late', 'TimeoutError'));
    assert.equal(
      (await rejection(client.call(SERVICE, 'Echo', text(''), { signal: pre }))).kind,
      'deadline_exceeded',
    );
    assert.equal(str(await client.call(SERVICE, 'Echo', text('ok'))), 'ok');
  });

  it('fails pending calls with unavailable when the server goes away, and later calls too', async () => {
    client = await TtrpcClient.connect(socket);
    const pending = client.call(SERVICE, 'Hang', text(''));
    await sleep(20);
    await server.close();
    const err = await rejection(pending);
    assert.equal(err.kind, 'unavailable');
    assert.match(err.message, /Hang.*connection closed/);
    await client.closed;
    assert.equal(client.isClosed, true);
    assert.equal((await rejection(client.call(SERVICE, 'Echo', text('')))).kind, 'unavailable');
    assert.equal(seen[0]?.signal.aborted, true, 'the handler saw the connection end');
  });

  it('close() fails pending calls with unavailable', async () => {
    client = await TtrpcClient.connect(socket);
    const pending = client.call(SERVICE, 'Hang', text(''));
    await sleep(20);
    assert.equal(client.isClosed, false);
    client.close();
    assert.equal((await rejection(pending)).kind, 'unavailable');
    await client.closed;
    for (let i = 0; i < 50 && !seen[0]?.signal.aborted; i++) await sleep(10);
    assert.equal(seen[0]?.signal.aborted, true);
    assert.equal((seen[0]?.signal.reason as Error | undefined)?.name, 'AbortError');
  });

  it('refuses an oversize request before sending it', async () => {
    client = await TtrpcClient.connect(socket);
    const err = await rejection(client.call(SERVICE, 'Echo', Buffer.alloc(MAX_MESSAGE_LENGTH)));
    assert.equal(err.kind, 'resource_exhausted');
    assert.match(err.message, /request of \d+ bytes exceeds the maximum message size of 4194304/);
    assert.equal(seen.length, 0);
    // Just under the limit, envelope included, goes through.
    const fits = Buffer.alloc(MAX_MESSAGE_LENGTH - 64, 2);
    assert.equal((await client.call(SERVICE, 'Echo', fits)).length, fits.length);
  });

  it('answers an oversize response with RESOURCE_EXHAUSTED instead of sending it', async () => {
    client = await TtrpcClient.connect(socket);
    const err = await rejection(client.call(SERVICE, 'Size', text(String(MAX_MESSAGE_LENGTH))));
    assert.equal(err.kind, 'resource_exhausted');
    assert.match(err.message, /response of \d+ bytes exceeds the maximum message size/);
    assert.equal((await client.call(SERVICE, 'Size', text('10'))).length, 10);
  });

  it('answers an oversize frame on its stream after skipping it, and stays in step', async () => {
    const peer = await RawPeer.connect(socket);
    const big = encodeFrame(3, MessageType.REQUEST, Buffer.alloc(MAX_MESSAGE_LENGTH + 1));
    // In pieces, as a socket would deliver it.
    for (let i = 0; i < big.length; i += 100_000) peer.send(big.subarray(i, i + 100_000));
    peer.send(requestFrame(5, SERVICE, 'Echo', text('next')));
    const first = await peer.response();
    assert.equal(first.streamId, 3);
    assert.equal(first.response.status?.code, StatusCode.RESOURCE_EXHAUSTED);
    assert.equal(
      first.response.status?.message,
      `message length ${MAX_MESSAGE_LENGTH + 1} exceed maximum message size of ${MAX_MESSAGE_LENGTH}`,
    );
    const second = await peer.response();
    assert.equal(second.streamId, 5);
    assert.equal(second.response.status, undefined);
    assert.equal(str(second.response.payload), 'next');
    peer.socket.destroy();
  });

  it('answers protocol errors as Go ttrpc does and ignores frames of other types', async () => {
    const peer = await RawPeer.connect(socket);
    peer.send(encodeFrame(1, MessageType.DATA, text('stream data')));
    peer.send(encodeFrame(1, 0x7f, text('future')));
    peer.send(requestFrame(2, SERVICE, 'Echo', text('even')));
    peer.send(encodeFrame(3, MessageType.REQUEST, Buffer.from([0x0a, 0xff])));
    peer.send(requestFrame(5, SERVICE, 'Echo', text('fine')));

    const even = await peer.response();
    assert.equal(even.streamId, 2);
    assert.equal(even.response.status?.code, StatusCode.INVALID_ARGUMENT);
    assert.equal(
      even.response.status?.message,
      'StreamID must be odd for client initiated streams',
    );
    const garbage = await peer.response();
    assert.equal(garbage.streamId, 3);
    assert.equal(garbage.response.status?.code, StatusCode.INVALID_ARGUMENT);
    assert.match(garbage.response.status?.message ?? '', /^unmarshal request error: /);
    const fine = await peer.response();
    assert.equal(fine.streamId, 5);
    assert.equal(str(fine.response.payload), 'fine');
    peer.socket.destroy();
  });

  describe('against a hand-written peer', () => {
    let raw: Server;
    let rawSocket: string;
    let onRequest: (conn: Socket, frame: Frame) => void;

    beforeEach(async () => {
      rawSocket = join(dir.path, `raw-${Math.random().toString(36).slice(2)}.sock`);
      raw = createServer((conn) => {
        const decoder = new FrameDecoder();
        conn.on('data', (chunk: Buffer) => {
          for (const frame of decoder.push(chunk)) onRequest(conn, frame);
        });
        conn.on('error', () => {});
      });
      await new Promise<void>((resolve) => raw.listen(rawSocket, resolve));
    });
    afterEach(async () => {
      client?.close();
      client = undefined;
      await new Promise<void>((resolve) => raw.close(() => resolve()));
    });

    const answer = (conn: Socket, id: number, payload: string): void => {
      conn.write(
        encodeFrame(id, MessageType.RESPONSE, Response.encode({ payload: text(payload) }).finish()),
      );
    };

    it('uses odd stream ids and sends timeout_nano', async () => {
      const requests: { id: number; req: Request }[] = [];
      onRequest = (conn, frame) => {
        assert.ok(!frame.oversize);
        const req = Request.decode(frame.payload);
        requests.push({ id: frame.header.streamId, req });
        answer(conn, frame.header.streamId, req.method);
      };
      client = await TtrpcClient.connect(rawSocket);
      assert.equal(str(await client.call('s', 'a', text(''))), 'a');
      assert.equal(str(await client.call('s', 'b', text(''), { timeoutMs: 1500 })), 'b');
      assert.deepEqual(
        requests.map((r) => r.id),
        [1, 3],
      );
      assert.equal(requests[0]?.req.timeoutNano, 0n);
      assert.equal(requests[1]?.req.timeoutNano, 1_500_000_000n);
    });

    it('fails only the call whose response is oversize, ignores unknown frames, and stays in step', async () => {
      onRequest = (conn, frame) => {
        assert.ok(!frame.oversize);
        const { streamId } = frame.header;
        const req = Request.decode(frame.payload);
        if (req.method === 'big') {
          conn.write(encodeFrame(streamId, MessageType.DATA, text('ignored')));
          conn.write(
            encodeFrame(
              99,
              MessageType.RESPONSE,
              Response.encode({ payload: text('nobody') }).finish(),
            ),
          );
          const big = encodeFrame(
            streamId,
            MessageType.RESPONSE,
            Buffer.alloc(MAX_MESSAGE_LENGTH + 10),
          );
          for (let i = 0; i < big.length; i += 65_536) conn.write(big.subarray(i, i + 65_536));
        } else {
          answer(conn, streamId, 'small');
        }
      };
      client = await TtrpcClient.connect(rawSocket, { log: nullLogger });
      const err = await rejection(client.call('s', 'big', text('')));
      assert.equal(err.kind, 'resource_exhausted');
      assert.match(err.message, /response of 4194314 bytes exceeds/);
      assert.equal(str(await client.call('s', 'small', text(''))), 'small');
    });

    it('reassembles responses that arrive a byte at a time', async () => {
      onRequest = (conn, frame) => {
        assert.ok(!frame.oversize);
        const bytes = encodeFrame(
          frame.header.streamId,
          MessageType.RESPONSE,
          Response.encode({ payload: text('slowly') }).finish(),
        );
        (async () => {
          for (const b of bytes) {
            conn.write(Buffer.from([b]));
            await sleep(1);
          }
        })();
      };
      client = await TtrpcClient.connect(rawSocket);
      assert.equal(str(await client.call('s', 'm', text(''))), 'slowly');
    });

    it('fails a call with internal when the response is not a Response', async () => {
      onRequest = (conn, frame) => {
        conn.write(
          encodeFrame(frame.header.streamId, MessageType.RESPONSE, Buffer.from([0x12, 0x05, 1])),
        );
      };
      client = await TtrpcClient.connect(rawSocket);
      const err = await rejection(client.call('s', 'm', text('')));
      assert.equal(err.kind, 'internal');
      assert.match(err.message, /malformed response/);
    });

    it('fails every pending call with unavailable when the peer closes the connection', async () => {
      let received = 0;
      onRequest = (conn) => {
        if (++received === 3) conn.destroy();
      };
      client = await TtrpcClient.connect(rawSocket);
      const calls = [1, 2, 3].map((i) =>
        rejection(client?.call('s', `m${i}`, text('')) ?? Promise.resolve()),
      );
      const errors = await Promise.all(calls);
      assert.deepEqual(
        errors.map((e) => e.kind),
        ['unavailable', 'unavailable', 'unavailable'],
      );
      await client.closed;
      assert.equal(client.isClosed, true);
    });
  });

  describe('listen', () => {
    it('refuses a live socket and a file that is not a socket, leaving both alone', async (t) => {
      const path = join(dir.path, 'live.sock');
      const live = createServer();
      await new Promise<void>((resolve) => live.listen(path, resolve));
      t.after(() => live.close());
      const other = new TtrpcServer({ log: nullLogger });
      await assert.rejects(other.listen(`unix://${path}`), (e: Thrown) => {
        assert.equal(e.kind, 'failed_precondition');
        assert.match(e.message, /live\.sock.*a server is listening on it/);
        return true;
      });
      assert.equal(existsSync(path), true);
      await new Promise<void>((resolve) => live.close(() => resolve()));

      const file = join(dir.path, 'plain');
      writeFileSync(file, 'keep me');
      const third = new TtrpcServer({ log: nullLogger });
      t.after(() => third.close());
      await assert.rejects(third.listen(file), (e: Thrown) => {
        assert.equal(e.kind, 'failed_precondition');
        assert.match(e.message, /exists and is not a socket/);
        return true;
      });
      assert.equal(readFileSync(file, 'utf8'), 'keep me');
      // A failed listen leaves the server usable.
      third.register('s', 'm', async () => text('third'));
      const path3 = join(dir.path, 'third.sock');
      await third.listen(path3);
      const c = await TtrpcClient.connect(path3);
      t.after(() => c.close());
      assert.equal(str(await c.call('s', 'm', text(''))), 'third');
      c.close();
      await third.close();
    });

    it('takes over a socket file nobody listens on', async (t) => {
      const path = join(dir.path, 'orphan.sock');
      // A listening socket whose process is gone: bind in a child and kill it.
      const { spawn } = await import('node:child_process');
      const child = spawn(
        process.execPath,
        [
          '-e',
          `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      t.after(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      assert.equal(existsSync(path), true);

      const next = new TtrpcServer({ log: nullLogger });
      t.after(() => next.close());
      next.register('s', 'm', async () => text('served'));
      await next.listen(path, 0o600);
      const c = await TtrpcClient.connect(path);
      t.after(() => c.close());
      assert.equal(str(await c.call('s', 'm', text(''))), 'served');
      c.close();
      await next.close();
      assert.equal(existsSync(path), false, 'close removes the socket file');
    });

    it('refuses duplicate registrations and a second listen', async () => {
      assert.throws(
        () => server.register(SERVICE, 'Echo', async (p) => p),
        (e: Thrown) => e.kind === 'already_exists',
      );
      await assert.rejects(
        server.listen(join(dir.path, 'again.sock')),
        (e: Thrown) => e.kind === 'failed_precondition',
      );
    });

    it('fails to connect to a missing socket with unavailable', async () => {
      const err = await rejection(TtrpcClient.connect(join(dir.path, 'missing.sock')));
      assert.equal(err.kind, 'unavailable');
      assert.match(err.message, /missing\.sock.*ENOENT/);
    });
  });
});
