import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { goDuration, parseGoDuration } from './duration.js';

describe('goDuration (Go time.ParseDuration) in milliseconds', () => {
  const cases: [string, number][] = [
    ['10s', 10_000],
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
    ['300ms', 300],
    ['2h45m', 9_900_000],
    ['-2m', -120_000],
    ['+5s', 5_000],
    ['0', 0],
    ['1500us', 1.5],
    ['1000000ns', 1],
    ['1µs', 0.001],
    ['1μs', 0.001],
    ['.5s', 500],
  ];
  for (const [s, ms] of cases) it(`${s} → ${ms}`, () => assert.equal(goDuration(s), ms));
  it('refuses numbers without units, unknown units and garbage', () => {
    for (const s of ['10', '10x', '', 's', '1m-3s']) assert.equal(goDuration(s), undefined, s);
  });
});

describe('parseGoDuration (a config value)', () => {
  it('takes an unsigned duration and refuses a signed one, naming the key', () => {
    assert.equal(parseGoDuration('4h0m0s', 'x'), 4 * 3600_000);
    assert.throws(() => parseGoDuration('-5s', 'key'), /key: invalid duration "-5s"/);
    assert.throws(() => parseGoDuration('+5s', 'key'), /invalid duration/);
  });
});
