import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasKind, isNotFound } from '../core/errdefs/predicates.js';
import { killError, shouldKillAllOnExit } from './container.js';

describe('container rules', () => {
  it('kills the rest with the init unless the container has its own pid namespace', () => {
    assert.equal(shouldKillAllOnExit({ linux: { namespaces: [{ type: 'pid' }] } }), false);
    assert.equal(
      shouldKillAllOnExit({ linux: { namespaces: [{ type: 'pid', path: '/proc/1/ns/pid' }] } }),
      true,
    );
    assert.equal(shouldKillAllOnExit({ linux: { namespaces: [{ type: 'mount' }] } }), true);
    assert.equal(shouldKillAllOnExit({}), true);
  });

  it("classifies runc's kill errors as the Go shim's checkKillError", () => {
    assert.ok(isNotFound(killError(new Error('container not running'))));
    assert.ok(isNotFound(killError(Object.assign(new Error('kill ESRCH'), { code: 'ESRCH' }))));
    const gone = killError(new Error('container "x" does not exist'));
    assert.ok(isNotFound(gone));
    assert.match(gone.message, /no such container/);
    const other = killError(new Error('permission denied'));
    assert.ok(hasKind(other, 'unknown'));
    assert.match(other.message, /^unknown error after kill: permission denied/);
  });
});
