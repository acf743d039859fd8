import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  containerStateDir,
  removeStateDir,
  SWEEP_MIN_AGE_MS,
  sweepStateDirs,
} from './state-dir.js';

const dataRoot = mkdtempSync(join(tmpdir(), 'berth-state-dir-'));
after(() => rmSync(dataRoot, { recursive: true, force: true }));

const id = (c: string) => c.repeat(64);

describe('container state dirs', () => {
  it('live under <dataRoot>/containers/<namespace>/<id>', () => {
    assert.equal(
      containerStateDir({ dataRoot, namespace: 'ns' }, id('a')),
      join(dataRoot, 'containers', 'ns', id('a')),
    );
  });

  it('are removed only below <dataRoot>/containers', () => {
    const outside = join(dataRoot, 'elsewhere');
    mkdirSync(outside);
    assert.throws(() => removeStateDir({ dataRoot }, outside), /not inside/);
    assert.throws(() => removeStateDir({ dataRoot }, join(dataRoot, 'containers')), /not inside/);
  });

  it("are swept when their container is gone and they are old, never a live or young one's", () => {
    const g = { dataRoot, namespace: 'sweep' };
    const now = Date.now();
    const old = (now - SWEEP_MIN_AGE_MS - 1000) / 1000;
    for (const c of ['a', 'b', 'c']) {
      const dir = containerStateDir(g, id(c));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'hosts'), '');
      if (c !== 'c') utimesSync(dir, old, old);
    }
    mkdirSync(join(dataRoot, 'containers', 'sweep', 'not-an-id'));
    // a: gone and old → swept; b: live; c: gone but young (being created?)
    assert.deepEqual(sweepStateDirs(g, new Set([id('b')]), now), [id('a')]);
    assert.deepEqual(readdirSync(join(dataRoot, 'containers', 'sweep')).sort(), [
      id('b'),
      id('c'),
      'not-an-id',
    ]);
    assert.deepEqual(sweepStateDirs({ dataRoot, namespace: 'none-yet' }, new Set()), []);
  });
});
