import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from '../../../test/helpers/tmp.js';
import { decodeEntry } from './jsonlog.js';
import { LogWriter } from './log-writer.js';

const dir = tempDir('berth-logs-');
after(() => dir.remove());
let n = 0;
const fresh = () => join(dir.path, `c${++n}-json.log`);

function entries(path: string) {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const e = decodeEntry(l);
      assert.ok(e, `not an entry: ${l}`);
      return e;
    });
}

describe('LogWriter', () => {
  it('writes both streams in json-file format, each stream in order; close writes unfinished lines', async () => {
    const path = fresh();
    const w = await LogWriter.open({ path, maxSize: 0, maxFiles: 1 });
    await w.write('stdout', Buffer.from('out 1\nout'));
    await w.write('stderr', Buffer.from('err 1\n'));
    await w.write('stdout', Buffer.from(' 2\n'));
    await w.write('stderr', Buffer.from('no newline'));
    await w.close();
    const got = entries(path);
    assert.deepEqual(
      got.map((e) => [e.stream, e.log]),
      [
        ['stdout', 'out 1\n'],
        ['stderr', 'err 1\n'],
        ['stdout', 'out 2\n'],
        ['stderr', 'no newline'],
      ],
    );
    const times = got.map((e) => e.timeNs);
    assert.deepEqual([...times].sort(), times, 'times do not go back');
    assert.ok(Math.abs(Number((got[0]?.timeNs ?? 0n) / 1_000_000n) - Date.now()) < 60_000);
  });

  it('appends to an existing log', async () => {
    const path = fresh();
    writeFileSync(path, '{"log":"old\\n","stream":"stdout","time":"2024-01-01T00:00:00Z"}\n');
    const w = await LogWriter.open({ path, maxSize: 0, maxFiles: 1 });
    await w.write('stdout', Buffer.from('new\n'));
    await w.close();
    assert.deepEqual(
      entries(path).map((e) => e.log),
      ['old\n', 'new\n'],
    );
  });

  it('rotates before a file would pass max-size, keeping max-file files', async () => {
    const path = fresh();
    const line = (i: number) => `line ${String(i).padStart(3, '0')}\n`;
    // One entry is about 80 bytes: 3 fit in 300.
    const w = await LogWriter.open({ path, maxSize: 300, maxFiles: 3 });
    for (let i = 0; i < 20; i++) await w.write('stdout', Buffer.from(line(i)));
    await w.close();
    const names = readdirSync(dir.path)
      .filter((f) => f.startsWith(`c${n}-`))
      .sort();
    assert.deepEqual(names, [`c${n}-json.log`, `c${n}-json.log.1`, `c${n}-json.log.2`]);
    const all = [`${path}.2`, `${path}.1`, path].flatMap((p) => {
      const size = readFileSync(p).length;
      assert.ok(size <= 300, `${p}: ${size} bytes`);
      return entries(p).map((e) => e.log);
    });
    // What is kept is the newest entries, in order, and more than two files' worth.
    assert.equal(all.at(-1), line(19));
    assert.ok(all.length >= 7 && all.length < 20, `${all.length} kept`);
    assert.deepEqual(
      all,
      Array.from({ length: all.length }, (_, k) => line(20 - all.length + k)),
    );
  });

  it('max-file 1 empties the file instead', async () => {
    const path = fresh();
    const w = await LogWriter.open({ path, maxSize: 200, maxFiles: 1 });
    for (let i = 0; i < 10; i++) await w.write('stderr', Buffer.from(`entry ${i}\n`));
    await w.close();
    const logs = entries(path).map((e) => e.log);
    assert.ok(logs.length > 0 && logs.length < 10, JSON.stringify(logs));
    assert.equal(logs.at(-1), 'entry 9\n');
    assert.ok(!readdirSync(dir.path).includes(`c${n}-json.log.1`));
  });

  it('holds back its caller while much is queued, never more than a bounded amount', async () => {
    const path = fresh();
    const w = await LogWriter.open({ path, maxSize: 0, maxFiles: 1 });
    const chunk = Buffer.from(`${'z'.repeat(1023)}\n`.repeat(512)); // 512 KiB
    let sawFull = false;
    for (let i = 0; i < 8; i++) if (!w.writeNoWait('stdout', chunk)) sawFull = true;
    assert.ok(sawFull, 'never asked to wait');
    await new Promise<void>((res) => w.onDrain(res));
    await w.close();
    assert.equal(entries(path).length, 8 * 512);
  });
});
