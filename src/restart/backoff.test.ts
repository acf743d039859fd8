import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff, INITIAL_DELAY_MS, MAX_DELAY_MS, RESET_AFTER_MS } from './backoff.js';

describe('Backoff (docker restartmanager)', () => {
  it('starts at 100 ms and doubles for tasks that exit quickly', () => {
    const b = new Backoff();
    const delays = Array.from({ length: 6 }, () => b.next(50));
    assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200]);
  });

  it('is capped at one minute', () => {
    const b = new Backoff();
    let last = 0;
    for (let i = 0; i < 30; i++) last = b.next(0);
    assert.equal(last, MAX_DELAY_MS);
  });

  it('starts again after a task that ran 10 s, or one of unknown age', () => {
    const b = new Backoff();
    b.next(0);
    b.next(0);
    assert.equal(b.next(0), 400);
    assert.equal(b.next(RESET_AFTER_MS), INITIAL_DELAY_MS);
    assert.equal(b.next(RESET_AFTER_MS - 1), 200);
    assert.equal(b.next(undefined), INITIAL_DELAY_MS);
  });
});
