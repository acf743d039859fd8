import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO } from './helpers/berthd.js';

/**
 * scripts/shim-start.cjs, the shim's wrapper, with a stand-in for the
 * bundle: it prints which code cache the wrapper compiled it with, and
 * with `-train` emits the event a daemon emits after its first container
 * (src/shim/code-cache.ts). The real shim trains its cache in the
 * end-to-end tests; this checks the wrapper's rules.
 */
const NAME = 'containerd-shim-berth-v1';
const FAKE_SCRIPT = `// stand-in
(function (module, require, url) {
  function unusedUntilLater(x) { return [x, x * 2, String(x)].join(':'); }
  process.stdout.write(String(globalThis[Symbol.for('berth.shim.codeCache')]) + '\\n');
  if (process.argv.includes('-train')) {
    unusedUntilLater(1);
    process.emit('berth-shim:trained');
  }
})`;

describe('the shim wrapper and its trained code cache', () => {
  let dir: string;
  const run = (...args: string[]) =>
    execFileSync(process.execPath, [join(dir, `${NAME}.cjs`), ...args], {
      encoding: 'utf8',
    }).trim();
  const trained = () => readdirSync(dir).filter((f) => f.startsWith(`${NAME}.trained-`));

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-shim-start-'));
    copyFileSync(join(REPO, 'scripts/shim-start.cjs'), join(dir, `${NAME}.cjs`));
    copyFileSync(join(REPO, 'scripts/code-cache-file.cjs'), join(dir, 'code-cache-file.cjs'));
    writeFileSync(join(dir, `${NAME}.script.js`), FAKE_SCRIPT);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a daemon without caches compiles from source and, once trained, writes the cache', () => {
    assert.equal(run('-socket', 'unix:///x'), 'none');
    assert.deepEqual(trained(), [], 'nothing written before the event');
    assert.equal(run('-socket', 'unix:///x', '-train'), 'none');
    assert.equal(trained().length, 1);
    assert.match(
      trained()[0] ?? '',
      new RegExp(`^${NAME}\\.trained-${FAKE_SCRIPT.length}-\\d+\\.cache$`),
    );
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith('.tmp')),
      [],
      'no temp file left',
    );
  });

  it('later daemons load it; commands (start, delete, -v) do not', () => {
    assert.equal(run('-spare', '-address', '/run/x.sock'), 'trained');
    assert.equal(run('-namespace', 'n', '-id', 'c', '-socket', 'unix:///x', '-train'), 'trained');
    assert.equal(run('-namespace', 'n', '-id', 'c', 'start'), 'none');
    assert.equal(run('-namespace', 'n', '-id', 'c', '-bundle', '/b', 'delete'), 'none');
    assert.equal(run('-v'), 'none');
  });

  it('a damaged cache is never given to V8: compiled from source, and trained again', () => {
    const file = join(dir, trained()[0] ?? '');
    const good = readFileSync(file);
    // One flipped byte in V8's data (after the CRC's header): V8 itself would not notice.
    const flipped = Buffer.from(good);
    flipped[flipped.length - 10] = (flipped[flipped.length - 10] ?? 0) ^ 0xff;
    for (const bad of [flipped, good.subarray(0, good.length - 100), Buffer.from('no')]) {
      writeFileSync(file, bad);
      assert.equal(run('-socket', 'unix:///x'), 'none');
    }
    assert.equal(run('-socket', 'unix:///x', '-train'), 'none');
    assert.equal(run('-socket', 'unix:///x'), 'trained');
  });

  it('a changed script never meets the cache of the old one', () => {
    const later = new Date(Date.now() + 5000);
    utimesSync(join(dir, `${NAME}.script.js`), later, later);
    assert.equal(run('-socket', 'unix:///x'), 'none');
  });
});
