import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http2 from 'node:http2';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import { H2Connection, type H2ConnectionOptions } from './connection.js';
import {
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FRAME_HEADER_SIZE,
  FrameType,
  frame,
  PREFACE,
  readFrameHeader,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from './frames.js';
import type { HeaderField } from './hpack/index.js';
import type { H2Stream } from './stream.js';
import { type Frame, RawPeer } from './test-peer.js';

interface SniffedFrame {
  type: number;
  flags: number;
  streamId: number;
  length: number;
}

/** One server on its own unix socket; every accepted socket gets an H2Connection. */
interface Harness {
  path: string;
  conns: H2Connection[];
  /** Frames the server received, parsed independently of H2Connection. */
  received: SniffedFrame[];
  errors: Error[];
  /** Resolves once a connection's onClose has run. */
  closed: Promise<void>;
  onStream: (s: H2Stream, conn: H2Connection) => void;
}

let dir: TempDir;
let serial = 0;

before(() => {
  dir = tempDir();
});
after(() => {
  dir.remove();
});

async function harness(
  t: TestContext,
  opts: Partial<Omit<H2ConnectionOptions, 'onStream'>> = {},
): Promise<Harness> {
  const path = join(dir.path, `h2-${serial++}.sock`);
  const sockets = new Set<Socket>();
  let closed!: () => void;
  const h: Harness = {
    path,
    conns: [],
    received: [],
    errors: [],
    closed: new Promise((resolve) => {
      closed = resolve;
    }),
    onStream: () => assert.fail('no stream expected'),
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    sniff(socket, h.received);
    const conn: H2Connection = new H2Connection(socket, {
      windowSize: opts.windowSize ?? 1 << 20,
      maxHeaderListSize: opts.maxHeaderListSize ?? 1 << 20,
      onStream: (s) => h.onStream(s, conn),
      onClose: () => closed(),
      onError: (err) => h.errors.push(err),
    });
    h.conns.push(conn);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return h;
}

/** Records the frames a socket receives (after the client preface). */
function sniff(socket: Socket, into: SniffedFrame[]): void {
  let buf = Buffer.alloc(0);
  let preface = true;
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    if (preface) {
      if (buf.length < PREFACE.length) return;
      buf = buf.subarray(PREFACE.length);
      preface = false;
    }
    while (buf.length >= FRAME_HEADER_SIZE) {
      const h = readFrameHeader(buf, 0);
      if (buf.length < FRAME_HEADER_SIZE + h.length) break;
      into.push(h);
      buf = buf.subarray(FRAME_HEADER_SIZE + h.length);
    }
  });
}

function h2client(
  t: TestContext,
  path: string,
  options: http2.ClientSessionOptions = {},
): http2.ClientHttp2Session {
  const client = http2.connect('http://localhost', {
    ...options,
    createConnection: () => connect(path),
  });
  const errors: Error[] = [];
  client.on('error', (err) => errors.push(err));
  t.after(() => {
    client.destroy();
    assert.deepEqual(errors, [], 'client session errors');
  });
  return client;
}

interface Answer {
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | undefined;
  rstCode: number | undefined;
  events: string[];
}

/** Reads a whole response, in the order its parts arrive. */
function answer(req: http2.ClientHttp2Stream): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const a: Answer = {
      headers: {},
      body: Buffer.alloc(0),
      trailers: undefined,
      rstCode: 0,
      events: [],
    };
    const body: Buffer[] = [];
    req.on('response', (headers) => {
      a.events.push('response');
      a.headers = headers;
    });
    req.on('data', (chunk: Buffer) => {
      if (a.events.at(-1) !== 'data') a.events.push('data');
      body.push(chunk);
    });
    req.on('trailers', (trailers) => {
      a.events.push('trailers');
      a.trailers = trailers;
    });
    req.on('end', () => a.events.push('end'));
    req.on('error', reject);
    req.on('close', () => {
      a.body = Buffer.concat(body);
      a.rstCode = req.rstCode;
      resolve(a);
    });
  });
}

const POST = {
  ':method': 'POST',
  ':path': '/test.Svc/Do',
  'content-type': 'application/grpc',
};

const OK_HEADERS: HeaderField[] = [
  [':status', '200'],
  ['content-type', 'application/grpc'],
];

/** Deterministic, non-repeating-looking bytes. */
function pattern(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Writes `data` in `chunk`-sized pieces, waiting whenever the stream asks to. */
async function writeAll(s: H2Stream, data: Buffer, chunk: number): Promise<void> {
  for (let at = 0; at < data.length; at += chunk) {
    if (!s.write(data.subarray(at, at + chunk))) await s.drained();
  }
}

/** A stream's whole request body, credited back as it arrives. */
function collect(s: H2Stream): Promise<Buffer> {
  const parts: Buffer[] = [];
  return new Promise((resolve) => {
    s.onData = (c) => {
      parts.push(Buffer.from(c));
      s.consumed(c.length);
    };
    s.onEnd = () => resolve(Buffer.concat(parts));
  });
}

describe('H2Connection with node:http2 as the client', () => {
  it('answers a request with headers, data and trailers', async (t) => {
    const h = await harness(t);
    let seen: { headers: readonly HeaderField[]; body: string } | undefined;
    h.onStream = (s) => {
      void collect(s).then((body) => {
        seen = { headers: s.headers, body: body.toString() };
        s.respond([...OK_HEADERS, ['x-resp', 'r1']]);
        s.write(Buffer.from(`pong:${body}`));
        s.end([
          ['grpc-status', '0'],
          ['x-trailer', 't1'],
        ]);
      });
    };
    const client = h2client(t, h.path);
    const req = client.request({ ...POST, 'x-req': 'v1', 'x-multi': ['a', 'b'] });
    req.end('ping');
    const a = await answer(req);

    assert.ok(seen);
    assert.equal(seen.body, 'ping');
    const hdr = (n: string) => seen!.headers.filter(([k]) => k === n).map(([, v]) => v);
    assert.deepEqual(hdr(':method'), ['POST']);
    assert.deepEqual(hdr(':path'), ['/test.Svc/Do']);
    assert.deepEqual(hdr(':scheme'), ['http']);
    assert.deepEqual(hdr('x-req'), ['v1']);
    assert.deepEqual(hdr('x-multi'), ['a', 'b']);

    assert.deepEqual(a.events, ['response', 'data', 'trailers', 'end']);
    assert.equal(a.headers[':status'], 200);
    assert.equal(a.headers['content-type'], 'application/grpc');
    assert.equal(a.headers['x-resp'], 'r1');
    assert.equal(a.body.toString(), 'pong:ping');
    assert.equal(a.trailers?.['grpc-status'], '0');
    assert.equal(a.trailers?.['x-trailer'], 't1');
    assert.equal(a.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    assert.equal(h.conns[0]!.activeStreams, 0);
  });

  it('sends a trailers-only answer as one HEADERS frame that ends the stream', async (t) => {
    const h = await harness(t);
    h.onStream = (s) => {
      void collect(s).then(() =>
        s.respondAndEnd([...OK_HEADERS, ['grpc-status', '12'], ['grpc-message', 'nope']]),
      );
    };
    const client = h2client(t, h.path);
    const req = client.request(POST);
    req.end();
    const a = await answer(req);
    assert.deepEqual(a.events, ['response', 'end']);
    assert.equal(a.headers[':status'], 200);
    assert.equal(a.headers['grpc-status'], '12');
    assert.equal(a.headers['grpc-message'], 'nope');
    assert.equal(a.trailers, undefined);
    assert.equal(a.body.length, 0);
    assert.equal(a.rstCode, http2.constants.NGHTTP2_NO_ERROR);
  });

  for (const [label, settings, size] of [
    ['a 1 KiB stream window', { initialWindowSize: 1024 }, 256 << 10],
    ['the default 64 KiB window', {}, 4 << 20],
  ] as const) {
    it(`delivers a response body far larger than ${label}, intact and in order`, async (t) => {
      const h = await harness(t);
      const body = pattern(size, size);
      h.onStream = (s) => {
        void collect(s).then(async () => {
          s.respond(OK_HEADERS);
          await writeAll(s, body, 10_000);
          s.end([['grpc-status', '0']]);
        });
      };
      const client = h2client(t, h.path, { settings });
      const req = client.request(POST);
      req.end();
      const a = await answer(req);
      assert.equal(a.body.length, body.length);
      assert.equal(sha(a.body), sha(body));
      assert.equal(a.trailers?.['grpc-status'], '0');
      assert.equal(a.rstCode, http2.constants.NGHTTP2_NO_ERROR);
      // The server never put more on the wire than the window allowed: a
      // peer that got too much would have reset the stream or the connection.
      assert.equal(h.errors.length, 0);
    });
  }

  it('takes a large request body consumed slowly, bounded by the window', async (t) => {
    const windowSize = 128 << 10;
    const h = await harness(t, { windowSize });
    const body = pattern(6 << 20, 7);
    let maxBuffered = 0;
    let got: Buffer | undefined;
    h.onStream = (s) => {
      const parts: Buffer[] = [];
      const waiting: Buffer[] = [];
      let consuming = false;
      // Takes one chunk per turn of the event loop, long after it arrived.
      const consumeOne = () => {
        const c = waiting.shift();
        if (c === undefined) {
          consuming = false;
          return;
        }
        parts.push(c);
        s.consumed(c.length);
        setImmediate(consumeOne);
      };
      s.onData = (c) => {
        maxBuffered = Math.max(maxBuffered, s.buffered);
        waiting.push(Buffer.from(c));
        if (!consuming) {
          consuming = true;
          setImmediate(consumeOne);
        }
      };
      s.onEnd = () => {
        const finish = () => {
          if (waiting.length > 0 || consuming) {
            setImmediate(finish);
            return;
          }
          got = Buffer.concat(parts);
          s.respond(OK_HEADERS);
          s.end([['grpc-status', '0']]);
        };
        finish();
      };
    };
    const client = h2client(t, h.path);
    const req = client.request(POST);
    for (let at = 0; at < body.length; at += 100_000) req.write(body.subarray(at, at + 100_000));
    req.end();
    const a = await answer(req);
    assert.ok(got);
    assert.equal(got.length, body.length);
    assert.equal(sha(got), sha(body));
    assert.equal(a.trailers?.['grpc-status'], '0');
    assert.equal(a.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    assert.ok(maxBuffered > 0 && maxBuffered <= windowSize, `buffered up to ${maxBuffered}`);
    assert.equal(h.errors.length, 0);
    // The server reset nothing (rstCode above) and the client neither reset
    // the stream nor ended the connection over flow control.
    assert.ok(!h.received.some((f) => f.type === FrameType.RST_STREAM));
    assert.ok(!h.received.some((f) => f.type === FrameType.GOAWAY));
  });

  it('decodes a header block split into CONTINUATION frames exactly', async (t) => {
    const h = await harness(t);
    // Characters Huffman coding cannot shrink much, so the block stays > 16 KiB.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const bytes = pattern(40 << 10, 3);
    const big = Array.from(bytes, (b) => alphabet[b & 63]).join('');
    const big2 = Array.from(pattern(20 << 10, 4), (b) => alphabet[b & 63]).join('');
    let seen: H2Stream | undefined;
    h.onStream = (s) => {
      seen = s;
      void collect(s).then(() => s.respondAndEnd([...OK_HEADERS, ['grpc-status', '0']]));
    };
    const client = h2client(t, h.path, { maxSendHeaderBlockLength: 1 << 20 });
    const req = client.request({ ...POST, 'x-big': big, 'x-big-2': big2, 'x-after': 'tail' });
    req.end();
    const a = await answer(req);
    assert.equal(a.headers['grpc-status'], '0');
    assert.ok(seen);
    assert.equal(seen.header('x-big'), big);
    assert.equal(seen.header('x-big-2'), big2);
    assert.equal(seen.header('x-after'), 'tail');
    assert.equal(seen.header(':path'), '/test.Svc/Do');
    const types = h.received.filter((f) => f.streamId === 1).map((f) => f.type);
    assert.equal(types[0], FrameType.HEADERS);
    assert.ok(
      types.filter((x) => x === FrameType.CONTINUATION).length >= 1,
      `frames on stream 1: ${types}`,
    );
  });

  it('fires onAbort when the client resets the stream', async (t) => {
    const h = await harness(t);
    let opened!: (s: H2Stream) => void;
    const stream = new Promise<H2Stream>((resolve) => {
      opened = resolve;
    });
    let aborted!: () => void;
    const abort = new Promise<void>((resolve) => {
      aborted = resolve;
    });
    h.onStream = (s) => {
      s.onAbort = aborted;
      s.onData = (c) => s.consumed(c.length);
      opened(s);
    };
    const client = h2client(t, h.path);
    const req = client.request(POST);
    req.on('error', () => {});
    req.write('partial');
    const s = await stream;
    req.close(http2.constants.NGHTTP2_CANCEL);
    await abort;
    assert.equal(s.done, true);
    assert.equal(h.conns[0]!.activeStreams, 0);
    // A write after the reset is dropped without error.
    assert.equal(s.write(Buffer.from('late')), true);
    s.end([['grpc-status', '0']]);
  });

  it('goaway() lets the open stream finish, refuses a new one and closes when idle', async (t) => {
    const h = await harness(t);
    const opened: H2Stream[] = [];
    h.onStream = (s, conn) => {
      opened.push(s);
      conn.goaway();
      void collect(s).then((body) => {
        s.respond(OK_HEADERS);
        s.write(Buffer.from(`echo:${body}`));
        s.end([['grpc-status', '0']]);
      });
    };
    const client = h2client(t, h.path);
    const goaway = new Promise<[number, number]>((resolve) => {
      client.on('goaway', (code, lastStreamId) => resolve([code, lastStreamId]));
    });
    const clientClosed = new Promise<void>((resolve) => client.on('close', resolve));
    // Both streams leave in one write; the server has sent GOAWAY by the
    // time it reads the second one.
    const first = client.request(POST);
    const second = client.request(POST);
    second.on('error', () => {});
    const secondDone = new Promise<number | undefined>((resolve) =>
      second.on('close', () => resolve(second.rstCode)),
    );
    first.write('in');
    const firstAnswer = answer(first);

    assert.deepEqual(await goaway, [http2.constants.NGHTTP2_NO_ERROR, 1]);
    assert.equal(await secondDone, http2.constants.NGHTTP2_REFUSED_STREAM);
    first.end('-flight');
    const a = await firstAnswer;
    assert.equal(a.body.toString(), 'echo:in-flight');
    assert.equal(a.trailers?.['grpc-status'], '0');
    assert.equal(opened.length, 1, 'the refused stream never reached onStream');
    await h.closed;
    await clientClosed;
  });

  it('serves many concurrent streams on one connection', async (t) => {
    const h = await harness(t);
    const n = 100;
    const open: { s: H2Stream; body: Buffer }[] = [];
    h.onStream = (s) => {
      void collect(s).then((body) => {
        open.push({ s, body });
        if (open.length < n) return;
        // All are open at once; answer them in reverse order of arrival.
        for (const { s, body } of open.reverse()) {
          s.respond([...OK_HEADERS, ['x-id', String(s.id)]]);
          s.write(Buffer.concat([body, pattern(3000, s.id)]));
          s.end([['grpc-status', '0']]);
        }
      });
    };
    const client = h2client(t, h.path);
    const answers = Array.from({ length: n }, (_, i) => {
      const req = client.request(POST);
      req.end(`request-${i}`);
      return answer(req);
    });
    const got = await Promise.all(answers);
    const ids = new Set<string>();
    got.forEach((a, i) => {
      const id = Number(a.headers['x-id']);
      ids.add(String(id));
      assert.deepEqual(a.body, Buffer.concat([Buffer.from(`request-${i}`), pattern(3000, id)]));
      assert.equal(a.trailers?.['grpc-status'], '0');
    });
    assert.equal(ids.size, n);
    assert.equal(h.conns.length, 1);
    assert.equal(h.conns[0]!.activeStreams, 0);
  });
});

const REQUEST_FIELDS: HeaderField[] = [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/test.Svc/Do'],
  [':authority', 'localhost'],
  ['content-type', 'application/grpc'],
];

/** Polls `cond` every event-loop turn until it gives a value (bounded by the test timeout). */
async function waitUntil<T>(cond: () => T | false | undefined): Promise<T> {
  for (;;) {
    const v = cond();
    if (v) return v;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function ping(payload = Buffer.from('berthpng'), flags = 0): Buffer {
  return frame(FrameType.PING, flags, 0, payload);
}

const isPingAck = (f: Frame) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0;

describe('H2Connection with a raw peer', () => {
  it('answers the client preface with its SETTINGS, a connection WINDOW_UPDATE and the ACK in one write', async (t) => {
    const windowSize = 1 << 20;
    const h = await harness(t, { windowSize, maxHeaderListSize: 12345 });
    const peer = await RawPeer.connect(h.path);
    t.after(() => peer.close());
    // Nothing before the client's preface: ours goes out with the ACK of its SETTINGS.
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(peer.seen.length, 0, 'nothing sent before the client preface');
    peer.handshake();
    const settings = await peer.next();
    assert.equal(settings.type, FrameType.SETTINGS);
    assert.equal(settings.flags, 0);
    assert.equal(settings.streamId, 0);
    assert.equal(settings.firstChunk, 0, 'the very first bytes');
    const values = new Map<number, number>();
    for (let at = 0; at < settings.payload.length; at += 6) {
      values.set(settings.payload.readUInt16BE(at), settings.payload.readUInt32BE(at + 2));
    }
    assert.deepEqual(
      values,
      new Map([
        [Setting.ENABLE_PUSH, 0],
        [Setting.INITIAL_WINDOW_SIZE, windowSize],
        [Setting.MAX_HEADER_LIST_SIZE, 12345],
      ]),
    );
    const wu = await peer.next();
    assert.equal(wu.type, FrameType.WINDOW_UPDATE);
    assert.equal(wu.streamId, 0);
    assert.equal(wu.payload.readUInt32BE(0), windowSize - DEFAULT_WINDOW);
    const ack = await peer.next();
    assert.equal(ack.type, FrameType.SETTINGS);
    assert.equal(ack.flags, Flag.ACK);
    assert.equal(ack.payload.length, 0);
    assert.equal(ack.firstChunk, 0, 'in the same write as our SETTINGS');
  });

  it('sends no connection WINDOW_UPDATE when its window is the default', async (t) => {
    const h = await harness(t, { windowSize: DEFAULT_WINDOW });
    const peer = await RawPeer.connect(h.path);
    t.after(() => peer.close());
    peer.handshake();
    peer.send(ping());
    await peer.next(isPingAck);
    assert.deepEqual(
      peer.seen.map((f) => [f.type, f.flags]),
      [
        [FrameType.SETTINGS, 0],
        [FrameType.SETTINGS, Flag.ACK],
        [FrameType.PING, Flag.ACK],
      ],
    );
  });

  it('answers PING with a PING ACK carrying the same payload, and ignores a PING ACK', async (t) => {
    const h = await harness(t);
    const peer = await RawPeer.connect(h.path);
    t.after(() => peer.close());
    peer.handshake();
    const payload = Buffer.from([1, 2, 3, 4, 5, 6, 7, 0xff]);
    peer.send(ping(Buffer.from('ignoreme'), Flag.ACK), ping(payload));
    const ack = await peer.next(isPingAck);
    assert.deepEqual(ack.payload, payload);
    assert.equal(ack.streamId, 0);
    assert.equal(peer.frames.filter(isPingAck).length, 1);
  });

  it('ignores frames of unknown types', async (t) => {
    const h = await harness(t);
    const peer = await RawPeer.connect(h.path);
    t.after(() => peer.close());
    peer.handshake();
    peer.send(
      frame(0xfa, 0, 0, Buffer.from('on stream 0')),
      frame(0x20, 0xff, 7, Buffer.alloc(300)),
      frame(0xbe, 0, 1, Buffer.alloc(0)),
      ping(),
    );
    const ack = await peer.next(isPingAck);
    assert.deepEqual(ack.payload, Buffer.from('berthpng'));
    assert.ok(!peer.seen.some((f) => f.type === FrameType.GOAWAY));
    assert.deepEqual(h.errors, []);
  });

  const handshake = () => Buffer.concat([PREFACE, settingsFrame([])]);
  const cases: [string, Buffer, number, RegExp][] = [
    [
      'a bad preface',
      Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'),
      ErrorCode.PROTOCOL_ERROR,
      /not the HTTP\/2 client preface/,
    ],
    [
      'a short bad preface',
      Buffer.from('PRI * HTTP/1.1'),
      ErrorCode.PROTOCOL_ERROR,
      /not the HTTP\/2 client preface/,
    ],
    [
      'a first frame that is not SETTINGS',
      Buffer.concat([PREFACE, ping()]),
      ErrorCode.PROTOCOL_ERROR,
      /first frame must be SETTINGS/,
    ],
    [
      'DATA on stream 0',
      Buffer.concat([handshake(), frame(FrameType.DATA, 0, 0, Buffer.from('x'))]),
      ErrorCode.PROTOCOL_ERROR,
      /DATA on stream 0/,
    ],
    [
      'HEADERS on an even stream',
      Buffer.concat([handshake(), RawPeer.headers(2, REQUEST_FIELDS, Flag.END_STREAM)]),
      ErrorCode.PROTOCOL_ERROR,
      /HEADERS on stream 2/,
    ],
    [
      'a PING of 7 bytes',
      Buffer.concat([handshake(), frame(FrameType.PING, 0, 0, Buffer.alloc(7))]),
      ErrorCode.FRAME_SIZE_ERROR,
      /PING payload must be 8 bytes/,
    ],
    [
      'WINDOW_UPDATE with increment 0 on stream 0',
      Buffer.concat([handshake(), windowUpdateFrame(0, 0)]),
      ErrorCode.PROTOCOL_ERROR,
      /increment 0/,
    ],
    [
      'CONTINUATION without HEADERS',
      Buffer.concat([
        handshake(),
        frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, Buffer.from([0x82])),
      ]),
      ErrorCode.PROTOCOL_ERROR,
      /CONTINUATION without a header block/,
    ],
    [
      'another frame inside a header block',
      Buffer.concat([handshake(), frame(FrameType.HEADERS, 0, 1, Buffer.from([0x83])), ping()]),
      ErrorCode.PROTOCOL_ERROR,
      /expected CONTINUATION/,
    ],
    [
      // Only the header: the length alone condemns it.
      'a frame larger than 16384 bytes',
      Buffer.concat([
        handshake(),
        (() => {
          const b = Buffer.alloc(FRAME_HEADER_SIZE);
          b.writeUIntBE(16_385, 0, 3);
          b[3] = FrameType.DATA;
          b.writeUInt32BE(1, 5);
          return b;
        })(),
      ]),
      ErrorCode.FRAME_SIZE_ERROR,
      /frame of 16385 bytes exceeds/,
    ],
    [
      'SETTINGS whose length is not a multiple of 6',
      Buffer.concat([handshake(), frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5))]),
      ErrorCode.FRAME_SIZE_ERROR,
      /multiple of 6/,
    ],
    [
      'a header block HPACK cannot decode',
      Buffer.concat([
        handshake(),
        frame(
          FrameType.HEADERS,
          Flag.END_HEADERS,
          1,
          Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        ),
      ]),
      ErrorCode.COMPRESSION_ERROR,
      /./,
    ],
  ];
  for (const [label, bytes, code, debug] of cases) {
    it(`answers ${label} with GOAWAY ${code} and closes`, async (t) => {
      const h = await harness(t);
      const peer = await RawPeer.connect(h.path);
      t.after(() => peer.close());
      peer.send(bytes);
      const g = await peer.goaway();
      assert.equal(g.code, code);
      assert.equal(g.lastStreamId, 0);
      assert.match(g.debug, debug);
      await peer.ended;
      await h.closed;
      assert.equal(h.errors.length, 1);
      assert.match(h.errors[0]!.message, debug);
    });
  }

  it('stops reading from a peer that does not read its answers, and reads on once it does', async (t) => {
    const h = await harness(t, { windowSize: 16 << 20 });
    const body = pattern(8 << 20, 5);
    const seen: number[] = [];
    h.onStream = (s) => {
      seen.push(s.id);
      s.respond(OK_HEADERS);
      s.write(s.id === 1 ? body : Buffer.from('small'));
      s.end([['grpc-status', '0']]);
    };
    const peer = await RawPeer.connect(h.path);
    t.after(() => peer.close());
    peer.socket.pause();
    peer.handshake([[Setting.INITIAL_WINDOW_SIZE, 16 << 20]]);
    peer.send(windowUpdateFrame(0, (16 << 20) - DEFAULT_WINDOW));
    peer.send(RawPeer.headers(1, REQUEST_FIELDS, Flag.END_STREAM));
    const conn = await waitUntil(() => h.conns[0]?.readingPaused && h.conns[0]);
    // A request sent now stays unread in the kernel while the answer is stuck.
    peer.send(RawPeer.headers(3, REQUEST_FIELDS, Flag.END_STREAM));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(seen, [1]);
    peer.socket.resume();
    await peer.next(
      (f) => f.streamId === 3 && (f.flags & Flag.END_STREAM) !== 0,
      'stream 3 answered',
    );
    assert.deepEqual(seen, [1, 3]);
    const data = peer.seen.filter((f) => f.type === FrameType.DATA && f.streamId === 1);
    assert.equal(
      data.reduce((n, f) => n + f.payload.length, 0),
      body.length,
    );
    assert.equal(conn.readingPaused, false);
  });

  it('ends only the connection, with GOAWAY INTERNAL_ERROR, when a stream handler throws', async (t) => {
    const h = await harness(t);
    const bug = new Error('handler bug');
    h.onStream = () => {
      throw bug;
    };
    const peer = await RawPeer.connect(h.path);
    t.after(() => peer.close());
    peer.handshake();
    peer.send(RawPeer.headers(1, REQUEST_FIELDS, Flag.END_STREAM));
    const g = await peer.goaway();
    assert.equal(g.code, ErrorCode.INTERNAL_ERROR);
    assert.equal(g.debug, 'internal error');
    await h.closed;
    assert.equal(h.errors.length, 1);
    assert.equal(h.errors[0]!.cause, bug);
  });

  it('names the last stream in GOAWAY and aborts the open streams on a protocol error', async (t) => {
    const h = await harness(t);
    let aborted = false;
    h.onStream = (s) => {
      s.onAbort = () => {
        aborted = true;
      };
    };
    const peer = await RawPeer.connect(h.path);
    t.after(() => peer.close());
    peer.handshake();
    peer.send(RawPeer.headers(5, REQUEST_FIELDS), frame(FrameType.DATA, 0, 0, Buffer.from('x')));
    const g = await peer.goaway();
    assert.equal(g.code, ErrorCode.PROTOCOL_ERROR);
    assert.equal(g.lastStreamId, 5);
    await h.closed;
    assert.equal(aborted, true);
  });

  it('answers DATA beyond the connection window, though within each stream window, with FLOW_CONTROL_ERROR', async (t) => {
    const h = await harness(t, { windowSize: DEFAULT_WINDOW });
    h.onStream = () => {}; // takes nothing: no credit goes back
    const peer = await RawPeer.connect(h.path);
    t.after(() => peer.close());
    peer.handshake();
    const chunk = Buffer.alloc(16_000);
    // 2 streams × 3 × 16,000 = 96,000 bytes: each stream stays under 65,535.
    for (const id of [1, 3]) {
      peer.send(RawPeer.headers(id, REQUEST_FIELDS));
      for (let i = 0; i < 3; i++) peer.send(frame(FrameType.DATA, 0, id, chunk));
    }
    const g = await peer.goaway();
    assert.equal(g.code, ErrorCode.FLOW_CONTROL_ERROR);
    assert.match(g.debug, /connection window/);
    await h.closed;
  });

  it('resumes a response blocked on window when SETTINGS raises INITIAL_WINDOW_SIZE', async (t) => {
    const h = await harness(t);
    const body = pattern(1000, 11);
    let stream: H2Stream | undefined;
    h.onStream = (s) => {
      stream = s;
      s.onEnd = () => {
        s.respond(OK_HEADERS);
        s.write(body);
        s.end([['grpc-status', '0']]);
      };
    };
    const peer = await RawPeer.connect(h.path);
    t.after(() => peer.close());
    peer.handshake([[Setting.INITIAL_WINDOW_SIZE, 100]]);
    peer.send(RawPeer.headers(1, REQUEST_FIELDS, Flag.END_STREAM));
    const first = await peer.nextOfType(FrameType.DATA, 1);
    assert.equal(first.payload.length, 100);
    assert.ok(stream);
    assert.equal(stream.queuedBytes, 900);
    assert.equal(stream.done, false);

    // Shrinking the window makes it negative; a WINDOW_UPDATE that leaves it
    // below zero sends nothing (the PING ACK after it proves none came).
    peer.send(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 50]]), windowUpdateFrame(1, 30), ping());
    await peer.next(isPingAck);
    assert.equal(peer.frames.filter((f) => f.type === FrameType.DATA).length, 1);
    assert.equal(stream.sendWindow, -20);

    peer.send(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 1050]]));
    const data = [first.payload];
    for (;;) {
      const f = await peer.next((x) => x.streamId === 1);
      if (f.type === FrameType.DATA) {
        data.push(f.payload);
        continue;
      }
      assert.equal(f.type, FrameType.HEADERS);
      assert.equal(f.flags & Flag.END_STREAM, Flag.END_STREAM);
      assert.deepEqual(peer.decode(f), [['grpc-status', '0']]);
      break;
    }
    assert.deepEqual(Buffer.concat(data), body);
    assert.equal(stream.done, true);
  });

  it('writes a unary answer (respond, write, end in one turn) to the socket at once', async (t) => {
    const h = await harness(t);
    h.onStream = (s) => {
      s.onEnd = () => {
        s.respond(OK_HEADERS);
        s.write(Buffer.from([0, 0, 0, 0, 3, 1, 2, 3]));
        s.end([['grpc-status', '0']]);
      };
    };
    const peer = await RawPeer.connect(h.path);
    t.after(() => peer.close());
    peer.handshake();
    // Everything the handshake makes the server say has arrived before the request.
    await peer.next((f) => f.type === FrameType.SETTINGS && f.flags === Flag.ACK);
    peer.send(RawPeer.headers(1, REQUEST_FIELDS, Flag.END_STREAM));
    const trailers = await peer.next((f) => f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0);
    const answer = peer.frames.filter((f) => f.streamId === 1);
    assert.deepEqual(
      answer.map((f) => [f.type, f.flags]),
      [
        [FrameType.HEADERS, Flag.END_HEADERS],
        [FrameType.DATA, 0],
        [FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM],
      ],
    );
    assert.deepEqual(peer.decode(answer[0]!), OK_HEADERS);
    assert.deepEqual(answer[1]!.payload, Buffer.from([0, 0, 0, 0, 3, 1, 2, 3]));
    assert.deepEqual(peer.decode(trailers), [['grpc-status', '0']]);
    // One socket read holds the three frames and nothing else.
    const chunk = answer[0]!.firstChunk;
    assert.ok(answer.every((f) => f.firstChunk === chunk && f.lastChunk === chunk));
    const size = answer.reduce((n, f) => n + FRAME_HEADER_SIZE + f.payload.length, 0);
    assert.equal(peer.chunks[chunk]!.length, size);
  });

  it('answers a request whose HEADERS end the stream without a RST_STREAM after it', async (t) => {
    const h = await harness(t);
    let ended = false;
    h.onStream = (s) => {
      s.onEnd = () => {
        ended = true;
      };
      // Answered at once, as the server does for 405, 415 and unknown methods.
      s.respondAndEnd([[':status', '405']]);
    };
    const peer = await RawPeer.connect(h.path);
    t.after(() => peer.close());
    peer.handshake();
    peer.send(RawPeer.headers(1, REQUEST_FIELDS, Flag.END_STREAM));
    const f = await peer.nextOfType(FrameType.HEADERS, 1);
    assert.equal(f.flags & Flag.END_STREAM, Flag.END_STREAM);
    assert.deepEqual(peer.decode(f), [[':status', '405']]);
    peer.send(ping());
    await peer.next(isPingAck);
    // The stream was closed on both sides: resetting it would break §5.1.
    assert.deepEqual(
      peer.frames.filter((x) => x.type === FrameType.RST_STREAM),
      [],
    );
    assert.equal(ended, false, 'onEnd is not called for a stream already answered');
    assert.equal(h.conns[0]!.activeStreams, 0);
  });

  it('returns the window that DATA padding took, on the stream as on the connection', async (t) => {
    const windowSize = DEFAULT_WINDOW;
    const h = await harness(t, { windowSize });
    let got = 0;
    h.onStream = (s) => {
      s.onData = (c) => {
        got += c.length;
        s.consumed(c.length);
      };
    };
    const peer = await RawPeer.connect(h.path);
    t.after(() => peer.close());
    peer.handshake();
    peer.send(RawPeer.headers(1, REQUEST_FIELDS));
    // 200 frames of one data byte and 255 bytes of padding: 51,400 bytes of
    // window for 200 bytes of data.
    const padded = Buffer.concat([Buffer.from([255, 0x61]), Buffer.alloc(255)]);
    const frames = Array.from({ length: 200 }, () => frame(FrameType.DATA, Flag.PADDED, 1, padded));
    peer.send(...frames, ping());
    await peer.next(isPingAck);
    assert.equal(got, 200);
    const credited = (id: number) =>
      peer.frames
        .filter((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === id)
        .reduce((n, f) => n + f.payload.readUInt32BE(0), 0);
    const sent = 200 * padded.length;
    // Everything was taken at once, so at most a quarter window is still owed.
    const owed = (id: number) => sent - credited(id);
    assert.ok(owed(0) < windowSize / 4, `connection: ${owed(0)} bytes never credited`);
    assert.ok(owed(1) < windowSize / 4, `stream: ${owed(1)} bytes never credited`);
  });

  it('reads frames cut anywhere across socket reads, the preface and frame headers included', async (t) => {
    const h = await harness(t);
    const body: Buffer[] = [];
    let ended!: () => void;
    const done = new Promise<void>((resolve) => {
      ended = resolve;
    });
    h.onStream = (s) => {
      s.onData = (c) => {
        body.push(Buffer.from(c));
        s.consumed(c.length);
      };
      s.onEnd = () => {
        s.respondAndEnd([[':status', '200']]);
        ended();
      };
    };
    const peer = await RawPeer.connect(h.path);
    t.after(() => peer.close());
    const data = createHash('sha256').update('body').digest();
    const sizes = [1, 16384, 0, 700, 16384, 9, 3000];
    const chunks = sizes.map((n, i) => Buffer.alloc(n, data[i]!));
    const padded = Buffer.concat([Buffer.from([3]), Buffer.from('xyz'), Buffer.alloc(3)]);
    const wire = Buffer.concat([
      PREFACE,
      settingsFrame([]),
      RawPeer.headers(1, REQUEST_FIELDS),
      ...chunks.map((c) => frame(FrameType.DATA, 0, 1, c)),
      frame(FrameType.DATA, Flag.PADDED, 1, padded),
      ping(),
      frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from('end')),
    ]);
    // Pieces of 1 to 20,000 bytes, sent with a pause between them so that
    // the server reads them apart: cuts fall inside the preface, frame
    // headers and payloads.
    const pieces = [1, 30, 4, 5, 9, 2, 20_000, 7, 16_000, 3, 1, 8, 11_000];
    let at = 0;
    for (let i = 0; at < wire.length; i++) {
      const n = pieces[i % pieces.length]!;
      peer.send(wire.subarray(at, at + n));
      at += n;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await Promise.race([
      done,
      h.closed.then(() => assert.fail(`the connection closed: ${h.errors.join('; ')}`)),
    ]);
    assert.deepEqual(Buffer.concat(body), Buffer.concat([...chunks, Buffer.from('xyzend')]));
    await peer.next(isPingAck);
    assert.deepEqual(h.errors, []);
  });

  it('refuses a frame over SETTINGS_MAX_FRAME_SIZE whose header arrives in pieces', async (t) => {
    const h = await harness(t);
    const peer = await RawPeer.connect(h.path);
    t.after(() => peer.close());
    peer.handshake();
    await peer.nextOfType(FrameType.SETTINGS);
    const header = Buffer.alloc(FRAME_HEADER_SIZE);
    header.writeUIntBE(16385, 0, 3);
    header[3] = FrameType.DATA;
    header.writeUInt32BE(1, 5);
    peer.send(ping(), header.subarray(0, 2));
    await peer.next(isPingAck);
    peer.send(header.subarray(2));
    const goaway = await peer.nextOfType(FrameType.GOAWAY);
    assert.equal(goaway.payload.readUInt32BE(4), ErrorCode.FRAME_SIZE_ERROR);
  });

  it('asks a client still sending to stop with RST_STREAM NO_ERROR after a complete answer', async (t) => {
    const h = await harness(t);
    h.onStream = (s) => s.respondAndEnd([[':status', '415']]);
    const peer = await RawPeer.connect(h.path);
    t.after(() => peer.close());
    peer.handshake();
    peer.send(RawPeer.headers(1, REQUEST_FIELDS));
    const rst = await peer.nextOfType(FrameType.RST_STREAM, 1);
    assert.equal(rst.payload.readUInt32BE(0), ErrorCode.NO_ERROR);
    // Data the client had in flight is taken without complaint.
    peer.send(frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.alloc(100)), ping());
    await peer.next(isPingAck);
    assert.ok(!peer.frames.some((x) => x.type === FrameType.GOAWAY));
  });
});
