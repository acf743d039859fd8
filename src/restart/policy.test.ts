import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RestartLabels } from '../core/containers/index.js';
import { decide, parsePolicy, restartCount } from './policy.js';

const P = RestartLabels.policy;
const C = RestartLabels.count;
const X = RestartLabels.explicitlyStopped;

describe('parsePolicy (containerd restart.NewPolicy)', () => {
  it('reads the four policies; empty is always', () => {
    assert.deepEqual(parsePolicy(''), { name: 'always', maximumRetryCount: 0 });
    assert.deepEqual(parsePolicy('no'), { name: 'no', maximumRetryCount: 0 });
    assert.deepEqual(parsePolicy('always'), { name: 'always', maximumRetryCount: 0 });
    assert.deepEqual(parsePolicy('unless-stopped'), {
      name: 'unless-stopped',
      maximumRetryCount: 0,
    });
    assert.deepEqual(parsePolicy('on-failure'), { name: 'on-failure', maximumRetryCount: 0 });
    assert.deepEqual(parsePolicy('on-failure:2'), { name: 'on-failure', maximumRetryCount: 2 });
  });

  it('rejects unknown policies, bad counts and counts on policies without one', () => {
    assert.throws(() => parsePolicy('sometimes'), /restart policy "sometimes" not supported/);
    assert.throws(() => parsePolicy('Always'), /not supported/);
    assert.throws(() => parsePolicy('on-failure:x'), /invalid max retry count "x"/);
    assert.throws(() => parsePolicy('on-failure:'), /invalid max retry count/);
    assert.throws(() => parsePolicy('always:3'), /does not take a retry count/);
    assert.throws(() => parsePolicy('no:1'), /does not take a retry count/);
  });
});

describe('restartCount', () => {
  it('is 0 when absent, the number otherwise, invalid_argument for garbage', () => {
    assert.equal(restartCount({}), 0);
    assert.equal(restartCount({ [C]: '7' }), 7);
    assert.throws(() => restartCount({ [C]: 'seven' }), /invalid restart count "seven"/);
  });
});

describe('decide (containerd restart.Reconcile)', () => {
  const yes = (labels: Record<string, string>, exit: number | undefined) =>
    decide(labels, exit).restart;

  it('always, and a missing policy, restart whatever the exit', () => {
    assert.equal(yes({ [P]: 'always' }, 0), true);
    assert.equal(yes({ [P]: 'always' }, 137), true);
    assert.equal(yes({ [P]: 'always', [X]: 'true' }, 0), true);
    assert.equal(yes({}, 0), true);
    assert.equal(yes({}, undefined), true);
  });

  it('no never restarts', () => {
    assert.equal(yes({ [P]: 'no' }, 1), false);
    assert.equal(decide({ [P]: 'no' }, 1).reason, 'policy no');
  });

  it('unless-stopped restarts unless explicitly stopped (Go ParseBool)', () => {
    assert.equal(yes({ [P]: 'unless-stopped' }, 0), true);
    assert.equal(yes({ [P]: 'unless-stopped', [X]: 'false' }, 0), true);
    assert.equal(yes({ [P]: 'unless-stopped', [X]: 'true' }, 0), false);
    assert.equal(yes({ [P]: 'unless-stopped', [X]: '1' }, 0), false);
    assert.equal(yes({ [P]: 'unless-stopped', [X]: 'True' }, 0), false);
  });

  it('on-failure restarts only non-zero exits', () => {
    assert.equal(yes({ [P]: 'on-failure' }, 0), false);
    assert.equal(yes({ [P]: 'on-failure' }, 3), true);
    assert.equal(yes({ [P]: 'on-failure', [C]: '100' }, 3), true);
    // No task to read a status from: like containerd, not a failure.
    assert.equal(yes({ [P]: 'on-failure' }, undefined), false);
  });

  it('on-failure:N gives up after N restarts', () => {
    assert.equal(yes({ [P]: 'on-failure:2' }, 3), true);
    assert.equal(yes({ [P]: 'on-failure:2', [C]: '1' }, 3), true);
    assert.equal(yes({ [P]: 'on-failure:2', [C]: '2' }, 3), false);
    assert.match(decide({ [P]: 'on-failure:2', [C]: '2' }, 3).reason, /gave up after 2 restarts/);
    assert.equal(yes({ [P]: 'on-failure:0', [C]: '50' }, 3), true);
  });

  it('never restarts on a policy or count that does not parse', () => {
    const d = decide({ [P]: 'bogus' }, 1);
    assert.equal(d.restart, false);
    assert.match(d.reason, /not supported/);
    assert.equal(yes({ [P]: 'on-failure:3', [C]: 'x' }, 1), false);
  });
});
