import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kindOf } from '../core/errdefs/index.js';
import { IDLE_MS } from './apply-workers.js';
import { applyWorkerIdleMs } from './plugin.js';

describe('walking differ config', () => {
  it('keeps an idle apply worker IDLE_MS by default, or the seconds given', () => {
    assert.equal(applyWorkerIdleMs({}), IDLE_MS);
    assert.equal(applyWorkerIdleMs({ apply_worker_idle_seconds: 5 }), 5_000);
    assert.equal(applyWorkerIdleMs({ apply_worker_idle_seconds: 0.5 }), 500);
    assert.equal(applyWorkerIdleMs({ apply_worker_idle_seconds: 0 }), 0);
  });

  it('refuses a value that is not a number of seconds, naming the key', () => {
    for (const bad of ['60s', -1, Number.NaN, true]) {
      assert.throws(
        () => applyWorkerIdleMs({ apply_worker_idle_seconds: bad }),
        (err: unknown) =>
          kindOf(err) === 'invalid_argument' && /apply_worker_idle_seconds/.test(String(err)),
      );
    }
  });
});
