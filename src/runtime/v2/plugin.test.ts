import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configuredDefaultRuntime, spareShim } from './plugin.js';

describe('[plugins."io.containerd.runtime.v2.task"] default_runtime', () => {
  it("is berth's grouped shim unless configured", () => {
    assert.equal(configuredDefaultRuntime({}), 'io.containerd.berth.v1');
    assert.equal(
      configuredDefaultRuntime({ default_runtime: 'io.containerd.runc.v2' }),
      'io.containerd.runc.v2',
    );
  });

  it('refuses an empty or non-string name', () => {
    assert.throws(() => configuredDefaultRuntime({ default_runtime: '' }), /default_runtime/);
    assert.throws(() => configuredDefaultRuntime({ default_runtime: 3 }), /default_runtime/);
  });
});

describe('[plugins."io.containerd.runtime.v2.task"] spare_shim', () => {
  it('is on unless configured off', () => {
    assert.equal(spareShim({}), true);
    assert.equal(spareShim({ spare_shim: false }), false);
    assert.equal(spareShim({ spare_shim: true }), true);
  });

  it('refuses what is not a boolean', () => {
    assert.throws(() => spareShim({ spare_shim: 'no' }), /spare_shim must be true or false/);
    assert.throws(() => spareShim({ spare_shim: 0 }), /spare_shim must be true or false/);
  });
});
