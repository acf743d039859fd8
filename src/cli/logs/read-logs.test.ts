import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from '../../../test/helpers/tmp.js';
import { encodeEntry, type LogStream } from './jsonlog.js';
import type { LogConfig } from './log-config.js';
import { LogWriter } from './log-writer.js';
import { type ReadLogsOptions, readLogs } from './read-logs.js';

const dir = tempDir('berth-readlogs-');
after(() => dir.remove());
let n = 0;

const BASE = 1_704_067_200_000_000_000n; // 2024-01-01T00:00:00Z
const sec = (s: number) => BASE + BigInt(s) * 1_000_000_000n;

/** A log whose entry i (stream by parity, `line i`) was written at BASE + i s, spread over rotated files. */
function writeLog(files: number[]): LogConfig {
  const d = join(dir.path, `c${++n}`);
  mkdirSync(d);
  const path = join(d, 'c-json.log');
  let i = 0;
  files.forEach((count, f) => {
    const suffix = files.length - 1 - f === 0 ? '' : `.${files.length - 1 - f}`;
    const lines: Buffer[] = [];
    for (let k = 0; k < count; k++, i++) {
      lines.push(encodeEntry(i % 2 ? 'stderr' : 'stdout', Buffer.from(`line ${i}\n`), sec(i)));
    }
    writeFileSync(path + suffix, Buffer.concat(lines));
  });
  return { driver: 'json-file', path, maxSize: 0, maxFiles: files.length };
}

function outputs() {
  const text = { stdout: '', stderr: '' };
  const both: string[] = [];
  const stream = (s: LogStream) => {
    const p = new PassThrough();
    p.on('data', (b: Buffer) => {
      text[s] += b.toString();
      both.push(...b.toString().split('\n').filter(Boolean));
    });
    return p;
  };
  return { out: { stdout: stream('stdout'), stderr: stream('stderr') }, text, both };
}

async function read(config: LogConfig, opts: ReadLogsOptions) {
  const o = outputs();
  await readLogs(config, opts, o.out);
  return o;
}

describe('readLogs', () => {
  it('reads rotated files oldest first, each stream to its writer', async () => {
    const config = writeLog([2, 3, 2]);
    const { text, both } = await read(config, {});
    assert.deepEqual(both, ['line 0', 'line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6']);
    assert.equal(text.stdout, 'line 0\nline 2\nline 4\nline 6\n');
    assert.equal(text.stderr, 'line 1\nline 3\nline 5\n');
  });

  it('tails across rotated files, reading backwards', async () => {
    const config = writeLog([2, 3, 2]);
    assert.deepEqual((await read(config, { tail: 1 })).both, ['line 6']);
    assert.deepEqual((await read(config, { tail: 2 })).both, ['line 5', 'line 6']);
    assert.deepEqual((await read(config, { tail: 4 })).both, [
      'line 3',
      'line 4',
      'line 5',
      'line 6',
    ]);
    assert.deepEqual((await read(config, { tail: 6 })).both.length, 6);
    assert.deepEqual((await read(config, { tail: 100 })).both.length, 7);
    assert.deepEqual((await read(config, { tail: 0 })).both, []);
  });

  it('tails a file bigger than a block, an entry being written at its end not counted', async () => {
    const config = writeLog([3000]);
    writeFileSync(config.path, '{"log":"torn', { flag: 'a' });
    assert.deepEqual((await read(config, { tail: 3 })).both, [
      'line 2997',
      'line 2998',
      'line 2999',
    ]);
  });

  it('filters by since and until, and prefixes timestamps at line starts', async () => {
    const config = writeLog([3, 3]);
    const since = new Date(Number(sec(2) / 1_000_000n));
    const until = new Date(Number(sec(4) / 1_000_000n));
    assert.deepEqual((await read(config, { since, until })).both, ['line 2', 'line 3', 'line 4']);
    const { text } = await read(config, { tail: 1, timestamps: true });
    assert.equal(text.stderr, '2024-01-01T00:00:05.000000000Z line 5\n');
  });

  it('prefixes a line split into partial entries once', async () => {
    const d = join(dir.path, `c${++n}`);
    mkdirSync(d);
    const path = join(d, 'c-json.log');
    writeFileSync(
      path,
      Buffer.concat([
        encodeEntry('stdout', Buffer.from('part one, '), sec(1)),
        encodeEntry('stdout', Buffer.from('part two\n'), sec(2)),
      ]),
    );
    const { text } = await read(
      { driver: 'json-file', path, maxSize: 0, maxFiles: 1 },
      { timestamps: true },
    );
    assert.equal(text.stdout, '2024-01-01T00:00:01.000000000Z part one, part two\n');
  });

  it('a missing log reads as empty', async () => {
    const { both } = await read(
      { driver: 'json-file', path: join(dir.path, 'nope', 'x-json.log'), maxSize: 0, maxFiles: 1 },
      {},
    );
    assert.deepEqual(both, []);
  });

  it('follows growth and rotation until aborted, every entry once and in order', async () => {
    const d = join(dir.path, `c${++n}`);
    mkdirSync(d);
    const path = join(d, 'f-json.log');
    // About 5 entries a file, and files enough that none is removed before the reader gets to it.
    const config: LogConfig = { driver: 'json-file', path, maxSize: 400, maxFiles: 50 };
    const w = await LogWriter.open(config);
    await w.write('stdout', Buffer.from('before\n'));

    const ac = new AbortController();
    const o = outputs();
    const following = readLogs(config, { follow: true, signal: ac.signal, pollMs: 5 }, o.out);
    const want = ['before'];
    // Now and then a pause, so the reader sees some rotations one by one and others several at once.
    for (let i = 0; i < 40; i++) {
      await w.write(i % 3 ? 'stdout' : 'stderr', Buffer.from(`follow ${i}\n`));
      want.push(`follow ${i}`);
      if (i % 2) await sleep(3);
    }
    await w.close();
    await sleep(50);
    ac.abort();
    await following;
    assert.deepEqual(o.both, want);
    assert.ok(existsSync(`${path}.7`), 'the log did not rotate as often as the test means');
  });

  it('follows several rotations that happen between two looks, in order', async () => {
    const d = join(dir.path, `c${++n}`);
    mkdirSync(d);
    const path = join(d, 'r-json.log');
    const config: LogConfig = { driver: 'json-file', path, maxSize: 400, maxFiles: 50 };
    const w = await LogWriter.open(config);
    await w.write('stdout', Buffer.from('first\n'));
    const ac = new AbortController();
    const o = outputs();
    const following = readLogs(config, { follow: true, signal: ac.signal, pollMs: 200 }, o.out);
    for (let i = 0; i < 100 && o.both.length === 0; i++) await sleep(5);
    assert.deepEqual(o.both, ['first']);
    // The reader now sleeps: these rotate the file about six times before it looks again.
    const want = ['first'];
    for (let i = 0; i < 30; i++) {
      await w.write('stderr', Buffer.from(`burst ${i}\n`));
      want.push(`burst ${i}`);
    }
    await w.close();
    assert.ok(existsSync(`${path}.5`), 'the burst did not rotate the log several times');
    await sleep(300);
    ac.abort();
    await following;
    assert.deepEqual(o.both, want);
  });

  it('a follow started before the log exists picks it up', async () => {
    const d = join(dir.path, `c${++n}`);
    mkdirSync(d);
    const config: LogConfig = {
      driver: 'json-file',
      path: join(d, 'late-json.log'),
      maxSize: 0,
      maxFiles: 1,
    };
    const ac = new AbortController();
    const o = outputs();
    const following = readLogs(config, { follow: true, signal: ac.signal, pollMs: 5 }, o.out);
    await sleep(20);
    const w = await LogWriter.open(config);
    await w.write('stderr', Buffer.from('late\n'));
    await w.close();
    ac.abort();
    await following;
    assert.equal(o.text.stderr, 'late\n');
  });
});
