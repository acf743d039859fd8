import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RestartLabels } from '../labels.js';
import {
  hasRestartPolicy,
  parseRestartPolicy,
  policyLabel,
  restartLabels,
} from './restart-policy.js';

describe('--restart', () => {
  it("reads docker's policies", () => {
    assert.deepEqual(parseRestartPolicy('no'), { name: 'no', maximumRetryCount: 0 });
    assert.deepEqual(parseRestartPolicy(''), { name: 'no', maximumRetryCount: 0 });
    assert.deepEqual(parseRestartPolicy('always'), { name: 'always', maximumRetryCount: 0 });
    assert.deepEqual(parseRestartPolicy('unless-stopped'), {
      name: 'unless-stopped',
      maximumRetryCount: 0,
    });
    assert.deepEqual(parseRestartPolicy('on-failure'), {
      name: 'on-failure',
      maximumRetryCount: 0,
    });
    assert.deepEqual(parseRestartPolicy('on-failure:3'), {
      name: 'on-failure',
      maximumRetryCount: 3,
    });
  });

  it('refuses unknown policies, counts where none is taken, bad and negative counts', () => {
    assert.throws(() => parseRestartPolicy('sometimes'), /invalid restart policy 'sometimes'/);
    assert.throws(
      () => parseRestartPolicy('always:2'),
      /maximum retry count cannot be used with restart policy 'always'/,
    );
    assert.throws(() => parseRestartPolicy('on-failure:x'), /must be an integer/);
    assert.throws(() => parseRestartPolicy('on-failure:-1'), /cannot be negative/);
    assert.throws(() => parseRestartPolicy('on-failure:1:2'), /invalid restart policy format/);
  });

  it("labels a container for containerd's restart monitor, and `no` not at all", () => {
    assert.deepEqual(restartLabels(parseRestartPolicy('no')), {});
    assert.deepEqual(restartLabels(parseRestartPolicy('on-failure:2')), {
      [RestartLabels.status]: 'running',
      [RestartLabels.policy]: 'on-failure:2',
    });
    assert.equal(policyLabel(parseRestartPolicy('on-failure')), 'on-failure');
    assert.equal(policyLabel(parseRestartPolicy('unless-stopped')), 'unless-stopped');
  });

  it('tells containers with a policy from those without', () => {
    assert.equal(hasRestartPolicy({}), false);
    assert.equal(hasRestartPolicy({ [RestartLabels.policy]: 'no' }), false);
    assert.equal(hasRestartPolicy({ [RestartLabels.policy]: 'always' }), true);
  });
});
