import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isResourceExhausted } from '../../core/errdefs/index.js';
import { RequestCache } from './request-cache.js';

describe('streaming request cache', () => {
  it('hands out random 8-character URL-safe tokens, each usable once', () => {
    const cache = new RequestCache<string>();
    const tokens = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const t = cache.insert(`req${i}`);
      assert.match(t, /^[A-Za-z0-9_-]{8}$/);
      tokens.add(t);
    }
    assert.equal(tokens.size, 200);
    const [first] = tokens;
    assert.ok(first);
    const taken = cache.consume(first);
    assert.match(taken ?? '', /^req\d+$/);
    assert.equal(cache.consume(first), undefined);
    assert.equal(cache.consume('unknown!'), undefined);
    assert.equal(cache.size, 199);
  });

  it('expires entries after the TTL and drops them as new ones come', () => {
    let now = 1_000;
    const cache = new RequestCache<string>({ ttlMs: 60_000, now: () => now });
    const a = cache.insert('a');
    now += 30_000;
    const b = cache.insert('b');
    now += 30_000; // a is exactly at its expiry: still valid
    assert.equal(cache.consume(a), 'a');
    now += 1;
    const c = cache.insert('c');
    assert.equal(cache.size, 2, 'nothing expired yet but a (consumed)');
    now += 30_000; // b expired
    assert.equal(cache.consume(b), undefined);
    assert.equal(cache.consume(c), 'c');
    cache.insert('d');
    now += 60_001;
    cache.insert('e');
    assert.equal(cache.size, 1, 'd was dropped when e came in');
  });

  it('refuses more than maxInFlight waiting requests', () => {
    let now = 0;
    const cache = new RequestCache<number>({ maxInFlight: 3, ttlMs: 10, now: () => now });
    for (let i = 0; i < 3; i++) cache.insert(i);
    assert.throws(
      () => cache.insert(4),
      (err: Error) =>
        isResourceExhausted(err) &&
        /maximum number of in-flight requests exceeded/.test(err.message),
    );
    now = 11;
    assert.doesNotThrow(() => cache.insert(5), 'room again once the others expired');
  });
});
