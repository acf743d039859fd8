import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedMutex } from './concurrency.js';

const never = new AbortController().signal;
const tick = () => new Promise((r) => setImmediate(r));

describe('KeyedMutex', () => {
  it('one holder per key, the others in arrival order; other keys never wait', async () => {
    const m = new KeyedMutex();
    const order: string[] = [];
    const first = await m.lock('a', never);
    assert.equal(m.held('a'), true);
    const second = m.lock('a', never).then((r) => {
      order.push('second');
      return r;
    });
    const third = m.lock('a', never).then((r) => {
      order.push('third');
      return r;
    });
    const other = await m.lock('b', never);
    other();
    await tick();
    assert.deepEqual(order, [], 'a is still held');
    first();
    first(); // a second release does nothing
    const release2 = await second;
    await tick();
    assert.deepEqual(order, ['second']);
    release2();
    (await third)();
    assert.deepEqual(order, ['second', 'third']);
    assert.equal(m.held('a'), false);
    assert.equal(m.held('b'), false);
  });

  it('a waiter whose signal aborts stops waiting with its reason and never takes the key', async () => {
    const m = new KeyedMutex();
    const holder = await m.lock('k', never);
    const ac = new AbortController();
    let took = false;
    const cancelled = m.lock('k', ac.signal).then(() => {
      took = true;
    });
    const next = m.lock('k', never);
    ac.abort(new Error('gave up'));
    await assert.rejects(cancelled, /gave up/);
    holder();
    (await next)();
    assert.equal(took, false);
    assert.equal(m.held('k'), false);
  });

  it('an aborted signal fails at once, even for a free key', async () => {
    const m = new KeyedMutex();
    const ac = new AbortController();
    ac.abort(new Error('already'));
    await assert.rejects(m.lock('free', ac.signal), /already/);
    assert.equal(m.held('free'), false);
  });
});
