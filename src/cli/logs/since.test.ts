import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isInvalidArgument } from '../../core/errdefs/index.js';
import { goDuration as parseGoDuration } from '../../core/time/index.js';
import { parseSince } from './since.js';

const now = new Date('2024-06-01T12:00:00Z');

describe('parseSince', () => {
  it('takes Go durations as time before now', () => {
    assert.equal(parseSince('10m', now).toISOString(), '2024-06-01T11:50:00.000Z');
    assert.equal(parseSince('1h30m', now).toISOString(), '2024-06-01T10:30:00.000Z');
    assert.equal(parseSince('1.5h', now).toISOString(), '2024-06-01T10:30:00.000Z');
    assert.equal(parseSince('-1m', now).toISOString(), '2024-06-01T12:01:00.000Z');
    assert.equal(parseSince('250ms', now).toISOString(), '2024-06-01T11:59:59.750Z');
  });

  it('takes RFC3339 times and their prefixes, with zones', () => {
    assert.equal(parseSince('2024-01-02T03:04:05Z', now).toISOString(), '2024-01-02T03:04:05.000Z');
    assert.equal(
      parseSince('2024-01-02T03:04:05.123456789Z', now).toISOString(),
      '2024-01-02T03:04:05.123Z',
    );
    assert.equal(
      parseSince('2024-01-02T03:04:05+02:00', now).toISOString(),
      '2024-01-02T01:04:05.000Z',
    );
    assert.equal(parseSince('2024-01-02T03:04Z', now).toISOString(), '2024-01-02T03:04:00.000Z');
    assert.equal(parseSince('2024-01-02Z', now).toISOString(), '2024-01-02T00:00:00.000Z');
  });

  it('reads times without a zone as local time', () => {
    assert.equal(
      parseSince('2024-01-02T03:04:05', now).getTime(),
      new Date(2024, 0, 2, 3, 4, 5).getTime(),
    );
    assert.equal(parseSince('2024-01-02', now).getTime(), new Date(2024, 0, 2).getTime());
  });

  it('takes Unix seconds, with a fraction; 0 is the epoch, not a duration', () => {
    assert.equal(parseSince('1704067200', now).toISOString(), '2024-01-01T00:00:00.000Z');
    assert.equal(parseSince('1704067200.5', now).toISOString(), '2024-01-01T00:00:00.500Z');
    assert.equal(parseSince('0', now).getTime(), 0);
  });

  it('refuses the rest', () => {
    for (const bad of ['', 'yesterday', '2024-13-45T99', '10x', '1.2.3']) {
      assert.throws(() => parseSince(bad, now), isInvalidArgument, bad);
    }
  });

  it('parses Go durations as time.ParseDuration does', () => {
    assert.equal(parseGoDuration('1h2m3s4ms'), 3_723_004);
    assert.equal(parseGoDuration('1500us'), 1.5);
    assert.equal(parseGoDuration('10'), undefined);
    assert.equal(parseGoDuration('h'), undefined);
    assert.equal(parseGoDuration(''), undefined);
  });
});
