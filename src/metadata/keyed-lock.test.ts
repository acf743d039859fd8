import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedLock } from './keyed-lock.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('KeyedLock', () => {
  it('serialises runs on a key and lets other keys through', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const run = (name: string, keys: string[]) =>
      lock.run(keys, async () => {
        log.push(`${name}+`);
        await tick();
        log.push(`${name}-`);
      });
    await Promise.all([run('a1', ['a']), run('a2', ['a']), run('b', ['b'])]);
    const at = (e: string) => log.indexOf(e);
    assert.ok(at('a2+') > at('a1-'), 'a2 waits for a1');
    assert.ok(at('b+') < at('a1-'), 'b does not wait');
    assert.equal(lock.held('a'), false);
  });

  it('takes several keys in order, so crossing runs do not deadlock', async () => {
    const lock = new KeyedLock();
    let n = 0;
    await Promise.all([
      lock.run(['x', 'y'], async () => {
        await tick();
        n++;
      }),
      lock.run(['y', 'x'], async () => {
        await tick();
        n++;
      }),
      lock.run(['y', 'y'], async () => {
        n++;
      }),
    ]);
    assert.equal(n, 3);
  });

  it('releases on failure', async () => {
    const lock = new KeyedLock();
    await assert.rejects(
      lock.run(['k'], async () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await lock.run(['k'], async () => 'next'), 'next');
    assert.equal(lock.held('k'), false);
  });
});
