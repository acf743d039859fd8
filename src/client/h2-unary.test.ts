import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { huffmanEncode, huffmanEncodedLength } from '../server/h2/hpack/huffman.js';
import { HeaderDecoder, huffmanDecode } from './h2-hpack.js';
import { H2UnaryConnection } from './h2-unary.js';

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

describe('HPACK decoding', () => {
  it('decodes RFC 7541 C.4: requests with Huffman strings and the dynamic table', () => {
    const d = new HeaderDecoder();
    assert.deepEqual(d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff')), [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ]);
    assert.deepEqual(d.decode(hex('8286 84be 5886 a8eb 1064 9cbf')), [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ]);
    assert.deepEqual(d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')), [
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ]);
  });

  it('evicts by size (RFC 7541 C.5: a 256-octet table)', () => {
    const d = new HeaderDecoder(256);
    d.decode(
      hex(`4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
           2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
           6c65 2e63 6f6d`),
    );
    d.decode(hex('4803 3330 37c1 c0bf'));
    // :status 307 pushed :status 302 out (222 + 42 > 256); index 62 is :status 307, 66 is past the end.
    assert.deepEqual(d.decode(hex('be')), [[':status', '307']]);
    assert.throws(() => d.decode(hex('c2')), /out of range/);
  });

  it('decodes every octet Huffman-coded, and refuses bad padding and EOS', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1');
    const out = Buffer.alloc(huffmanEncodedLength(all));
    huffmanEncode(all, out, 0);
    assert.equal(huffmanDecode(out), all);
    assert.equal(huffmanDecode(hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff')), 'www.example.com');
    // 'a' is 00011 (5 bits): 3 one-bits of padding are fine, zero-bits are not.
    assert.equal(huffmanDecode(Buffer.from([0b00011111])), 'a');
    assert.throws(() => huffmanDecode(Buffer.from([0b00011000])), /padding/);
    // A whole octet of ones is more padding than allowed.
    assert.throws(() => huffmanDecode(Buffer.from([0b00011111, 0xff])), /padding/);
    assert.throws(() => huffmanDecode(hex('ffff fffc')), /EOS/);
  });
});

describe('H2UnaryConnection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-h2-unary-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A node:http2 (nghttp2: Huffman, dynamic table) server answering by path. */
  async function server(
    answer: (
      path: string,
      headers: http2.IncomingHttpHeaders,
      body: Buffer,
    ) => {
      status: number;
      message?: string;
      body?: Buffer;
      trailersOnly?: boolean;
    },
  ): Promise<{ socket: string; close(): Promise<void> }> {
    const socket = join(dir, `s${Math.random().toString(16).slice(2)}.sock`);
    const s = http2.createServer();
    s.on('stream', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const a = answer(String(headers[':path']), headers, Buffer.concat(chunks));
        const trailers = {
          'grpc-status': String(a.status),
          ...(a.message !== undefined && { 'grpc-message': encodeURIComponent(a.message) }),
        };
        if (a.trailersOnly) {
          stream.respond(
            { ':status': 200, 'content-type': 'application/grpc', ...trailers },
            {
              endStream: true,
            },
          );
          return;
        }
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc' },
          {
            waitForTrailers: true,
          },
        );
        stream.on('wantTrailers', () => stream.sendTrailers(trailers));
        stream.end(a.body ?? Buffer.alloc(0));
      });
    });
    await new Promise<void>((resolve) => s.listen(socket, resolve));
    return {
      socket,
      close: () => new Promise((resolve) => s.close(() => resolve())),
    };
  }

  it('makes concurrent calls: headers sent, bodies and statuses read, large answers whole', async () => {
    const big = Buffer.alloc(300_000, 7);
    const srv = await server((path, headers, body) => {
      assert.equal(headers['content-type'], 'application/grpc');
      assert.equal(headers.te, 'trailers');
      assert.equal(headers['containerd-namespace'], 'ns1');
      if (path === '/big') return { status: 0, body: big };
      if (path === '/echo') return { status: 0, body };
      if (path === '/missing')
        return { status: 5, message: 'thing x: not found %', trailersOnly: true };
      return { status: 12, message: 'unknown method' };
    });
    const conn = new H2UnaryConnection(srv.socket);
    try {
      const h: [string, string][] = [['containerd-namespace', 'ns1']];
      const [a, b, c, d] = await Promise.all([
        conn.call('/big', h, Buffer.from([0, 0, 0, 0, 0])),
        conn.call('/echo', h, Buffer.from('hello')),
        conn.call('/missing', h, Buffer.alloc(0)),
        conn.call('/other', h, Buffer.alloc(0)),
      ]);
      assert.equal(a.status, 0);
      assert.ok(a.body.equals(big));
      assert.deepEqual([b.status, b.body.toString()], [0, 'hello']);
      assert.deepEqual([c.status, c.message, c.body.length], [5, 'thing x: not found %', 0]);
      assert.deepEqual([d.status, d.message], [12, 'unknown method']);
      // The same headers again: now from the server's dynamic table.
      const again = await conn.call('/missing', h, Buffer.alloc(0));
      assert.deepEqual([again.status, again.message], [5, 'thing x: not found %']);
    } finally {
      conn.close();
      await srv.close();
    }
  });

  it('fails every call with the socket error when nothing listens', async () => {
    const conn = new H2UnaryConnection(join(dir, 'none.sock'));
    const calls = [conn.call('/a', [], Buffer.alloc(0)), conn.call('/b', [], Buffer.alloc(0))];
    for (const c of calls) await assert.rejects(c, /connect ENOENT/);
    assert.match(String(conn.failure), /connect ENOENT/);
    await assert.rejects(conn.call('/c', [], Buffer.alloc(0)), /connect ENOENT/);
  });

  it('fails pending calls when the peer closes the connection', async () => {
    const s = createServer((c) => c.once('data', () => c.destroy()));
    const socket = join(dir, 'closing.sock');
    await new Promise<void>((resolve) => s.listen(socket, resolve));
    assert.equal(typeof (s.address() as AddressInfo | string), 'string');
    const conn = new H2UnaryConnection(socket);
    await assert.rejects(conn.call('/a', [], Buffer.alloc(0)), /connection closed|ECONNRESET/);
    conn.close();
    await new Promise((resolve) => s.close(resolve));
  });
});
