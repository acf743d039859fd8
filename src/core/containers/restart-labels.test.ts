import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AUTO_REMOVE_LABEL, RestartLabels } from './restart-labels.js';

describe('restart labels', () => {
  it("are containerd's strings", () => {
    assert.equal(RestartLabels.status, 'containerd.io/restart.status');
    assert.equal(RestartLabels.policy, 'containerd.io/restart.policy');
    assert.equal(RestartLabels.explicitlyStopped, 'containerd.io/restart.explicitly-stopped');
    assert.equal(RestartLabels.count, 'containerd.io/restart.count');
    assert.equal(RestartLabels.logURI, 'containerd.io/restart.loguri');
    assert.equal(RestartLabels.logPath, 'containerd.io/restart.logpath');
    assert.equal(AUTO_REMOVE_LABEL, 'berth/auto-remove');
  });
});
