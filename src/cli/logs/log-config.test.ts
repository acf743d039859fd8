import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isInvalidArgument } from '../../core/errdefs/index.js';
import {
  LOGGER_BINARY,
  logConfig,
  loggerURI,
  loggerURIFor,
  parseLogOpts,
  parseSize,
} from './log-config.js';
import { parseLoggerArgs } from './logger-args.js';

/** What containerd's runc shim runs for a binary:// URI: the path, then each query key and its first value. */
function shimCommand(uri: string): { cmd: string; args: string[] } {
  const u = new URL(uri);
  assert.equal(u.protocol, 'binary:');
  const args: string[] = [];
  // Go's url.Query() is a map: the order is any. Reverse it to prove the logger does not depend on it.
  for (const k of [...new Set(u.searchParams.keys())].reverse())
    args.push(k, u.searchParams.get(k) ?? '');
  return { cmd: decodeURIComponent(u.pathname), args };
}

describe('log config', () => {
  it("parses docker's json-file --log-opt, with defaults 10 MiB and 3 files", () => {
    assert.deepEqual(parseLogOpts([]), { maxSize: 10 * 1024 * 1024, maxFiles: 3 });
    assert.deepEqual(parseLogOpts(['max-size=10m', 'max-file=3']), {
      maxSize: 10 * 1024 * 1024,
      maxFiles: 3,
    });
    assert.deepEqual(parseLogOpts(['max-file=1', 'max-size=512k']), {
      maxSize: 512 * 1024,
      maxFiles: 1,
    });
    assert.deepEqual(parseLogOpts(['max-size=-1']).maxSize, -1);
    for (const bad of [
      ['max-file=0'],
      ['max-file=x'],
      ['max-size=ten'],
      ['mode=non-blocking'],
      ['max-size'],
    ]) {
      assert.throws(() => parseLogOpts(bad), isInvalidArgument, bad.join());
    }
  });

  it('parses sizes as docker does (binary units, optional b/ib, case-insensitive)', () => {
    assert.equal(parseSize('100'), 100);
    assert.equal(parseSize('1k'), 1024);
    assert.equal(parseSize('1.5MB'), 1.5 * 1024 * 1024);
    assert.equal(parseSize('2GiB'), 2 * 1024 ** 3);
    assert.throws(() => parseSize('0'), isInvalidArgument);
    assert.throws(() => parseSize('1x'), isInvalidArgument);
  });

  it("the config names docker's file in the state dir", () => {
    assert.deepEqual(logConfig('/run/berth/c1', 'c1'), {
      driver: 'json-file',
      path: '/run/berth/c1/c1-json.log',
      maxSize: 10 * 1024 * 1024,
      maxFiles: 3,
    });
  });

  it('the log URI becomes a command line the logger reads back, whatever the order', () => {
    const uri = loggerURI({
      dir: '/var/run/x y/c&1',
      maxSize: 2048,
      maxFiles: 2,
      node: '/opt/node/bin/node',
    });
    assert.match(uri, /^binary:\/\/\//);
    const { cmd, args } = shimCommand(uri);
    assert.equal(cmd, LOGGER_BINARY);
    assert.match(cmd, /\/bin\/berth-logger$/);
    assert.deepEqual(parseLoggerArgs(args), {
      dir: '/var/run/x y/c&1',
      maxSize: 2048,
      maxFiles: 2,
      stopTimeoutMs: 10_000,
    });
    assert.equal(args[args.indexOf('--node') + 1], '/opt/node/bin/node');
  });

  it("the log URI of a config writes to that config's file", () => {
    const { args } = shimCommand(
      loggerURIFor(logConfig('/s/c9', 'c9', { maxSize: 5, maxFiles: 4 })),
    );
    assert.deepEqual(parseLoggerArgs(args), {
      dir: '/s/c9',
      maxSize: 5,
      maxFiles: 4,
      stopTimeoutMs: 10_000,
    });
  });

  it('the logger refuses arguments it cannot use', () => {
    assert.throws(() => parseLoggerArgs([]), /--dir/);
    assert.throws(() => parseLoggerArgs(['--dir', '/x', '--max-file', '0']), /max-file/);
    assert.deepEqual(parseLoggerArgs(['dir', '/x', 'stop-timeout', '0']), {
      dir: '/x',
      maxSize: 10 * 1024 * 1024,
      maxFiles: 3,
      stopTimeoutMs: 0,
    });
  });
});
