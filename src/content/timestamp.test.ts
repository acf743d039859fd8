import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatTimestamp, parseTimestamp } from './timestamp.js';

const ms = (iso: string) => BigInt(Date.parse(iso)) * 1_000_000n;

describe('ingest timestamps', () => {
  it('reads what containerd writes (Go MarshalText, RFC 3339 nano)', () => {
    const table: ReadonlyArray<[string, bigint | undefined]> = [
      ['2024-05-01T10:00:00.123456789Z', ms('2024-05-01T10:00:00Z') + 123456789n],
      ['2024-05-01T10:00:00.123456789+02:00', ms('2024-05-01T08:00:00Z') + 123456789n],
      ['2024-05-01T10:00:00.5-01:30', ms('2024-05-01T11:30:00Z') + 500000000n],
      ['2024-05-01T10:00:00Z', ms('2024-05-01T10:00:00Z')],
      ['1970-01-01T00:00:00Z\n', 0n],
      ['2024-05-01 10:00:00Z', undefined],
      ['2024-05-01T10:00:00', undefined],
      ['2024-05-01T10:00:00.1234567891Z', undefined],
      ['', undefined],
    ];
    for (const [text, want] of table) {
      assert.equal(parseTimestamp(text), want, text);
    }
  });

  it('writes UTC with nine fraction digits and reads it back', () => {
    for (const ns of [0n, 1n, 1714557600123456789n, ms('1969-12-31T23:59:59Z') + 5n]) {
      const text = formatTimestamp(ns);
      assert.match(text, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
      assert.equal(parseTimestamp(text), ns, text);
    }
    assert.equal(formatTimestamp(1714557600123456789n), '2024-05-01T10:00:00.123456789Z');
  });
});
