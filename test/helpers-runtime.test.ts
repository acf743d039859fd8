import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withRuntimeFlag } from './helpers/runtime.js';

const R = 'io.containerd.berth.v1';

describe('withRuntimeFlag (BERTH_E2E_RUNTIME in the ctr helpers)', () => {
  it('adds --runtime right after run and containers create', () => {
    assert.deepEqual(withRuntimeFlag(['run', '-d', 'img', 'id', 'sleep', '1'], R), [
      'run',
      '--runtime',
      R,
      '-d',
      'img',
      'id',
      'sleep',
      '1',
    ]);
    for (const c of ['containers', 'container', 'c']) {
      assert.deepEqual(withRuntimeFlag([c, 'create', 'img', 'id'], R), [
        c,
        'create',
        '--runtime',
        R,
        'img',
        'id',
      ]);
    }
  });

  it('leaves a command that names its runtime, other commands, and an unset runtime alone', () => {
    for (const args of [
      ['run', '--runtime', 'io.containerd.runtime.v1.linux', 'img', 'id'],
      ['run', '--runtime=io.containerd.runc.v2', 'img', 'id'],
      ['task', 'exec', '--exec-id', 'e', 'id', 'run'],
      ['containers', 'ls'],
      ['images', 'pull', 'run'],
    ]) {
      assert.deepEqual(withRuntimeFlag(args, R), args);
    }
    assert.deepEqual(withRuntimeFlag(['run', 'img', 'id'], undefined), ['run', 'img', 'id']);
  });
});
