import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIOUri } from './io.js';

describe('stdio URIs', () => {
  it('paths and fifo:// are FIFOs, empty is /dev/null', () => {
    assert.deepEqual(parseIOUri(''), { kind: 'null' });
    assert.deepEqual(parseIOUri('/run/fifo/x-stdout'), {
      kind: 'fifo',
      path: '/run/fifo/x-stdout',
    });
    assert.deepEqual(parseIOUri('fifo:///run/x'), { kind: 'fifo', path: '/run/x' });
  });

  it('file:// and binary:// as containerd parses them', () => {
    assert.deepEqual(parseIOUri('file:///var/log/c%201.log'), {
      kind: 'file',
      path: '/var/log/c 1.log',
    });
    assert.deepEqual(parseIOUri('binary:///usr/bin/logger?id=abc&flag'), {
      kind: 'binary',
      path: '/usr/bin/logger',
      args: ['id', 'abc', 'flag'],
    });
    assert.throws(() => parseIOUri('http://x/y'), /unsupported scheme/);
  });
});
