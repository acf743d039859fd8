import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
// A test may look across layers: the command line keeps its own copy of these strings.
import { Labels as CliLabels, RestartLabels as CliRestartLabels } from '../cli/labels.js';
import { AUTO_REMOVE_LABEL, RestartLabels } from './labels.js';

describe('restart labels', () => {
  it("are containerd's strings", () => {
    assert.equal(RestartLabels.status, 'containerd.io/restart.status');
    assert.equal(RestartLabels.policy, 'containerd.io/restart.policy');
    assert.equal(RestartLabels.explicitlyStopped, 'containerd.io/restart.explicitly-stopped');
    assert.equal(RestartLabels.count, 'containerd.io/restart.count');
    assert.equal(RestartLabels.logURI, 'containerd.io/restart.loguri');
    assert.equal(RestartLabels.logPath, 'containerd.io/restart.logpath');
  });

  it('are the strings the command line sets', () => {
    for (const [name, value] of Object.entries(CliRestartLabels)) {
      assert.equal(RestartLabels[name as keyof typeof RestartLabels], value, name);
    }
    assert.equal(AUTO_REMOVE_LABEL, CliLabels.autoRemove);
  });
});
