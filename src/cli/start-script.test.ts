/**
 * scripts/berth-start.cjs (dist/berth/berth.js once built): which code cache
 * a command line loads, and the caches berth writes for itself.
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from '../../test/helpers/tmp.js';

interface UserCache {
  dir: string;
  command: string;
  path: string;
}

const start = createRequire(import.meta.url)('../../scripts/berth-start.cjs') as {
  commandOf(argv: string[]): string;
  cacheFor(argv: string[]): string;
  readUserCache(path: string): Buffer | undefined;
  saveUserCache(user: UserCache, script: { createCachedData(): Buffer }): void;
};

describe('berth start', () => {
  const work = tempDir('berth-start-');
  after(() => work.remove());

  it('finds the command after the global flags, two words for a group', () => {
    const cases: [string[], string][] = [
      [['ps'], 'ps'],
      [['--address', '/x.sock', '-n', 'ns', 'ps', '-a'], 'ps'],
      [['--address=/x.sock', '--debug', 'run', '--rm', 'busybox', 'ps'], 'run'],
      [['-D', 'container', 'run', 'x'], 'container-run'],
      [['image', 'ls', '-q'], 'image-ls'],
      [['--data-root', 'image', 'rm', 'x'], 'rm'],
      [['--help'], ''],
      [[], ''],
      [['--', 'ps'], ''],
      [['Weird/command'], ''],
    ];
    for (const [argv, want] of cases) assert.equal(start.commandOf(argv), want, argv.join(' '));
  });

  it("picks the build's caches: local without the daemon, ps's own, berth.cache else", () => {
    const name = (argv: string[]) => basename(start.cacheFor(argv));
    assert.equal(name([]), 'berth-local.cache');
    assert.equal(name(['version', '--client']), 'berth-local.cache');
    assert.equal(name(['run', '--help']), 'berth-local.cache');
    assert.equal(name(['-a', '/s', 'ps', '-a']), 'berth-ps.cache');
    assert.equal(name(['container', 'ls']), 'berth-ps.cache');
    assert.equal(name(['run', 'busybox', 'ps']), 'berth.cache');
  });

  it('reads back what it wrote; a damaged, shared or missing file is no cache', () => {
    const dir = join(work.path, 'a', 'code-cache');
    const user = { dir, command: 'run', path: join(dir, 'run-0a1b.cache') };
    const data = Buffer.from('v8 code cache bytes');
    start.saveUserCache(user, { createCachedData: () => data });
    assert.deepEqual(start.readUserCache(user.path), data);
    assert.equal(readdirSync(dir).length, 1, 'no temporary file left');

    const bytes = readFileSync(user.path);
    const damaged = Buffer.from(bytes);
    damaged.writeUInt8(damaged.readUInt8(damaged.length - 1) ^ 1, damaged.length - 1);
    writeFileSync(user.path, damaged);
    assert.equal(start.readUserCache(user.path), undefined);

    writeFileSync(user.path, bytes);
    chmodSync(user.path, 0o620);
    assert.equal(start.readUserCache(user.path), undefined, 'group-writable');
    chmodSync(user.path, 0o600);
    assert.deepEqual(start.readUserCache(user.path), data);

    writeFileSync(user.path, 'not a cache');
    assert.equal(start.readUserCache(user.path), undefined);
    assert.equal(start.readUserCache(join(dir, 'none.cache')), undefined);
  });

  it('keeps the two newest builds of a command, and writes into no shared directory', () => {
    const dir = join(work.path, 'b');
    mkdirSync(dir, { mode: 0o700 });
    const old = (name: string, daysAgo: number) => {
      writeFileSync(join(dir, name), 'x');
      const t = Date.now() / 1000 - daysAgo * 86400;
      utimesSync(join(dir, name), t, t);
    };
    old('run-aaaa.cache', 2);
    old('run-bbbb.cache', 1);
    old('rm-cccc.cache', 3);
    old('run-notes.txt', 4);
    const user = { dir, command: 'run', path: join(dir, 'run-dddd.cache') };
    start.saveUserCache(user, { createCachedData: () => Buffer.from('new') });
    assert.deepEqual(readdirSync(dir).sort(), [
      'rm-cccc.cache',
      'run-bbbb.cache',
      'run-dddd.cache',
      'run-notes.txt',
    ]);

    const shared = join(work.path, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    const there = { dir: shared, command: 'run', path: join(shared, 'run-eeee.cache') };
    start.saveUserCache(there, { createCachedData: () => Buffer.from('new') });
    assert.equal(existsSync(there.path), false);
  });
});
