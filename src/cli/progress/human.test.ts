import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { humanDuration, humanRate, humanSize } from './human.js';

describe('humanSize', () => {
  it('prints decimal units with 3 significant digits, as docker does', () => {
    const cases: [number, string][] = [
      [0, '0 B'],
      [-5, '0 B'],
      [1, '1 B'],
      [999, '999 B'],
      [1000, '1 kB'],
      [1234, '1.23 kB'],
      [3_200_000, '3.2 MB'],
      [12_345_678, '12.3 MB'],
      [123_456_789, '123 MB'],
      [999_499, '999 kB'],
      [999_950, '1 MB'],
      [1_000_000_000, '1 GB'],
      [2.5e12, '2.5 TB'],
    ];
    for (const [n, want] of cases) assert.equal(humanSize(n), want, `humanSize(${n})`);
  });

  it('prints rates per second', () => {
    assert.equal(humanRate(10_100_000), '10.1 MB/s');
    assert.equal(humanRate(0), '0 B/s');
  });
});

describe('humanDuration', () => {
  it('prints ms, seconds with a tenth, then minutes and hours', () => {
    assert.equal(humanDuration(850), '850 ms');
    assert.equal(humanDuration(1234), '1.2 s');
    assert.equal(humanDuration(2000), '2 s');
    assert.equal(humanDuration(42_900), '42 s');
    assert.equal(humanDuration(125_000), '2m05s');
    assert.equal(humanDuration(3_720_000), '1h02m');
  });
});
