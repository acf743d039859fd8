import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isFailedPrecondition,
  isInvalidArgument,
  isResourceExhausted,
} from '../core/errdefs/index.js';
import type { AnyPayload, Envelope } from '../core/events/index.js';
import { nullLogger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { EventExchange } from './exchange.js';
import type { Subscription } from './subscription.js';

const ctx = (namespace?: string, signal = new AbortController().signal): OpContext => ({
  ...(namespace !== undefined && { namespace }),
  signal,
  log: nullLogger,
});

/** Test payloads are JSON; the test decoder reads them back. */
const JSON_TYPE = 'test.Json';
const json = (fields: object): AnyPayload => ({
  typeUrl: JSON_TYPE,
  value: new TextEncoder().encode(JSON.stringify(fields)),
});
let decodes = 0;
const decode = (e: AnyPayload) => {
  decodes++;
  if (e.typeUrl !== JSON_TYPE) return undefined;
  return JSON.parse(new TextDecoder().decode(e.value)) as Record<string, unknown>;
};

/** Reads what is queued now, without waiting for more. */
async function drain(sub: AsyncIterable<Envelope>): Promise<Envelope[]> {
  const s = sub as Subscription;
  const out: Envelope[] = [];
  while (s.queued > 0) {
    const r = await s.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

const topics = (envs: Envelope[]) => envs.map((e) => `${e.namespace} ${e.topic}`);

describe('EventExchange', () => {
  it('publishes envelopes with a timestamp, the namespace, the topic and the payload', async () => {
    const ex = new EventExchange({ clock: () => 42n });
    const sub = ex.subscribe(ctx());
    const payload = json({ name: 'a' });
    await ex.publish(ctx('default'), '/namespaces/create', payload);
    assert.deepEqual(await drain(sub), [
      { timestamp: 42n, namespace: 'default', topic: '/namespaces/create', event: payload },
    ]);
  });

  it('requires a valid namespace and topic to publish, as containerd', async () => {
    const ex = new EventExchange();
    const sub = ex.subscribe(ctx());
    await assert.rejects(
      ex.publish(ctx(), '/a', json({})),
      (e: Error) =>
        isFailedPrecondition(e) && e.message === 'failed publishing event: namespace is required',
    );
    await assert.rejects(ex.publish(ctx('bad/ns'), '/a', json({})), isInvalidArgument);
    for (const topic of ['', 'a', '/', '/a/', '/a b']) {
      await assert.rejects(ex.publish(ctx('n'), topic, json({})), isInvalidArgument, topic);
    }
    assert.deepEqual(await drain(sub), []);
  });

  it('delivers to every subscriber, across namespaces, in publish order, from subscription on', async () => {
    const ex = new EventExchange();
    await ex.publish(ctx('n1'), '/early', json({}));
    const a = ex.subscribe(ctx('n1'));
    const b = ex.subscribe(ctx());
    await ex.publish(ctx('n1'), '/one', json({}));
    await ex.publish(ctx('n2'), '/two', json({}));
    await ex.publish(ctx('n1'), '/three', json({}));
    const want = ['n1 /one', 'n2 /two', 'n1 /three'];
    assert.deepEqual(topics(await drain(a)), want);
    assert.deepEqual(topics(await drain(b)), want);
  });

  it('filters on topic, namespace and event fields; several filters are OR', async () => {
    decodes = 0;
    const ex = new EventExchange({ decode });
    const subs = {
      topic: ex.subscribe(ctx(), ['topic=="/images/create"']),
      topicRe: ex.subscribe(ctx(), ['topic~="^/namespaces/"']),
      ns: ex.subscribe(ctx(), ['namespace==n2']),
      nsAndTopic: ex.subscribe(ctx(), ['namespace==n1,topic~=delete']),
      // As in containerd, a value starting with / must be quoted.
      or: ex.subscribe(ctx(), ['topic=="/images/create"', 'namespace==n2']),
      name: ex.subscribe(ctx(), ['event.name==x']),
      label: ex.subscribe(ctx(), ['event.labels."a.b"==c']),
      nested: ex.subscribe(ctx(), ['event.io.terminal==true']),
      absent: ex.subscribe(ctx(), ['event.nope']),
      notName: ex.subscribe(ctx(), ['event.name!=x']),
      timestamp: ex.subscribe(ctx(), ['timestamp']),
    };
    await ex.publish(ctx('n1'), '/images/create', json({ name: 'x', labels: { 'a.b': 'c' } }));
    await ex.publish(ctx('n2'), '/namespaces/create', json({ name: 'y' }));
    await ex.publish(ctx('n1'), '/namespaces/delete', json({ io: { terminal: true } }));
    await ex.publish(ctx('n1'), '/other', { typeUrl: 'unknown.Type', value: new Uint8Array() });
    const got = Object.fromEntries(
      await Promise.all(Object.entries(subs).map(async ([k, s]) => [k, topics(await drain(s))])),
    );
    assert.deepEqual(got, {
      topic: ['n1 /images/create'],
      topicRe: ['n2 /namespaces/create', 'n1 /namespaces/delete'],
      ns: ['n2 /namespaces/create'],
      nsAndTopic: ['n1 /namespaces/delete'],
      or: ['n1 /images/create', 'n2 /namespaces/create'],
      name: ['n1 /images/create'],
      label: ['n1 /images/create'],
      nested: ['n1 /namespaces/delete'],
      absent: [],
      notName: ['n2 /namespaces/create', 'n1 /namespaces/delete', 'n1 /other'],
      timestamp: [],
    });
    // One decode per envelope, however many subscribers look at its fields.
    assert.equal(decodes, 4);
  });

  it('sees no event fields without a decoder, or when decoding fails', async () => {
    const plain = new EventExchange();
    const failing = new EventExchange({
      decode: () => {
        throw new Error('corrupt');
      },
    });
    for (const ex of [plain, failing]) {
      const sub = ex.subscribe(ctx(), ['event.name==x', 'topic=="/t2"']);
      await ex.publish(ctx('n'), '/t1', json({ name: 'x' }));
      await ex.publish(ctx('n'), '/t2', json({ name: 'x' }));
      assert.deepEqual(topics(await drain(sub)), ['n /t2']);
    }
  });

  it('refuses invalid filters when subscribing', () => {
    const ex = new EventExchange();
    assert.throws(
      () => ex.subscribe(ctx(), ['topic==']),
      (e: Error) =>
        isInvalidArgument(e) &&
        /^failed parsing subscription filters: filter "topic=="/.test(e.message),
    );
    assert.equal(ex.subscriberCount, 0);
  });

  it('waits for the next event when the queue is empty', async () => {
    const ex = new EventExchange();
    const sub = ex.subscribe(ctx())[Symbol.asyncIterator]();
    const next = sub.next();
    await ex.publish(ctx('n'), '/later', json({}));
    const r = await next;
    assert.equal(r.done, false);
    assert.equal((r.value as Envelope).topic, '/later');
  });

  it('forwards envelopes unchanged, checking their namespace and topic', async () => {
    const ex = new EventExchange({ clock: () => 1n });
    const sub = ex.subscribe(ctx());
    const env: Envelope = {
      timestamp: 99n,
      namespace: 'shim',
      topic: '/tasks/exit',
      event: json({}),
    };
    await ex.forward(ctx(), env);
    assert.deepEqual(await drain(sub), [env]);
    await assert.rejects(ex.forward(ctx('n'), { ...env, namespace: '' }), isInvalidArgument);
    await assert.rejects(ex.forward(ctx('n'), { ...env, topic: 'tasks' }), isInvalidArgument);
    assert.deepEqual(await drain(sub), []);
  });

  it('ends iteration cleanly when the signal aborts', async () => {
    const ex = new EventExchange();
    const ac = new AbortController();
    const sub = ex.subscribe(ctx(undefined, ac.signal));
    await ex.publish(ctx('n'), '/a', json({}));
    const seen: string[] = [];
    const done = (async () => {
      for await (const e of sub) {
        seen.push(e.topic);
        if (seen.length === 1) setImmediate(() => ac.abort());
      }
    })();
    await done;
    assert.deepEqual(seen, ['/a']);
    assert.equal(ex.subscriberCount, 0);
    // Already aborted: nothing is registered, and iteration ends at once.
    const late = ex.subscribe(ctx(undefined, ac.signal));
    assert.equal(ex.subscriberCount, 0);
    await ex.publish(ctx('n'), '/b', json({}));
    assert.deepEqual((await late[Symbol.asyncIterator]().next()).done, true);
  });

  it('unsubscribes when the reader breaks out, and on close()', async () => {
    const ex = new EventExchange();
    const a = ex.subscribe(ctx());
    const b = ex.subscribe(ctx());
    await ex.publish(ctx('n'), '/x', json({}));
    for await (const _ of a) break;
    assert.equal(ex.subscriberCount, 1);
    const pending = b[Symbol.asyncIterator]().next();
    ex.close();
    assert.equal((await pending).done, false); // the queued one first
    assert.equal((await b[Symbol.asyncIterator]().next()).done, true);
    assert.equal(ex.subscriberCount, 0);
  });
});

describe('EventExchange slow subscribers', () => {
  it('disconnects a subscriber that falls behind while the others carry on', async () => {
    const ex = new EventExchange({ limits: { maxEvents: 10 } });
    const slow = ex.subscribe(ctx()) as Subscription;
    const fast = ex.subscribe(ctx());
    const got: string[] = [];
    for (let i = 0; i < 25; i++) {
      await ex.publish(ctx('n'), `/e${i}`, json({}));
      got.push(...(await drain(fast)).map((e) => e.topic));
      assert.ok(slow.queued <= 10);
    }
    assert.equal(got.length, 25);
    assert.equal(ex.subscriberCount, 1);
    assert.equal(slow.queued, 0); // dropped at once, not when read
    await assert.rejects(
      slow.next(),
      (e: Error) => isResourceExhausted(e) && /fell behind/.test(e.message),
    );
    assert.equal((await slow.next()).done, true);
  });

  it('bounds the bytes queued, too', async () => {
    const ex = new EventExchange({ limits: { maxBytes: 10_000 } });
    const slow = ex.subscribe(ctx()) as Subscription;
    const big: AnyPayload = { typeUrl: 't', value: new Uint8Array(3000) };
    let max = 0;
    for (let i = 0; i < 10 && slow.open; i++) {
      await ex.publish(ctx('n'), '/big', big);
      max = Math.max(max, slow.queuedBytes);
    }
    assert.equal(slow.open, false);
    assert.ok(max <= 10_000 && max >= 9000, String(max));
    await assert.rejects(slow.next(), isResourceExhausted);
  });

  it('rejects a read that is already waiting when the subscriber is disconnected', async () => {
    const ex = new EventExchange({ limits: { maxEvents: 1, maxBytes: 200 } });
    const sub = ex.subscribe(ctx()) as Subscription;
    const pending = sub.next();
    // Handed straight to the waiting reader, so it does not count.
    await ex.publish(ctx('n'), '/a', json({}));
    assert.equal((await pending).value?.topic, '/a');
    await ex.publish(ctx('n'), '/b', json({}));
    await ex.publish(ctx('n'), '/c', json({}));
    await assert.rejects(sub.next(), isResourceExhausted);
  });

  it('never blocks a publisher and keeps memory bounded under default limits', async () => {
    const ex = new EventExchange();
    const stuck = ex.subscribe(ctx()) as Subscription;
    const reader = ex.subscribe(ctx(), ['topic=="/never"']);
    const payload: AnyPayload = { typeUrl: 't', value: new Uint8Array(1024) };
    const start = Date.now();
    for (let i = 0; i < 50_000; i++) await ex.publish(ctx('n'), '/flood', payload);
    assert.ok(Date.now() - start < 10_000);
    assert.equal(stuck.open, false);
    assert.equal(stuck.queued, 0);
    assert.equal((reader as Subscription).open, true);
    assert.equal(ex.subscriberCount, 1);
  });
});
