import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forgetUnder } from './paths.js';

describe('forgetUnder', () => {
  it('drops the path and what is below it, not its siblings with the same prefix', () => {
    const keys = new Set(['a', 'a/b', 'a/b/c', 'ab', 'ab/c', 'x/a']);
    forgetUnder(keys, 'a');
    assert.deepEqual([...keys].sort(), ['ab', 'ab/c', 'x/a']);
  });

  it('drops everything for the root, and works on maps', () => {
    const map = new Map([
      ['a', 1],
      ['b/c', 2],
    ]);
    forgetUnder(map, 'b');
    assert.deepEqual([...map.keys()], ['a']);
    forgetUnder(map, '');
    assert.equal(map.size, 0);
  });
});
