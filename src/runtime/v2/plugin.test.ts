import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configuredDefaultRuntime } from './plugin.js';

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
