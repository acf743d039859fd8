import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertInside, removeTree } from './remove-tree.js';

describe('removeTree', () => {
  it('refuses paths outside, equal to, or relative to the owner', () => {
    assert.throws(() => assertInside('/etc', '/tmp/x'), /not inside/);
    assert.throws(() => assertInside('/tmp/x', '/tmp/x'), /not inside/);
    assert.throws(() => assertInside('/tmp/x/../y', '/tmp/x'), /not inside/);
    assert.throws(() => assertInside('/tmp/xy', '/tmp/x'), /not inside/);
    assert.throws(() => assertInside('x/y', '/tmp'), /absolute/);
    assert.throws(() => assertInside('/etc', '/'), /not a tree berth owns/);
    assert.doesNotThrow(() => assertInside('/tmp/x/y', '/tmp/x'));
  });

  it('removes a tree inside its owner', () => {
    const owner = mkdtempSync(join(tmpdir(), 'berth-test-'));
    const tree = join(owner, 'a');
    mkdirSync(join(tree, 'b'), { recursive: true });
    writeFileSync(join(tree, 'b', 'f'), 'x');
    removeTree(tree, owner);
    assert.equal(existsSync(tree), false);
    rmdirSync(owner);
  });
});
