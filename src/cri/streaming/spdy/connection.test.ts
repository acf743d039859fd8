import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { nullLogger } from '../../../core/log/index.js';
import { readAll } from '../testing/spdy-client.js';
import { SpdyConnection } from './connection.js';
import {
  encodeDataHeader,
  encodePing,
  encodeSettings,
  encodeSynStream,
  type Frame,
  FrameReader,
  GoAwayStatus,
  RstStatus,
} from './frames.js';
import { encodeHeaderBlock } from './header-block.js';
import { HeaderCompressor } from './header-compression.js';
import type { SpdyStream } from './stream.js';

/** A server-side SpdyConnection on one end of a TCP connection; the test speaks raw frames on the other. */
describe('spdy connection', () => {
  let listener: Server;
  let port = 0;
  const accepted: Socket[] = [];

  before(async () => {
    listener = createServer((s) => accepted.push(s));
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    port = (listener.address() as { port: number }).port;
  });
  after(() => new Promise((r) => listener.close(r)));

  async function pair(opts: { maxStreams?: number } = {}) {
    const client = await new Promise<Socket>((resolve) => {
      const s: Socket = connect(port, '127.0.0.1', () => resolve(s));
    });
    while (accepted.length === 0) await new Promise((r) => setImmediate(r));
    const server = new SpdyConnection(accepted.shift()!, {
      role: 'server',
      log: nullLogger,
      ...opts,
    });
    const frames: Frame[] = [];
    const reader = new FrameReader();
    client.on('data', (c: Buffer) => {
      reader.push(c);
      for (let f = reader.next(); f; f = reader.next()) frames.push(f);
    });
    const waitFor = async (pred: (f: Frame) => boolean): Promise<Frame> => {
      const deadline = Date.now() + 5000;
      for (;;) {
        const f = frames.find(pred);
        if (f) return f;
        if (Date.now() > deadline) throw new Error('no such frame within 5 s');
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const comp = new HeaderCompressor();
    const syn = (id: number, headers: Record<string, string[]>, flags = 0) =>
      client.write(encodeSynStream(id, comp.compress(encodeHeaderBlock(headers)), { flags }));
    return { client, server, frames, waitFor, syn };
  }

  it("echoes the client's pings", async () => {
    const { client, server, waitFor } = await pair();
    client.write(encodePing(7));
    assert.deepEqual(await waitFor((f) => f.type === 'ping'), { type: 'ping', id: 7 });
    server.destroy();
    client.destroy();
  });

  it('accepts streams with their headers, replies, carries data both ways and half-closes', async () => {
    const { client, server, waitFor, syn } = await pair();
    const got = new Promise<SpdyStream>((r) => server.once('stream', r));
    syn(1, { streamtype: ['stdin'], port: ['80'] });
    const s = await got;
    assert.equal(s.header('streamType'), 'stdin');
    assert.equal(s.header('port'), '80');
    s.accept();
    await waitFor((f) => f.type === 'syn_reply' && f.streamId === 1);
    const text = readAll(s);
    client.write(Buffer.concat([encodeDataHeader(1, 5, false), Buffer.from('hello')]));
    client.write(encodeDataHeader(1, 0, true));
    assert.equal(await text, 'hello');
    s.end('bye');
    const data = await waitFor((f) => f.type === 'data' && f.streamId === 1 && f.data.length > 0);
    assert.equal((data as { data: Buffer }).data.toString(), 'bye');
    await waitFor((f) => f.type === 'data' && f.streamId === 1 && (f.flags & 1) === 1);
    assert.equal(server.streams.size, 0, 'a stream closed both ways is released');
    server.destroy();
    client.destroy();
  });

  it('resets streams with a bad id and refuses streams past the limit', async () => {
    const { client, server, waitFor, syn } = await pair({ maxStreams: 1 });
    server.on('stream', (s: SpdyStream) => s.accept());
    syn(3, { streamtype: ['a'] });
    await waitFor((f) => f.type === 'syn_reply' && f.streamId === 3);
    syn(1, { streamtype: ['b'] }); // ids only grow
    assert.deepEqual(await waitFor((f) => f.type === 'rst_stream' && f.streamId === 1), {
      type: 'rst_stream',
      streamId: 1,
      status: RstStatus.ProtocolError,
    });
    syn(5, { streamtype: ['c'] });
    assert.deepEqual(await waitFor((f) => f.type === 'rst_stream' && f.streamId === 5), {
      type: 'rst_stream',
      streamId: 5,
      status: RstStatus.RefusedStream,
    });
    server.destroy();
    client.destroy();
  });

  it('ends the readable side of a stream the client resets, and drops later writes', async () => {
    const { client, server, frames, syn } = await pair();
    const got = new Promise<SpdyStream>((r) => server.once('stream', r));
    syn(1, { streamtype: ['stdout'] });
    const s = await got;
    s.accept();
    const resetSeen = new Promise((r) => s.once('reset', r));
    client.write(Buffer.from([0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, RstStatus.Cancel]));
    assert.equal(await resetSeen, RstStatus.Cancel);
    assert.equal(await readAll(s), '');
    await new Promise<void>((r) => s.write('dropped', () => r()));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(frames.filter((f) => f.type === 'data').length, 0);
    server.destroy();
    client.destroy();
  });

  it('goes away on a protocol error (another SPDY version)', async () => {
    const { client, server, waitFor } = await pair();
    const closed = new Promise((r) => server.once('close', r));
    client.write(Buffer.from([0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]));
    const goaway = await waitFor((f) => f.type === 'goaway');
    assert.equal((goaway as { status: number }).status, GoAwayStatus.ProtocolError);
    await closed;
    client.destroy();
  });

  it('closes with RST for open streams and a GOAWAY naming the last stream', async () => {
    const { client, server, waitFor, syn } = await pair();
    server.on('stream', (s: SpdyStream) => s.accept());
    syn(1, { streamtype: ['x'] });
    syn(3, { streamtype: ['y'] });
    await waitFor((f) => f.type === 'syn_reply' && f.streamId === 3);
    client.on('end', () => client.end());
    await server.close();
    await waitFor((f) => f.type === 'rst_stream' && f.streamId === 1);
    await waitFor((f) => f.type === 'rst_stream' && f.streamId === 3);
    assert.deepEqual(await waitFor((f) => f.type === 'goaway'), {
      type: 'goaway',
      lastGoodStreamId: 3,
      status: 0,
    });
    client.destroy();
  });

  it('sends no more than the window of a client that announces one', async () => {
    const { client, server, frames, waitFor, syn } = await pair();
    client.write(encodeSettings([{ id: 7, value: 1000 }]));
    const got = new Promise<SpdyStream>((r) => server.once('stream', r));
    syn(1, { streamtype: ['stdout'] });
    const s = await got;
    s.accept();
    s.write(Buffer.alloc(5000, 1));
    await new Promise((r) => setTimeout(r, 50));
    const sent = () =>
      frames
        .filter((f) => f.type === 'data' && f.streamId === 1)
        .reduce((n, f) => n + (f as { data: Buffer }).data.length, 0);
    assert.equal(sent(), 1000);
    client.write(Buffer.from([0x80, 3, 0, 9, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0x0f, 0xa0])); // +4000
    await waitFor(() => sent() === 5000);
    server.destroy();
    client.destroy();
  });
});
