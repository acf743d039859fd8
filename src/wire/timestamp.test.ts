import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromTimestamp, toTimestamp } from './timestamp.js';

describe('timestamps', () => {
  it('converts nanoseconds to google.protobuf.Timestamp and back', () => {
    const ns = 1_700_000_000_123_456_789n;
    assert.deepEqual(toTimestamp(ns), { seconds: 1_700_000_000n, nanos: 123_456_789 });
    assert.equal(fromTimestamp(toTimestamp(ns)), ns);
    assert.deepEqual(toTimestamp(0n), { seconds: 0n, nanos: 0 });
  });

  it('keeps nanos non-negative before the epoch', () => {
    assert.deepEqual(toTimestamp(-1n), { seconds: -1n, nanos: 999_999_999 });
    assert.equal(fromTimestamp(toTimestamp(-1_500_000_000n)), -1_500_000_000n);
  });

  it('reads an absent timestamp as 0', () => {
    assert.equal(fromTimestamp(undefined), 0n);
  });
});
