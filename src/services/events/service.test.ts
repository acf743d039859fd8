import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ClientReadableStream, credentials, status } from '@grpc/grpc-js';
import { namespaceMetadata, serveForTest } from '../../../test/helpers/grpc-server.js';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import {
  type Envelope,
  EventsClient,
  type ForwardRequest,
  type PublishRequest,
} from '../../api/containerd/services/events/v1/events.js';
import { EventExchange } from '../../events/index.js';
import type { GrpcServer } from '../../server/server.js';
import { eventFields, namespaceCreate, namespaceDelete } from '../../wire/event-payloads.js';
import { fromTimestamp, toTimestamp } from '../../wire/timestamp.js';
import { eventsService } from './service.js';

type GrpcError = Error & { code: number; details: string };

const md = namespaceMetadata;
const any = (p: { typeUrl: string; value: Uint8Array }) => ({
  typeUrl: p.typeUrl,
  value: Buffer.from(p.value),
});

/** Collects a subscription's envelopes and how it ended. */
class Collector {
  readonly envelopes: Envelope[] = [];
  readonly ended: Promise<{ code: number; details: string }>;
  constructor(readonly stream: ClientReadableStream<Envelope>) {
    stream.on('data', (e: Envelope) => this.envelopes.push(e));
    this.ended = new Promise((resolve) => {
      stream.on('error', (e: GrpcError) => resolve({ code: e.code, details: e.details }));
      stream.on('status', (s) => {
        if (s.code === status.OK) resolve({ code: s.code, details: s.details });
      });
    });
  }
  get topics(): string[] {
    return this.envelopes.map((e) => e.topic);
  }
  async waitFor(n: number): Promise<void> {
    const deadline = Date.now() + 5000;
    while (this.envelopes.length < n) {
      if (Date.now() > deadline) throw new Error(`got ${JSON.stringify(this.topics)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

describe('Events service over a socket', () => {
  let dir: TempDir;
  let server: GrpcServer;
  let exchange: EventExchange;
  let client: EventsClient;
  const streams: ClientReadableStream<Envelope>[] = [];

  before(async () => {
    dir = tempDir();
    const socket = join(dir.path, 'ev.sock');
    exchange = new EventExchange({ decode: eventFields, limits: { maxEvents: 8 } });
    server = await serveForTest(socket, [eventsService(exchange)]);
    client = new EventsClient(`unix:${socket}`, credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 << 20,
    });
  });
  after(async () => {
    for (const s of streams) s.cancel();
    client.close();
    await server.stop();
    dir.remove();
  });

  const publish = (req: PublishRequest, namespace?: string) =>
    new Promise<void>((resolve, reject) =>
      client.publish(req, md(namespace), (err) => (err ? reject(err) : resolve())),
    );
  const forward = (req: ForwardRequest, namespace?: string) =>
    new Promise<void>((resolve, reject) =>
      client.forward(req, md(namespace), (err) => (err ? reject(err) : resolve())),
    );
  /** Subscribes and waits until the exchange has registered it. */
  const subscribe = async (filters: string[] = []) => {
    const before = exchange.subscriberCount;
    const stream = client.subscribe({ filters }, md());
    streams.push(stream);
    const c = new Collector(stream);
    const deadline = Date.now() + 5000;
    while (exchange.subscriberCount === before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2));
    }
    return c;
  };
  const settle = async () => {
    for (let i = 0; i < 100 && exchange.subscriberCount > 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  it('streams what is published, with the namespace from the header', async () => {
    const sub = await subscribe();
    const before = BigInt(Date.now()) * 1_000_000n;
    const event = any(namespaceCreate({ name: 'a', labels: { k: 'v' } }));
    await publish({ topic: '/namespaces/create', event }, 'ns1');
    await sub.waitFor(1);
    const [env] = sub.envelopes;
    assert.ok(env?.timestamp);
    const ts = fromTimestamp(env.timestamp);
    assert.ok(ts >= before - 1_000_000n && ts < before + 10_000_000_000n);
    assert.deepEqual(
      { ...env, timestamp: undefined },
      {
        timestamp: undefined,
        namespace: 'ns1',
        topic: '/namespaces/create',
        event,
      },
    );
    sub.stream.cancel();
    await settle();
  });

  it('requires a namespace, a valid topic and an event to publish', async () => {
    await assert.rejects(
      publish({ topic: '/a', event: any(namespaceDelete({ name: 'x' })) }),
      (e: GrpcError) =>
        e.code === status.FAILED_PRECONDITION &&
        e.details === 'failed publishing event: namespace is required: failed precondition',
    );
    await assert.rejects(
      publish({ topic: 'a', event: any(namespaceDelete({ name: 'x' })) }, 'n'),
      (e: GrpcError) =>
        e.code === status.INVALID_ARGUMENT &&
        e.details === `envelope topic "a": must start with '/': invalid argument`,
    );
    await assert.rejects(
      publish({ topic: '/a' }, 'n'),
      (e: GrpcError) => e.code === status.INVALID_ARGUMENT && /event is required/.test(e.details),
    );
  });

  it('forwards envelopes unchanged, without a namespace header', async () => {
    const sub = await subscribe();
    const envelope = {
      timestamp: toTimestamp(1_600_000_000_123_456_789n),
      namespace: 'shimns',
      topic: '/tasks/exit',
      event: any(namespaceDelete({ name: 'x' })),
    };
    await forward({ envelope });
    await sub.waitFor(1);
    assert.deepEqual(sub.envelopes, [envelope]);
    await assert.rejects(
      forward({ envelope: { ...envelope, timestamp: undefined } }),
      (e: GrpcError) =>
        e.code === status.INVALID_ARGUMENT &&
        /timestamp must be set on forwarded event/.test(e.details),
    );
    await assert.rejects(
      forward({ envelope: { ...envelope, namespace: 'bad/ns' } }),
      (e: GrpcError) =>
        e.code === status.INVALID_ARGUMENT &&
        /event envelope has invalid namespace/.test(e.details),
    );
    await assert.rejects(forward({}), (e: GrpcError) => e.code === status.INVALID_ARGUMENT);
    sub.stream.cancel();
    await settle();
  });

  it('filters subscriptions on topic, namespace and event fields', async () => {
    const byTopic = await subscribe(['topic=="/namespaces/delete"']);
    const byNs = await subscribe(['namespace==two']);
    const byField = await subscribe(['event.labels.k==v', 'event.name==z']);
    const ev = (name: string, labels: Record<string, string> = {}) =>
      any(namespaceCreate({ name, labels }));
    await publish({ topic: '/namespaces/create', event: ev('x', { k: 'v' }) }, 'one');
    await publish({ topic: '/namespaces/delete', event: ev('y') }, 'one');
    await publish({ topic: '/namespaces/create', event: ev('z') }, 'two');
    await Promise.all([byTopic.waitFor(1), byNs.waitFor(1), byField.waitFor(2)]);
    assert.deepEqual(byTopic.topics, ['/namespaces/delete']);
    assert.deepEqual(
      byNs.envelopes.map((e) => e.namespace),
      ['two'],
    );
    assert.deepEqual(
      byField.envelopes.map((e) => e.namespace),
      ['one', 'two'],
    );
    for (const s of [byTopic, byNs, byField]) s.stream.cancel();
    await settle();
  });

  it('answers an invalid filter with INVALID_ARGUMENT', async () => {
    const c = new Collector(client.subscribe({ filters: ['topic=='] }, md()));
    const end = await c.ended;
    assert.equal(end.code, status.INVALID_ARGUMENT);
    assert.match(end.details, /failed parsing subscription filters/);
  });

  it('unsubscribes when the client cancels', async () => {
    const sub = await subscribe();
    assert.equal(exchange.subscriberCount, 1);
    sub.stream.cancel();
    await settle();
    assert.equal(exchange.subscriberCount, 0);
  });

  it('disconnects a client that does not read, with RESOURCE_EXHAUSTED', async () => {
    const fast = await subscribe();
    const slow = await subscribe();
    slow.stream.pause();
    // Big payloads fill HTTP/2 and socket buffers; then the queue (8) overflows.
    const event = any(namespaceCreate({ name: 'big', labels: { pad: 'x'.repeat(256 << 10) } }));
    let sent = 0;
    while (sent < 100 && exchange.subscriberCount === 2) {
      await publish({ topic: '/flood', event }, 'n');
      sent++;
      await fast.waitFor(sent); // this one keeps up
    }
    assert.equal(exchange.subscriberCount, 1);
    slow.stream.resume();
    const end = await slow.ended;
    assert.equal(end.code, status.RESOURCE_EXHAUSTED);
    assert.match(end.details, /^events subscriber fell behind/);
    assert.ok(slow.envelopes.length < sent);
    // The reader that kept up is still subscribed.
    await publish({ topic: '/after', event: any(namespaceDelete({ name: 'x' })) }, 'n');
    await fast.waitFor(sent + 1);
    assert.equal(fast.topics.at(-1), '/after');
    fast.stream.cancel();
    await settle();
  });

  it('ends streams when the server stops, even one stuck behind a client that does not read', async () => {
    const sub = await subscribe();
    const stuck = await subscribe();
    stuck.stream.pause();
    // Fill the flow-control windows until a write to `stuck` waits (its
    // queue starts to fill), without overflowing the queue.
    const event = any(namespaceCreate({ name: 'big', labels: { pad: 'x'.repeat(1 << 20) } }));
    for (let i = 0; exchange.stats().queued === 0; i++) {
      assert.ok(i < 100, 'no write ever waited');
      await publish({ topic: '/fill', event }, 'n');
      await sub.waitFor(i + 1);
    }
    assert.equal(exchange.subscriberCount, 2);
    const stopped = server.stop();
    const end = await sub.ended;
    assert.equal(end.code, status.UNAVAILABLE, 'as grpc-go clients see containerd stop');
    // Both subscriptions are gone at once, though the stuck stream's data
    // is still in flight (the server cancels it after its grace period).
    assert.equal(exchange.subscriberCount, 0);
    assert.deepEqual(exchange.stats(), { subscribers: 0, queued: 0, queuedBytes: 0 });
    stuck.stream.cancel();
    await stopped;
  });
});
