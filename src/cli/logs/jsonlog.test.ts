import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeEntry,
  encodeEntry,
  formatRFC3339Nano,
  formatRFC3339NanoFixed,
  jsonLogPath,
  parseRFC3339Nano,
} from './jsonlog.js';

const T = 1_704_067_200_123_456_000n; // 2024-01-01T00:00:00.123456Z

describe('json-file entries', () => {
  it('encodes one line as docker does: log, stream, RFC3339Nano UTC time with trailing zeros trimmed', () => {
    const line = encodeEntry('stdout', Buffer.from('hello\n'), T).toString();
    assert.equal(
      line,
      '{"log":"hello\\n","stream":"stdout","time":"2024-01-01T00:00:00.123456Z"}\n',
    );
  });

  it('escapes what Go escapes', () => {
    const line = encodeEntry('stderr', Buffer.from('<a href="x">&\t\u2028\n'), T).toString();
    assert.equal(
      line,
      '{"log":"\\u003ca href=\\"x\\"\\u003e\\u0026\\t\\u2028\\n","stream":"stderr","time":"2024-01-01T00:00:00.123456Z"}\n',
    );
    assert.equal(decodeEntry(line.trimEnd())?.log, '<a href="x">&\t\u2028\n');
  });

  it('formats times: whole seconds without a fraction; fixed nine digits for docker logs -t', () => {
    assert.equal(formatRFC3339Nano(1_704_067_200_000_000_000n), '2024-01-01T00:00:00Z');
    assert.equal(formatRFC3339Nano(1_704_067_200_000_000_001n), '2024-01-01T00:00:00.000000001Z');
    assert.equal(formatRFC3339NanoFixed(T), '2024-01-01T00:00:00.123456000Z');
    assert.equal(
      formatRFC3339NanoFixed(1_704_067_200_000_000_000n),
      '2024-01-01T00:00:00.000000000Z',
    );
  });

  it('parses RFC3339 times to nanoseconds, zones included', () => {
    assert.equal(parseRFC3339Nano('2024-01-01T00:00:00.123456Z'), T);
    assert.equal(parseRFC3339Nano('2024-01-01T01:00:00.123456+01:00'), T);
    assert.equal(parseRFC3339Nano('2024-01-01T00:00:00Z'), 1_704_067_200_000_000_000n);
    assert.equal(parseRFC3339Nano('yesterday'), undefined);
  });

  it('decodes what it encodes and refuses what is not an entry', () => {
    const line = encodeEntry('stderr', Buffer.from('x'), T);
    assert.deepEqual(decodeEntry(line), { log: 'x', stream: 'stderr', timeNs: T });
    assert.equal(
      decodeEntry('{"log":"x","stream":"stdin","time":"2024-01-01T00:00:00Z"}'),
      undefined,
    );
    assert.equal(decodeEntry('{"log":"x","stre'), undefined);
    assert.equal(decodeEntry('[]'), undefined);
  });

  it('names the file as docker does: <dir>/<id>-json.log', () => {
    assert.equal(jsonLogPath('/run/c/', 'abc'), '/run/c/abc-json.log');
  });
});
