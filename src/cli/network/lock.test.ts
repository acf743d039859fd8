import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import { withNetworkLock } from './lock.js';

describe('withNetworkLock', () => {
  let tmp: TempDir;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.remove());
  const flags = () => ({ dataRoot: tmp.path, cniPath: '/none', cniConfDir: '/none' });

  it('runs calls of one process one after another, a failed one not blocking the next', async () => {
    const log: string[] = [];
    let inside = 0;
    const job = (name: string, fail = false) =>
      withNetworkLock(flags(), async () => {
        inside++;
        assert.equal(inside, 1, `${name} alone`);
        await new Promise((r) => setImmediate(r));
        log.push(name);
        inside--;
        if (fail) throw new Error(`${name} failed`);
        return name;
      });
    const results = await Promise.allSettled([job('a'), job('b', true), job('c')]);
    assert.deepEqual(log, ['a', 'b', 'c']);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
  });

  it('waits for another process holding it', async () => {
    const main = join(tmp.path, 'holder.mjs');
    const lockTs = fileURLToPath(new URL('./lock.ts', import.meta.url));
    writeFileSync(
      main,
      `import { withNetworkLock } from ${JSON.stringify(lockTs)};\n` +
        `await withNetworkLock(${JSON.stringify(flags())}, () => new Promise((r) => { console.log('held'); process.stdin.once('data', r); }));\n`,
    );
    const tsx = fileURLToPath(import.meta.resolve('tsx'));
    const child = spawn(process.execPath, ['--import', tsx, main], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => resolve());
        child.once('exit', (c) => reject(new Error(`holder exited ${c}`)));
      });
      let letGo = false;
      const ours = withNetworkLock(flags(), async () => letGo);
      setTimeout(() => {
        letGo = true;
        child.stdin.end('go\n');
      }, 100);
      assert.equal(await ours, true, 'ran only once the holder had let go');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    }
  });
});
