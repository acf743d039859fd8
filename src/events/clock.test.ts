import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { wallClock } from './clock.js';

describe('wallClock', () => {
  it('reads the wall clock in nanoseconds, never going backwards', () => {
    const clock = wallClock();
    const before = BigInt(Date.now()) * 1_000_000n;
    let last = clock();
    assert.ok(last >= before - 1_000_000n && last < before + 1_000_000_000n);
    for (let i = 0; i < 1000; i++) {
      const t = clock();
      assert.ok(t >= last);
      last = t;
    }
  });
});
