import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { goSprintf } from './go-fmt.js';
import {
  bytesSize,
  goTimeString,
  humanDuration,
  humanSize,
  shortDigest,
  statusText,
  timeAgo,
  truncateId,
} from './humanize.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('humanDuration (units.HumanDuration)', () => {
  const cases: [number, string][] = [
    [0, 'Less than a second'],
    [999, 'Less than a second'],
    [S, '1 second'],
    [2 * S, '2 seconds'],
    [59 * S + 999, '59 seconds'],
    [M, 'About a minute'],
    [2 * M - 1, 'About a minute'],
    [2 * M, '2 minutes'],
    [59 * M + 59 * S, '59 minutes'],
    [H, 'About an hour'],
    [H + 29 * M, 'About an hour'],
    [H + 30 * M, '2 hours'],
    [47 * H, '47 hours'],
    [47 * H + 30 * M, '2 days'],
    [13 * D, '13 days'],
    [14 * D, '2 weeks'],
    [59 * D, '8 weeks'],
    [60 * D, '2 months'],
    [729 * D, '24 months'],
    [730 * D, '2 years'],
    [3 * 365 * D, '3 years'],
  ];
  for (const [ms, text] of cases)
    it(`${ms}ms → ${text}`, () => assert.equal(humanDuration(ms), text));
});

describe('timeAgo and statusText', () => {
  const now = new Date('2026-01-01T12:00:00Z');
  const ago = (ms: number) => new Date(now.getTime() - ms);
  it('timeAgo', () => {
    assert.equal(timeAgo(ago(3 * M), now), '3 minutes ago');
    assert.equal(timeAgo(ago(0), now), 'Less than a second ago');
  });
  it('docker status lines', () => {
    assert.equal(statusText({ state: 'running', startedAt: ago(3 * M) }, now), 'Up 3 minutes');
    assert.equal(
      statusText({ state: 'paused', startedAt: ago(H) }, now),
      'Up About an hour (Paused)',
    );
    assert.equal(
      statusText({ state: 'exited', exitCode: 0, startedAt: ago(M), finishedAt: ago(2 * S) }, now),
      'Exited (0) 2 seconds ago',
    );
    assert.equal(
      statusText(
        { state: 'exited', exitCode: 137, startedAt: ago(D), finishedAt: ago(3 * D) },
        now,
      ),
      'Exited (137) 3 days ago',
    );
    assert.equal(statusText({ state: 'exited' }, now), 'Created');
    assert.equal(statusText({ state: 'created' }, now), 'Created');
    assert.equal(
      statusText({ state: 'restarting', exitCode: 1, finishedAt: ago(5 * S) }, now),
      'Restarting (1) 5 seconds ago',
    );
    assert.equal(statusText({ state: 'dead' }, now), 'Dead');
    assert.equal(statusText({ state: 'removing' }, now), 'Removal In Progress');
  });
});

describe('humanSize (HumanSizeWithPrecision 3) and bytesSize (BytesSize)', () => {
  const decimal: [number, string][] = [
    [0, '0B'],
    [1, '1B'],
    [999, '999B'],
    [1000, '1kB'],
    [1024, '1.02kB'],
    [562_000, '562kB'],
    [999_499, '999kB'],
    [999_999, '1e+03kB'], // Go's %.3g of 999.999, as docker prints it
    [1_234_567, '1.23MB'],
    [4_300_000, '4.3MB'],
    [1e9, '1GB'],
    [12_345_678_901, '12.3GB'],
    [1e12, '1TB'],
  ];
  for (const [n, text] of decimal)
    it(`humanSize ${n} → ${text}`, () => assert.equal(humanSize(n), text));
  const binary: [number, string][] = [
    [0, '0B'],
    [1023, '1023B'],
    [1024, '1KiB'],
    [1536, '1.5KiB'],
    [100 * 1024 ** 2, '100MiB'],
    [1.5 * 1024 ** 3, '1.5GiB'],
    [1024 ** 2 - 1, '1024KiB'],
    [123_456_789, '117.7MiB'],
  ];
  for (const [n, text] of binary)
    it(`bytesSize ${n} → ${text}`, () => assert.equal(bytesSize(n), text));
});

describe('ids', () => {
  it('truncateId keeps 12 characters and drops an algorithm', () => {
    assert.equal(truncateId('0123456789abcdef0123'), '0123456789ab');
    assert.equal(truncateId('sha256:0123456789abcdef'), '0123456789ab');
    assert.equal(truncateId('short'), 'short');
    assert.equal(shortDigest(`sha256:${'f'.repeat(64)}`), 'f'.repeat(12));
  });
});

describe('goSprintf %g as Go formats it', () => {
  it('precision and exponents', () => {
    assert.equal(goSprintf('%.3g', [1.005]), '1');
    assert.equal(goSprintf('%.3g', [0.0001234]), '0.000123');
    assert.equal(goSprintf('%.3g', [0.00001234]), '1.23e-05');
    assert.equal(goSprintf('%g', [1e21]), '1e+21');
    assert.equal(goSprintf('%.4g', [117.737]), '117.7');
    // Go's shortest %v of float64s: exponent from 1e+06 on.
    assert.equal(
      goSprintf('%v|%v|%v', [1234567.5, 100000000.5, 123456.7]),
      '1.2345675e+06|1.000000005e+08|123456.7',
    );
    assert.equal(goSprintf('%v', [0.00001234]), '1.234e-05');
  });
});

describe('goTimeString (Go Time.String, docker CreatedAt)', () => {
  it('prints the local time with offset and zone', () => {
    const d = new Date('2026-01-02T15:04:05Z');
    const s = goTimeString(d);
    assert.match(s, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [-+]\d{4} \S+$/);
    if (d.getTimezoneOffset() === 0) assert.equal(s, '2026-01-02 15:04:05 +0000 UTC');
    assert.match(goTimeString(new Date('2026-01-02T15:04:05.250Z')), /:05\.25 /);
  });
});
