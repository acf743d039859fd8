import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeHeaders, type HeaderField, HpackDecoder } from './index.js';

const CLIENT_PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
const PREFACE_LENGTH = CLIENT_PREFACE.length; // 24
const FRAME_HEADER_LENGTH = 9;
const TYPE_HEADERS = 0x1;
const TYPE_CONTINUATION = 0x9;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** An empty SETTINGS frame: the server side of the handshake, enough for the client to proceed. */
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0]);

/**
 * Collects the header blocks of the HEADERS frames a client sends (HEADERS plus its
 * CONTINUATION fragments, joined; padding and priority stripped), in arrival order.
 */
class BlockCollector {
  readonly blocks: Buffer[] = [];
  private buffered = Buffer.alloc(0);
  private prefaceSeen = false;
  private pending: Buffer[] | undefined;
  private waiters: { count: number; resolve: () => void }[] = [];

  push(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    if (!this.prefaceSeen) {
      if (this.buffered.length < PREFACE_LENGTH) return;
      assert.equal(this.buffered.subarray(0, PREFACE_LENGTH).toString('latin1'), CLIENT_PREFACE);
      this.buffered = this.buffered.subarray(PREFACE_LENGTH);
      this.prefaceSeen = true;
    }
    while (this.buffered.length >= FRAME_HEADER_LENGTH) {
      const length = this.buffered.readUIntBE(0, 3);
      if (this.buffered.length < FRAME_HEADER_LENGTH + length) break;
      const type = this.buffered[3]!;
      const flags = this.buffered[4]!;
      const payload = this.buffered.subarray(FRAME_HEADER_LENGTH, FRAME_HEADER_LENGTH + length);
      this.buffered = this.buffered.subarray(FRAME_HEADER_LENGTH + length);
      if (type === TYPE_HEADERS) {
        assert.equal(this.pending, undefined, 'HEADERS inside a header block');
        let start = 0;
        let end = payload.length;
        if (flags & FLAG_PADDED) {
          end -= payload[0]!;
          start = 1;
        }
        if (flags & FLAG_PRIORITY) start += 5;
        this.pending = [payload.subarray(start, end)];
      } else if (type === TYPE_CONTINUATION) {
        assert.ok(this.pending, 'CONTINUATION outside a header block');
        this.pending.push(payload);
      } else {
        assert.equal(this.pending, undefined, `frame type ${type} inside a header block`);
        continue;
      }
      if (flags & FLAG_END_HEADERS) {
        this.blocks.push(Buffer.concat(this.pending));
        this.pending = undefined;
        this.waiters = this.waiters.filter((w) => {
          if (this.blocks.length < w.count) return true;
          w.resolve();
          return false;
        });
      }
    }
  }

  /** Resolves once `count` blocks have arrived in all. */
  wait(count: number): Promise<void> {
    if (this.blocks.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }
}

/** The decoder's dynamic table, newest first, probed by decoding indexed fields from 62 on. */
function dynamicTable(dec: HpackDecoder): HeaderField[] {
  const entries: HeaderField[] = [];
  for (let i = 62; ; i++) {
    const probe = i < 127 ? [0x80 | i] : [0xff, ((i - 127) & 0x7f) | 0x80, (i - 127) >> 7];
    try {
      entries.push(...dec.decode(Buffer.from(probe)));
    } catch {
      return entries;
    }
  }
}

describe('HPACK interop with nghttp2 (node:http2 client)', () => {
  let dir: string;
  let server: net.Server;
  let client: http2.ClientHttp2Session;
  const collector = new BlockCollector();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hpack-'));
    const path = join(dir, 'h2.sock');
    server = net.createServer((socket) => {
      socket.write(EMPTY_SETTINGS);
      socket.on('data', (chunk: Buffer) => collector.push(chunk));
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    client = http2.connect('http://x', { createConnection: () => net.connect(path) });
    client.on('error', () => {});
  });

  after(async () => {
    client?.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('decodes header blocks from a real encoder across requests on one connection', async () => {
    const sent: HeaderField[][] = [];
    const request = (fields: HeaderField[], sensitive: string[] = []) => {
      const headers: http2.OutgoingHttpHeaders = {};
      for (const [name, value] of fields) {
        const prior = headers[name];
        if (prior === undefined) headers[name] = value;
        else headers[name] = [...(Array.isArray(prior) ? prior : [String(prior)]), value];
      }
      // nghttp2 sends the fields listed under this symbol as Never Indexed literals.
      const stream = client.request(
        { ...headers, [http2.sensitiveHeaders]: sensitive },
        { endStream: false },
      );
      stream.on('error', () => {});
      sent.push(fields);
    };
    const base: HeaderField[] = [
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', '/containerd.services.content.v1.Content/Info'],
      [':authority', 'localhost'],
      ['content-type', 'application/grpc'],
      ['user-agent', 'grpc-go/1.72.0'],
      ['te', 'trailers'],
      ['containerd-namespace', 'default'],
    ];
    const long = 'The quick brown fox jumps over the lazy dog; '.repeat(8);
    for (let i = 0; i < 12; i++) {
      request(
        [
          ...base,
          ['grpc-timeout', `${i + 1}S`],
          // Repeated every time: nghttp2 indexes it and refers to it afterwards.
          ['x-long', long],
          // New every time: 12 × (~330 + 32) octets overflow the 4096-octet table, so
          // nghttp2 (which indexes them) and the decoder both evict.
          ['x-request-id', `${i}-${'abcdef0123456789'.repeat(20)}`],
          ['x-multi', 'one'],
          ['x-multi', `two ${i}`],
          ['authorization', `Bearer secret-${i}`],
        ],
        ['authorization'],
      );
    }
    // A block beyond the 16384-octet frame limit, so nghttp2 sends CONTINUATION frames.
    request([...base, ['x-huge', '0123456789abcdefghijklmnopqrstuvwxyz'.repeat(700)]]);
    await collector.wait(sent.length);

    const dec = new HpackDecoder({ maxListSize: 1 << 20 });
    assert.equal(collector.blocks.length, sent.length);
    collector.blocks.forEach((block, i) => {
      const got = dec.decode(block);
      // nghttp2 emits the pseudo-headers first, in the order given; the rest in order too.
      assert.deepEqual(got, sent[i], `request ${i}`);
    });

    // The tables agree after eviction: the first request ids are gone, the last ones remain.
    const table = dynamicTable(dec);
    const ids = table.filter(([name]) => name === 'x-request-id').map(([, v]) => v.split('-')[0]);
    assert.ok(ids.length > 0 && ids.length < 12, `request ids in the table: ${ids}`);
    assert.equal(ids[0], '11');
    assert.ok(!ids.includes('0'));

    // Evidence the interesting paths ran: later blocks are much smaller than the first
    // (dynamic-table references), and the never-indexed authorization stays a literal.
    const first = collector.blocks[0]!;
    const later = collector.blocks[5]!;
    assert.ok(later.length < first.length / 2, `${later.length} vs ${first.length}`);
    assert.ok(collector.blocks[12]!.length > 16384);
    for (let i = 0; i < 12; i++) {
      // Never Indexed (0001xxxx) with the static name authorization (23 = 15 + 8).
      assert.ok(collector.blocks[i]!.includes(Buffer.from([0x1f, 0x08])), `request ${i}`);
    }
  });

  it('encodeHeaders output reads back (static-table HPACK only, no state)', () => {
    // Not sent to nghttp2: a fresh decoder and the static-index octet stand in for that.
    const fields: HeaderField[] = [
      [':status', '200'],
      ['content-type', 'application/grpc'],
      ['grpc-encoding', 'identity'],
    ];
    const block = encodeHeaders(fields);
    assert.equal(block[0], 0x88);
    assert.deepEqual(new HpackDecoder().decode(block), fields);
  });
});
